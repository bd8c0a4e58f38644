// JSON batching: limits, validation, dependsOn / 424, per-item throttling, 4-way parallelism, stats.
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

const create = (id: string, mailbox: string, n: number, extra: Record<string, unknown> = {}) => ({
  id,
  method: 'POST',
  url: `${users(mailbox)}/events`,
  headers: { 'Content-Type': 'application/json' },
  body: lesson(n),
  ...extra,
});

describe('$batch', () => {
  it('executes each request and answers 200 with responses correlated by id', async () => {
    sandbox.resetStats();
    const mailbox = 's0030@contoso.edu';
    const r = await graph.post('/$batch', {
      requests: [create('1', mailbox, 1), create('2', mailbox, 2), { id: '3', method: 'GET', url: `users/${encodeURIComponent(mailbox)}/events?$top=1&$select=subject` }, { id: '4', method: 'GET', url: '/users/nobody%40contoso.edu/events' }],
    });
    expect(r.status).toBe(200);
    const byId = Object.fromEntries(r.json.responses.map((x: { id: string }) => [x.id, x]));
    expect(byId['1']).toMatchObject({ status: 201, body: { subject: 'Lesson 1' } });
    expect(byId['2'].status).toBe(201);
    expect(byId['3'].status).toBe(200);
    expect(byId['4']).toMatchObject({ status: 404, body: { error: { code: 'ErrorInvalidUser' } } });
    expect(byId['1'].headers['content-type']).toContain('application/json');
    expect(sandbox.listEvents(mailbox)).toHaveLength(2);
    const stats = sandbox.stats();
    expect(stats).toMatchObject({ requests: 4, writes: 2, batches: 1 });
    expect(stats.byMethod).toEqual({ POST: 2, GET: 2 });
  });

  it('rejects more than 20 requests, duplicate ids, missing Content-Type, unknown dependsOn, absolute URLs', async () => {
    const mailbox = 's0031@contoso.edu';
    const many = await graph.post('/$batch', { requests: Array.from({ length: 21 }, (_, i) => ({ id: String(i), method: 'GET', url: `${users(mailbox)}/events` })) });
    expect(many.status).toBe(400);
    expect(many.json.error).toMatchObject({ code: 'BadRequest', message: 'Number of requests inside batch exceeds the limit.' });
    const twenty = await graph.post('/$batch', { requests: Array.from({ length: 20 }, (_, i) => ({ id: String(i), method: 'GET', url: `${users(mailbox)}/events` })) });
    expect(twenty.status).toBe(200);
    expect(twenty.json.responses).toHaveLength(20);
    expect((await graph.post('/$batch', { requests: [create('1', mailbox, 1), create('1', mailbox, 2)] })).status).toBe(400);
    const noType = await graph.post('/$batch', { requests: [{ id: 'a', method: 'POST', url: `${users(mailbox)}/events`, body: lesson(3) }] });
    expect(noType.status).toBe(400);
    expect(noType.json.error.message).toBe('Write request id : a does not contain Content-Type header or body.');
    expect((await graph.post('/$batch', { requests: [create('1', mailbox, 1, { dependsOn: ['9'] })] })).status).toBe(400);
    expect((await graph.post('/$batch', { requests: [{ id: '1', method: 'GET', url: `https://graph.microsoft.com/v1.0${users(mailbox)}/events` }] })).status).toBe(400);
    expect((await graph.post('/$batch', { nope: [] })).status).toBe(400);
    expect(sandbox.listEvents(mailbox)).toHaveLength(0);
  });

  it('dependsOn runs requests in order; dependents of a failed request fail with 424', async () => {
    const mailbox = 's0032@contoso.edu';
    const r = await graph.post('/$batch', {
      requests: [
        create('1', mailbox, 1),
        { id: '2', method: 'DELETE', url: `${users(mailbox)}/events/does-not-exist`, dependsOn: ['1'] },
        create('3', mailbox, 3, { dependsOn: ['2'] }),
        create('4', mailbox, 4, { dependsOn: ['3'] }),
        create('5', mailbox, 5, { dependsOn: ['1'] }),
      ],
    });
    const byId = Object.fromEntries(r.json.responses.map((x: { id: string }) => [x.id, x]));
    expect(byId['1'].status).toBe(201);
    expect(byId['2'].status).toBe(404);
    expect(byId['3'].status).toBe(424);
    expect(byId['4'].status).toBe(424);
    expect(byId['5'].status).toBe(201);
    expect(sandbox.listEvents(mailbox).map((e) => e.subject).sort()).toEqual(['Lesson 1', 'Lesson 5']);
  });

  it('runs at most 4 items in parallel: 20 creates to one mailbox in one batch are never throttled', async () => {
    const mailbox = 's0033@contoso.edu';
    sandbox.setLatency({ perRequestMs: 60 });
    try {
      sandbox.resetStats();
      const t0 = Date.now();
      const r = await graph.post('/$batch', { requests: Array.from({ length: 20 }, (_, i) => create(String(i + 1), mailbox, i)) });
      const elapsed = Date.now() - t0;
      expect(r.json.responses.every((x: { status: number }) => x.status === 201)).toBe(true);
      expect(sandbox.stats().perMailbox[mailbox]!.maxConcurrent).toBe(4);
      // 20 items, 4 at a time, 60 ms each: at least 5 rounds.
      expect(elapsed).toBeGreaterThanOrEqual(290);
    } finally {
      sandbox.setLatency({ perRequestMs: 0 });
    }
  });

  it('throttles items individually: a 429 inside the batch carries its own Retry-After', async () => {
    const mailbox = 's0034@contoso.edu';
    sandbox.setLatency({ perRequestMs: 400 });
    try {
      sandbox.resetStats();
      const batch = (prefix: string) => graph.post('/$batch', { requests: Array.from({ length: 4 }, (_, i) => create(`${prefix}${i}`, mailbox, i)) });
      const [a, b] = await Promise.all([batch('a'), batch('b')]);
      const all = [...a.json.responses, ...b.json.responses];
      const throttled = all.filter((x: { status: number }) => x.status === 429);
      expect(throttled.length).toBe(4);
      for (const item of throttled) {
        expect(item.headers['retry-after']).toBe('1');
        expect(item.body.error).toMatchObject({ code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' });
      }
      expect(a.status).toBe(200);
      expect(sandbox.listEvents(mailbox)).toHaveLength(4);
      expect(sandbox.stats()).toMatchObject({ throttled: 4, writes: 4, requests: 8 });
    } finally {
      sandbox.setLatency({ perRequestMs: 0 });
    }
  });

  it('applies Prefer per item and answers 204 items without a body', async () => {
    const mailbox = 's0035@contoso.edu';
    const created = await graph.post(`${users(mailbox)}/events`, lesson(9));
    const r = await graph.post('/$batch', {
      requests: [
        { id: 'get', method: 'GET', url: `${users(mailbox)}/events/${encodeURIComponent(created.json.id)}`, headers: { Prefer: 'outlook.timezone="Tokyo Standard Time"' } },
        { id: 'del', method: 'DELETE', url: `${users(mailbox)}/events/${encodeURIComponent(created.json.id)}`, dependsOn: ['get'] },
      ],
    });
    const byId = Object.fromEntries(r.json.responses.map((x: { id: string }) => [x.id, x]));
    expect(byId['get'].body.start.timeZone).toBe('Tokyo Standard Time');
    expect(byId['del']).toMatchObject({ status: 204 });
    expect(byId['del'].body).toBeUndefined();
  });
});
