// Whether a failed request may have been carried out all the same (targets/http.ts mayHaveActed): the agent keeps an
// answer that failed so (agent/run.ts) and takes back only one the service refused.
import { describe, expect, it } from 'vitest';
import { mayHaveActed, NetworkError } from '../../src/targets/http.ts';
import { TargetError } from '../../src/targets/target.ts';

const network = (reason: ConstructorParameters<typeof NetworkError>[0]) => new NetworkError(reason, 'https://graph.example/v1.0/users/x/events/y/accept', 'transient', 'E', 'no answer', {});

describe('a failed request that may have acted', () => {
  it('a timeout, a reset, a 5xx or an answer that could not be read: it may have', () => {
    expect(mayHaveActed(network('timeout'))).toBe(true);
    expect(mayHaveActed(network('reset'))).toBe(true);
    expect(mayHaveActed(new TargetError('transient', 'ServiceUnavailable', 'HTTP 502', { status: 502 }))).toBe(true);
    expect(mayHaveActed(new TargetError('transient', 'AnswerTooSlow', 'cut off'))).toBe(true);
  });

  it('a refusal, throttling, a connection never made, a request never sent: it did not', () => {
    expect(mayHaveActed(new TargetError('item', 'ErrorItemNotFound', 'gone', { status: 404 }))).toBe(false);
    expect(mayHaveActed(new TargetError('item', 'ErrorItemNotFound', 'gone'))).toBe(false);
    expect(mayHaveActed(new TargetError('transient', 'ErrorServerBusy', 'busy', { status: 503, throttles: 'account', retryAfterMs: 1000 }))).toBe(false);
    expect(mayHaveActed(network('refused'))).toBe(false);
    expect(mayHaveActed(network('dns'))).toBe(false);
    const unsent = new TargetError('transient', 'TokenUnavailable', 'no token');
    unsent.unsent = true;
    expect(mayHaveActed(unsent)).toBe(false);
    expect(mayHaveActed(new Error('a bug'))).toBe(false);
  });
});
