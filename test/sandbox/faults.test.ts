// Fault injection: lost create answers and injected 5xx/429 answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { GraphClient, lesson, users } from './helpers.ts';

let sandbox: SandboxInternals;
let graph: GraphClient;
beforeAll(async () => {
  sandbox = await startSandbox();
  graph = await GraphClient.demo(sandbox);
});
afterAll(async () => {
  await sandbox.close();
});

describe('dropResponseAfterCreate', () => {
  it('commits the create but destroys the connection before the answer; only for the named mailbox and N times', async () => {
    const mailbox = 's0011@contoso.edu';
    const other = 's0012@contoso.edu';
    sandbox.faults.dropResponseAfterCreate(1, mailbox);
    expect((await graph.post(`${users(other)}/events`, lesson(1))).status).toBe(201);
    await expect(graph.post(`${users(mailbox)}/events`, lesson(2, { transactionId: 'lost-1' }))).rejects.toThrow(/socket hang up|ECONNRESET/);
    const stored = sandbox.listEvents(mailbox);
    expect(stored.map((e) => e.subject)).toEqual(['Lesson 2']);
    // The retry with the same transactionId gets the committed event back, not a duplicate.
    const retry = await graph.post(`${users(mailbox)}/events`, lesson(2, { transactionId: 'lost-1' }));
    expect(retry.status).toBe(201);
    expect(retry.json.id).toBe(stored[0]!.id);
    expect(sandbox.listEvents(mailbox)).toHaveLength(1);
  });

  it('drops the whole $batch answer when a create inside it is dropped', async () => {
    const mailbox = 's0013@contoso.edu';
    sandbox.faults.dropResponseAfterCreate(1);
    await expect(
      graph.post('/$batch', { requests: [{ id: '1', method: 'POST', url: `${users(mailbox)}/events`, headers: { 'content-type': 'application/json' }, body: lesson(1) }] }),
    ).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(sandbox.listEvents(mailbox)).toHaveLength(1);
  });
});

describe('failNext', () => {
  it('answers the next N requests to the mailbox with the status and Retry-After, doing nothing', async () => {
    const mailbox = 's0014@contoso.edu';
    sandbox.faults.failNext(2, 503, { mailbox, retryAfterSeconds: 3 });
    expect((await graph.get(`${users('s0015@contoso.edu')}/events`)).status).toBe(200);
    for (let i = 0; i < 2; i++) {
      const r = await graph.post(`${users(mailbox)}/events`, lesson(i));
      expect(r.status).toBe(503);
      expect(r.headers['retry-after']).toBe('3');
      expect(r.json.error.code).toBe('ServiceUnavailable');
    }
    expect(sandbox.listEvents(mailbox)).toHaveLength(0);
    expect((await graph.post(`${users(mailbox)}/events`, lesson(9))).status).toBe(201);
  });

  it('supports 429, 500 and 504 for any mailbox, and clear() removes pending faults', async () => {
    sandbox.resetStats();
    sandbox.faults.failNext(1, 429);
    const t = await graph.get(`${users('s0016@contoso.edu')}/events`);
    expect(t.status).toBe(429);
    expect(t.json.error.code).toBe('TooManyRequests');
    expect(t.headers['retry-after']).toBeUndefined();
    expect(sandbox.stats().throttled).toBe(1);
    sandbox.faults.failNext(1, 500);
    expect((await graph.get(`${users('s0016@contoso.edu')}/events`)).status).toBe(500);
    sandbox.faults.failNext(1, 504);
    expect((await graph.get(`${users('s0016@contoso.edu')}/events`)).status).toBe(504);
    sandbox.faults.failNext(5, 503);
    sandbox.faults.dropResponseAfterCreate(5);
    sandbox.faults.clear();
    expect((await graph.post(`${users('s0016@contoso.edu')}/events`, lesson(1))).status).toBe(201);
  });
});
