// What time it is comes from the injected Clock (src/model/clock.ts) everywhere on the delivery path, so that a test
// decides the moment it runs at. Each case uses a clock years away from the machine's, where the machine's clock
// would give a different answer; waits (Retry-After, leases being waited for) still pass in real, monotonic time.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { ApiKeyVerifier, createApiKey } from '../../src/server/auth.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { GraphTokenProvider } from '../../src/targets/graph/auth.ts';
import { HttpClient, retryAfterMs } from '../../src/targets/http.ts';
import { TargetError } from '../../src/targets/target.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Far from any machine's clock: with Date.now() instead of the clock, every answer below would differ. */
const FUTURE = '2031-03-30T01:30:00Z';

describe('the scheduler', () => {
  it('decides what is urgent by its clock', async () => {
    const clock = fixedClock(FUTURE);
    const scheduler = new Scheduler({ clock, globalConcurrency: 1 });
    const order: string[] = [];
    let release!: () => void;
    const blocker = new Promise<void>((resolve) => (release = resolve));
    const jobs = [
      scheduler.submit(
        'a',
        async () => {
          order.push('a1');
          await blocker;
        },
        clock.now() + 90 * DAY,
      ),
      scheduler.submit('a', async () => void order.push('a2'), clock.now() + 90 * DAY),
      // Tomorrow by the clock: urgent, so it overtakes a's backlog (by the machine's clock it is years away).
      scheduler.submit('b', async () => void order.push('b-tomorrow'), clock.now() + DAY),
    ];
    release();
    await Promise.all(jobs);
    expect(order).toEqual(['a1', 'b-tomorrow', 'a2']);
  });

  it('waits out a Retry-After in elapsed time, whatever the clock says', async () => {
    const clock = fixedClock(FUTURE);
    const scheduler = new Scheduler({ clock });
    const times: number[] = [];
    await scheduler.submit('m', async () => {
      times.push(performance.now());
      if (times.length === 1) throw new TargetError('transient', 'TooManyRequests', 'slow down', { status: 429, retryAfterMs: 150 });
    });
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(140);
  });
});

describe('the SQLite store', () => {
  it('stamps rows and expires leases by its clock', async () => {
    const clock = fixedClock(FUTURE);
    const store = new SqliteStore(':memory:', { clock });
    expect(await store.claimMailbox('a@contoso.edu', 'host-1:1', 60_000)).not.toBeNull();
    expect(await store.claimMailbox('a@contoso.edu', 'host-2:1', 60_000)).toBeNull();
    clock.advance(60_001);
    expect(await store.claimMailbox('a@contoso.edu', 'host-2:1', 60_000)).not.toBeNull();
    await store.recordMailboxOk('a@contoso.edu', 0);
    expect((await store.mailbox('a@contoso.edu'))?.lastSyncAt).toBe(new Date(clock.now()).toISOString());
    await store.close();
  });
});

describe('Retry-After as an HTTP date', () => {
  it('is read against the clock', () => {
    const clock = fixedClock('2031-03-30T01:29:30Z');
    expect(retryAfterMs('Sun, 30 Mar 2031 01:30:00 GMT', clock)).toBe(30_000);
    expect(retryAfterMs('Sun, 30 Mar 2031 01:29:00 GMT', clock)).toBe(0);
    expect(retryAfterMs('120', clock)).toBe(120_000);
  });
});

describe('API keys', () => {
  it('are created, and their use recorded at most once a minute, by the clock', async () => {
    const clock = fixedClock(FUTURE);
    const store = new SqliteStore(':memory:', { clock });
    const { key, row } = await createApiKey(store, { scope: 'read', clock });
    expect(row.createdAt).toBe(FUTURE.replace('Z', '.000Z'));
    const touch = vi.spyOn(store, 'touchApiKey');
    const verifier = new ApiKeyVerifier(store, clock);
    await verifier.verify(`Bearer ${key}`);
    clock.advance(59_000);
    await verifier.verify(`Bearer ${key}`);
    expect(touch).toHaveBeenCalledTimes(1);
    clock.advance(2_000);
    await verifier.verify(`Bearer ${key}`);
    expect(touch).toHaveBeenCalledTimes(2);
    expect((await store.apiKey(row.id))?.lastUsedAt).toBe(new Date(clock.now()).toISOString());
    await store.close();
  });
});

describe('Graph tokens', () => {
  let sandbox: SandboxInternals;
  beforeAll(async () => {
    sandbox = await startSandbox();
  });
  afterAll(async () => {
    await sandbox?.close();
  });

  it('are kept until five minutes before they expire by the clock, then fetched again', async () => {
    const clock = fixedClock(FUTURE);
    const http = new HttpClient({ caPem: sandbox.caPem });
    const provider = new GraphTokenProvider(
      {
        tenantId: sandbox.tenantId,
        clientId: sandbox.demoCredentials.clientId,
        credential: { kind: 'secret', secret: sandbox.demoCredentials.clientSecret },
        authorityHost: sandbox.url,
        scope: 'https://graph.microsoft.com/.default',
        clock,
      },
      http,
    );
    const acquire = vi.spyOn(provider as unknown as { acquire(): Promise<string> }, 'acquire');
    const token = await provider.token();
    expect(await provider.token()).toBe(token);
    // The sandbox's tokens live 60–90 minutes (as Entra ID's do).
    clock.advance(54 * 60_000);
    await provider.token();
    expect(acquire).toHaveBeenCalledTimes(1);
    clock.advance(2 * HOUR);
    await provider.token();
    expect(acquire).toHaveBeenCalledTimes(2);
    http.close?.();
  });
});
