// What delivery does with each answer (src/engine/outcomes.ts).
import { describe, expect, it } from 'vitest';
import type { PendingOp } from '../../src/model/rows.ts';
import { outcomeAction } from '../../src/engine/outcomes.ts';
import { TargetError, type FailureScope } from '../../src/targets/target.ts';

const op = (kind: PendingOp['kind']): PendingOp => ({ calendar: 'a@contoso.edu', key: 'k', kind, itemId: kind === 'create' ? null : 'i', contentHash: 'h', transactionId: null, startsAtMs: 0, attempts: 0, lastError: null });
const failed = (scope: FailureScope) => ({ ok: false as const, error: new TargetError(scope, 'Code', 'message') });
const inBatch = { requestSize: 20, attempt: 1, maxAttempts: 8 };
const alone = { requestSize: 1, attempt: 1, maxAttempts: 8 };

describe('outcome of one operation', () => {
  it('records what was delivered', () => {
    expect(outcomeAction(op('create'), { ok: true, item: { itemId: 'x', changeKey: null } }, alone)).toEqual({ kind: 'answered', item: { itemId: 'x', changeKey: null } });
  });

  it('stops the mailbox on a mailbox failure, everything on a fatal one', () => {
    expect(outcomeAction(op('update'), failed('mailbox'), inBatch).kind).toBe('halt');
    expect(outcomeAction(op('update'), failed('fatal'), alone).kind).toBe('halt');
  });

  it('creates anew an updated event whose item is gone; a gone create or delete is a failure of that item', () => {
    expect(outcomeAction(op('update'), failed('gone'), alone).kind).toBe('recreate');
    expect(outcomeAction(op('create'), failed('gone'), alone).kind).toBe('fail');
  });

  it('sends a throttled batch item again while it has attempts left; a single request was retried by the scheduler already', () => {
    expect(outcomeAction(op('create'), failed('transient'), inBatch).kind).toBe('retry');
    expect(outcomeAction(op('create'), failed('transient'), { ...inBatch, attempt: 8 }).kind).toBe('fail');
    expect(outcomeAction(op('create'), failed('transient'), alone).kind).toBe('fail');
    expect(outcomeAction(op('create'), failed('item'), inBatch).kind).toBe('fail');
  });
});
