// Dashboard sessions and the monitor behind the overview: expiry by the injected clock, the bound on sessions,
// revocation by key; rates over the scheduler's counters and the drain's progress and ETA.
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { DeliveryMonitor } from '../../src/server/dashboard/monitor.ts';
import { DashboardSessions, tokensMatch } from '../../src/server/dashboard/sessions.ts';

describe('dashboard sessions', () => {
  const limits = { idleMs: 30 * 60_000, maxAgeMs: 8 * 3_600_000, maxSessions: 3 };

  it('end after the idle time, after the maximum age however used, at sign-out and when their key is revoked', () => {
    const clock = fixedClock('2026-01-15T02:30:00Z');
    const sessions = new DashboardSessions(limits, clock);
    const a = sessions.open('key-a', 'admin');
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(a.csrfToken).not.toBe(a.id);
    for (let step = 0; step < 16; step++) {
      clock.advance(29 * 60_000);
      expect(sessions.use(a.id)).toBe(a); // used every 29 minutes: 7 h 44 min
    }
    clock.advance(20 * 60_000); // used 20 minutes ago, under the idle limit, but 8 h 4 min after sign-in
    expect(sessions.use(a.id)).toBeNull();

    const b = sessions.open('key-b', 'helpdesk');
    clock.advance(30 * 60_000);
    expect(sessions.isOpen(b)).toBe(false);
    expect(sessions.use(b.id)).toBeNull();

    const c = sessions.open('key-c', 'admin');
    const d = sessions.open('key-c', 'admin');
    const e = sessions.open('key-e', 'admin');
    sessions.end(e.id);
    expect(sessions.use(e.id)).toBeNull();
    expect(sessions.endForKey('key-c')).toBe(2);
    expect(sessions.use(c.id)).toBeNull();
    expect(sessions.use(d.id)).toBeNull();
    expect(sessions.use(undefined)).toBeNull();
    expect(sessions.use('not-a-session')).toBeNull();
  });

  it('keep at most maxSessions, ending the least recently used first', () => {
    const sessions = new DashboardSessions(limits, fixedClock('2026-07-15T13:00:00Z'));
    const [a, b, c] = [sessions.open('a', 'admin'), sessions.open('b', 'admin'), sessions.open('c', 'admin')];
    expect(sessions.use(a.id)).toBe(a); // a is now the most recent
    sessions.open('d', 'admin');
    expect(sessions.size).toBe(3);
    expect(sessions.use(b.id)).toBeNull();
    expect(sessions.use(a.id)).toBe(a);
    expect(sessions.use(c.id)).toBe(c);
  });

  it('compares tokens whole, whatever is sent', () => {
    expect(tokensMatch('abc', 'abc')).toBe(true);
    for (const given of ['abd', 'ab', 'abcd', '', undefined, null, 42, ['abc']]) expect(tokensMatch('abc', given)).toBe(false);
  });
});

describe('delivery monitor', () => {
  it('measures requests per second and the throttled share from the scheduler’s counters', async () => {
    const stats = { started: 0, throttled: 0, retried: 0, maxInFlight: 0, maxInFlightPerMailbox: 0 };
    const monitor = new DeliveryMonitor({ stats: () => stats, work: async () => [] });
    expect(monitor.rates()).toMatchObject({ requestsPerSecond: null, throttledShare: null });
    await monitor.sample();
    const t0 = performance.now();
    stats.started = 200;
    stats.throttled = 50;
    await new Promise((r) => setTimeout(r, 200));
    await monitor.sample();
    const seconds = (performance.now() - t0) / 1000;
    const rates = monitor.rates();
    expect(rates.requestsPerSecond!).toBeGreaterThan(200 / (seconds + 0.1));
    expect(rates.requestsPerSecond!).toBeLessThanOrEqual(200 / 0.19);
    expect(rates.throttledShare).toBe(0.25);
    expect(rates).toMatchObject({ requests: 200, throttled: 50 });
  });

  it('follows a drain: mailboxes with work since the backlog was last empty, done as they leave it, with an ETA', async () => {
    const clock = fixedClock('2026-03-29T00:59:00Z');
    let work = ['a', 'b', 'c', 'd'];
    const monitor = new DeliveryMonitor({ work: async () => work, clock });
    expect(monitor.progress()).toMatchObject({ total: 0, startedAt: null, last: null });
    await monitor.sample();
    expect(monitor.progress()).toMatchObject({ total: 4, done: 0, remaining: 4, startedAt: '2026-03-29T00:59:00.000Z', etaSeconds: null });
    await new Promise((r) => setTimeout(r, 100));
    work = ['c', 'd', 'e']; // a and b done, e came in
    await monitor.sample();
    const progress = monitor.progress();
    expect(progress).toMatchObject({ total: 5, done: 2, remaining: 3 });
    expect(progress.etaSeconds).toBeGreaterThanOrEqual(1); // 3 more at the rate of 2 in ~0.1 s: rounded up
    expect(progress.etaSeconds).toBeLessThan(5);
    work = [];
    clock.advance(60_000);
    await monitor.sample();
    expect(monitor.progress()).toMatchObject({ total: 0, remaining: 0, last: { mailboxes: 5, endedAt: '2026-03-29T01:00:00.000Z' } });
  });

  it('keeps its numbers when the store fails for a moment', async () => {
    let fail = false;
    const monitor = new DeliveryMonitor({ work: async () => (fail ? Promise.reject(new Error('locked')) : ['a']) });
    await monitor.sample();
    fail = true;
    await monitor.sample();
    expect(monitor.progress()).toMatchObject({ total: 1, remaining: 1 });
  });
});
