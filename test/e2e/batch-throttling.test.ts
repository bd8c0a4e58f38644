// Batches under Outlook's limits: items throttled inside a batch are sent again after their own Retry-After,
// a 5xx on one item does not fail the others, and calpush never holds more than 4 requests on a mailbox.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { runSync } from '../../src/app/sync.ts';
import { createWorkspace, lecture, tagged, usableStudents } from './harness.ts';

const seed = defaultTenantSeed();
const students = usableStudents(seed);
let sandbox: Sandbox;

beforeEach(async () => {
  sandbox = await startSandbox({ tenant: seed });
});
afterEach(async () => {
  await sandbox.close();
});

const ours = (mailbox: string, instance: string) => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;${instance};`));

describe.each(['chain', 'parallel', 'auto'] as const)('$batch (%s) under throttling', (batch) => {
  it('sends items throttled inside a batch again after their Retry-After, without duplicates', async () => {
    // A tiny rate window: 15 requests per 2 s per mailbox, so a batch of 20 gets 429s on its own items.
    sandbox.setThrottling({ requestsPerWindow: 15, windowMs: 2_000 });
    const ws = createWorkspace(sandbox, 'secret', { instance: `rate-${batch}`, batch });
    const mailbox = students[0]!;
    const started = Date.now();
    const result = await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('t.ndjson', Array.from({ length: 30 }, (_, n) => lecture(mailbox, n)))] });
    expect(result.delivery.totals).toMatchObject({ created: 30, failed: 0 });
    expect(sandbox.stats().throttled).toBeGreaterThan(0);
    // 31 requests (a listing and 30 creates) at 15 per 2 s need the window to roll at least twice.
    expect(Date.now() - started).toBeGreaterThanOrEqual(3_900);
    expect(ours(mailbox, `rate-${batch}`)).toHaveLength(30);
  });

  it('retries one item that got a 503 inside a batch while the others are recorded', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: `5xx-${batch}`, batch });
    const mailbox = students[1]!;
    // The listing is the first request; the next two operations (inside the batch) answer 503.
    await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('first.ndjson', [lecture(mailbox, 100)])] });
    sandbox.faults.failNext(2, 503, { mailbox, retryAfterSeconds: 1 });
    const result = await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('t.ndjson', Array.from({ length: 10 }, (_, n) => lecture(mailbox, 100 + n)))] });
    expect(result.delivery.totals).toMatchObject({ created: 9, unchanged: 1, failed: 0 });
    expect(ours(mailbox, `5xx-${batch}`)).toHaveLength(10);
  });

  it('never has more than 4 operations running on one mailbox', async () => {
    sandbox.setLatency({ perRequestMs: 5 });
    const ws = createWorkspace(sandbox, 'secret', { instance: `conc-${batch}`, batch });
    const mailboxes = students.slice(0, 3);
    sandbox.resetStats();
    const result = await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('t.ndjson', mailboxes.flatMap((m) => Array.from({ length: 120 }, (_, n) => lecture(m, 1000 + n))))] });
    expect(result.delivery.totals).toMatchObject({ created: 360, failed: 0 });
    const stats = sandbox.stats();
    for (const m of mailboxes) expect(stats.perMailbox[m]!.maxConcurrent).toBeLessThanOrEqual(4);
    expect(stats.throttled).toBe(0);
  });
});
