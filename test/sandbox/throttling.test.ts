// Outlook throttling per (app, mailbox): MailboxConcurrency (4 in flight) and RequestRate (rolling window).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { GraphClient, lesson, tokenRequest, users } from './helpers.ts';

let sandbox: SandboxInternals;
let graph: GraphClient;
beforeAll(async () => {
  sandbox = await startSandbox({ latency: { perRequestMs: 400 } });
  graph = await GraphClient.demo(sandbox);
});
afterAll(async () => {
  await sandbox.close();
});

describe('MailboxConcurrency', () => {
  it('the 5th concurrent request to a mailbox gets 429 ApplicationThrottled with Retry-After: 1; another mailbox is unaffected', async () => {
    sandbox.resetStats();
    const busy = 's0001@contoso.edu';
    const calm = 's0002@contoso.edu';
    const [busyResults, calmResults] = await Promise.all([
      Promise.all(Array.from({ length: 8 }, () => graph.get(`${users(busy)}/events?$top=1`))),
      Promise.all(Array.from({ length: 4 }, () => graph.get(`${users(calm)}/events?$top=1`))),
    ]);
    const throttled = busyResults.filter((r) => r.status === 429);
    expect(busyResults.filter((r) => r.status === 200)).toHaveLength(4);
    expect(throttled).toHaveLength(4);
    for (const r of throttled) {
      expect(r.headers['retry-after']).toBe('1');
      expect(r.json.error).toMatchObject({ code: 'ApplicationThrottled', message: 'Application is over its MailboxConcurrency limit.' });
    }
    expect(calmResults.every((r) => r.status === 200)).toBe(true);
    const stats = sandbox.stats();
    expect(stats.perMailbox[busy]).toMatchObject({ requests: 8, throttled: 4, maxConcurrent: 4 });
    expect(stats.perMailbox[calm]).toMatchObject({ requests: 4, throttled: 0, maxConcurrent: 4 });
    expect(stats.throttled).toBe(4);
    expect(stats.requests).toBe(12);
    expect(stats.byMethod['GET']).toBe(12);
    // Once the in-flight requests finished, the mailbox accepts requests again.
    expect((await graph.get(`${users(busy)}/events?$top=1`)).status).toBe(200);
  });

  it('counts writes too, and is off when throttling is disabled', async () => {
    const mailbox = 's0003@contoso.edu';
    sandbox.setThrottling({ enabled: false });
    try {
      sandbox.resetStats();
      const results = await Promise.all(Array.from({ length: 8 }, (_, n) => graph.post(`${users(mailbox)}/events`, lesson(n))));
      expect(results.every((r) => r.status === 201)).toBe(true);
      expect(sandbox.stats().perMailbox[mailbox]).toMatchObject({ writes: 8, maxConcurrent: 8 });
      expect(sandbox.stats().writes).toBe(8);
    } finally {
      sandbox.setThrottling({ enabled: true });
    }
    const results = await Promise.all(Array.from({ length: 6 }, (_, n) => graph.post(`${users(mailbox)}/events`, lesson(100 + n))));
    expect(results.filter((r) => r.status === 429)).toHaveLength(2);
  });
});

describe('RequestRate', () => {
  it('a rolling window of requestsPerWindow per windowMs, with Retry-After until a slot frees', async () => {
    sandbox.setLatency({ perRequestMs: 0 });
    sandbox.setThrottling({ requestsPerWindow: 3, windowMs: 1500 });
    try {
      const mailbox = 's0004@contoso.edu';
      const t0 = Date.now();
      for (let i = 0; i < 3; i++) expect((await graph.get(`${users(mailbox)}/events?$top=1`)).status).toBe(200);
      const over = await graph.get(`${users(mailbox)}/events?$top=1`);
      expect(over.status).toBe(429);
      expect(over.json.error).toMatchObject({ code: 'ApplicationThrottled', message: 'Application is over its RequestRate limit.' });
      const retryAfter = Number(over.headers['retry-after']);
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(2);
      // Another mailbox has its own window.
      expect((await graph.get(`${users('s0005@contoso.edu')}/events?$top=1`)).status).toBe(200);
      // Throttled requests do not extend the window: after it passes, requests are admitted again.
      await new Promise((r) => setTimeout(r, Math.max(0, t0 + 1600 - Date.now())));
      expect((await graph.get(`${users(mailbox)}/events?$top=1`)).status).toBe(200);
      // The token endpoint is not throttled.
      for (let i = 0; i < 5; i++) {
        const t = await tokenRequest(sandbox, { grant_type: 'client_credentials', client_id: sandbox.demoCredentials.clientId, client_secret: sandbox.demoCredentials.clientSecret, scope: 'https://graph.microsoft.com/.default' });
        expect(t.status).toBe(200);
      }
    } finally {
      sandbox.setThrottling({ requestsPerWindow: 10000, windowMs: 600000 });
      sandbox.setLatency({ perRequestMs: 400 });
    }
  });
});

describe('latency', () => {
  it('roundTripMs delays every HTTP request', async () => {
    sandbox.setLatency({ roundTripMs: 300, perRequestMs: 0 });
    try {
      const t0 = Date.now();
      await graph.get(`${users('s0006@contoso.edu')}/events?$top=1`);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(290);
    } finally {
      sandbox.setLatency({ roundTripMs: 0, perRequestMs: 400 });
    }
  });
});
