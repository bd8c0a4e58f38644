// Chaos: three `calpush serve` workers on one PostgreSQL (a throwaway cluster) drain 20,000 events over 50 mailboxes
// of the sandbox, whose calendars also hold events people made themselves. Mid-drain one worker is SIGKILLed (no
// goodbye: its leases must expire and be taken over) and another is restarted (SIGTERM, then started again). At
// the end every mailbox holds exactly its desired events, each once, and every foreign event is as it was. The
// takeover time — from the SIGKILL until every mailbox the dead worker held was claimed by another — is reported
// and must stay under 30 s (a lease lasts 20 s without its heartbeat; a busy mailbox is tried again after 2 s).
//
// The workers are told apart by --worker-id (like processes on different machines): a lease of a dead process on
// this host would otherwise be taken over at once (engine/lease.ts), which is not what a second machine sees.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { createWorkspace, foreignSnapshot, lecture, runCli, startCli, tagged, type CliResult } from '../e2e/harness.ts';
import { startPostgres, type PostgresCluster } from '../support/postgres.ts';
import type { ChildProcess } from 'node:child_process';

const MAILBOXES = 50;
const PER_MAILBOX = 400;
const INSTANCE = 'chaos';

let sandbox: Sandbox;
let cluster: PostgresCluster;
let calendars: string[];

beforeAll(async () => {
  const seed = defaultTenantSeed({ students: MAILBOXES, staff: 0, rooms: 0 });
  calendars = seed.mailboxes.filter((m) => m.kind === 'user' && m.address.startsWith('s')).map((m) => m.address.toLowerCase()).slice(0, MAILBOXES);
  // Two appointments of its owner's in every calendar: calpush must not touch them.
  for (const [i, mailbox] of calendars.entries()) {
    for (const hour of [7, 19]) {
      seed.events!.push({
        mailbox,
        event: {
          subject: `Own appointment ${i}-${hour}`,
          start: { dateTime: `2026-12-0${1 + (i % 9)}T${String(hour).padStart(2, '0')}:00:00`, timeZone: 'W. Europe Standard Time' },
          end: { dateTime: `2026-12-0${1 + (i % 9)}T${String(hour).padStart(2, '0')}:30:00`, timeZone: 'W. Europe Standard Time' },
        },
      });
    }
  }
  // Outlook's limits on (4 at once, 10,000 per 10 minutes per mailbox), and Exchange's time per operation.
  [sandbox, cluster] = await Promise.all([startSandbox({ tenant: seed, latency: { roundTripMs: 5, perRequestMs: 20 } }), startPostgres()]);
}, 120_000);

afterAll(async () => {
  cluster?.stop();
  await sandbox?.close();
});

interface Worker {
  id: string;
  child: ChildProcess;
  done: Promise<CliResult>;
}

describe('three workers on one PostgreSQL, one killed and one restarted mid-drain', () => {
  it('delivers every event exactly once, touches no foreign event, and takes a dead worker’s mailboxes over within 30 s', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: INSTANCE });
    const schema = cluster.schema('chaos');
    const config = join(ws.dir, 'workers.config.json');
    // Each worker delivers at most 16 mailboxes at once (limits.parallelMailboxes): the 50 are shared among the three.
    writeFileSync(config, JSON.stringify({ ...ws.rawConfig, store: { postgres: { env: 'CALPUSH_DATABASE_URL' }, schema }, limits: { parallelMailboxes: 16 } }));
    const env = { CALPUSH_DATABASE_URL: cluster.url };
    const foreignBefore = new Map(calendars.map((c) => [c, foreignSnapshot(sandbox, c)]));
    expect([...foreignBefore.values()].every((snapshot) => JSON.parse(snapshot).length >= 2)).toBe(true);

    const input = ws.input(
      'all.ndjson',
      calendars.flatMap((calendar) => Array.from({ length: PER_MAILBOX }, (_, n) => lecture(calendar, n))),
    );
    const loadStarted = performance.now();
    const loaded = await runCli(['import', input, '-c', config, '--no-deliver', '--json'], { env });
    expect(loaded.code, loaded.stderr).toBe(0);
    const loadSeconds = (performance.now() - loadStarted) / 1000;

    const db = new pg.Client({ connectionString: cluster.url, options: `-c search_path=${schema}` });
    await db.connect();
    const query = async (sql: string, params: unknown[] = []) => (await db.query(sql, params)).rows as Array<Record<string, unknown>>;
    const delivered = async () => Number((await query('SELECT COUNT(*) AS n FROM delivered_item'))[0]!.n);
    const start = (id: string): Worker => {
      const { child, done } = startCli(['serve', '-c', config, '--port', '0', '--no-feeds', '--worker-id', id], { env });
      return { id, child, done };
    };
    const workers = [start('worker-a'), start('worker-b'), start('worker-c')];
    const total = MAILBOXES * PER_MAILBOX;
    const startedAt = performance.now();
    const until = async (what: string, ready: () => Promise<boolean>, timeoutMs: number) => {
      const deadline = performance.now() + timeoutMs;
      while (!(await ready())) {
        if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms (${await delivered()} of ${total} delivered)`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    try {
      // Mid-drain: the victim holds mailboxes and a part of the events is delivered.
      const victim = workers[0]!;
      await until('the drain under way, the victim holding mailboxes', async () => (await delivered()) >= total * 0.1 && (await query('SELECT 1 FROM mailbox_lease WHERE owner = $1', [victim.id])).length > 0, 90_000);
      const held = (await query('SELECT calendar FROM mailbox_lease WHERE owner = $1', [victim.id])).map((row) => String(row.calendar));
      victim.child.kill('SIGKILL');
      const killedAt = performance.now();
      const deliveredAtKill = await delivered();

      // Another worker restarted meanwhile: a graceful stop (it releases its leases) and a new start.
      const restarted = workers[1]!;
      restarted.child.kill('SIGTERM');
      expect((await restarted.done).code).toBe(0);
      workers[1] = start(restarted.id);

      // Takeover: every mailbox the victim held is claimed by a live worker (or found done by one).
      let takeoverMs = 0;
      await until(
        'the dead worker’s mailboxes taken over',
        async () => {
          const rows = await query('SELECT calendar, owner FROM mailbox_lease WHERE calendar = ANY($1::text[])', [held]);
          const stuck = rows.filter((row) => row.owner === victim.id || row.owner === null);
          const done = new Set((await query("SELECT calendar FROM mailbox WHERE calendar = ANY($1::text[]) AND delivered_version >= desired_version AND state = 'ok'", [held])).map((row) => String(row.calendar)));
          if (stuck.some((row) => !done.has(String(row.calendar)))) return false;
          takeoverMs = performance.now() - killedAt;
          return true;
        },
        60_000,
      );

      await until(
        'every mailbox delivered',
        async () => (await query("SELECT COUNT(*) AS n FROM mailbox WHERE state = 'ok' AND delivered_version >= desired_version AND NOT EXISTS (SELECT 1 FROM pending_op p WHERE p.calendar = mailbox.calendar)"))[0]!.n === String(MAILBOXES),
        240_000,
      );
      const drainSeconds = (performance.now() - startedAt) / 1000;

      let missing = 0;
      let duplicated = 0;
      let foreignTouched = 0;
      for (const calendar of calendars) {
        const ours = tagged(sandbox, calendar).filter((e) => JSON.stringify(e).includes(`;${INSTANCE};`));
        const subjects = ours.map((e) => String(e.subject));
        const unique = new Set(subjects);
        duplicated += subjects.length - unique.size;
        missing += Array.from({ length: PER_MAILBOX }, (_, n) => `Lecture ${n}`).filter((subject) => !unique.has(subject)).length;
        if (foreignSnapshot(sandbox, calendar) !== foreignBefore.get(calendar)) foreignTouched++;
      }
      const stats = sandbox.stats();
      const report = {
        events: total,
        loadSeconds: Math.round(loadSeconds * 10) / 10,
        mailboxes: MAILBOXES,
        killed: { worker: victim.id, heldMailboxes: held.length, deliveredAtKill },
        takeoverSeconds: Math.round(takeoverMs / 100) / 10,
        drainSeconds: Math.round(drainSeconds * 10) / 10,
        missing,
        duplicated,
        foreignTouched,
        throttled429: stats.throttled,
        maxConcurrencyPerMailbox: Math.max(...Object.values(stats.perMailbox).map((m) => m.maxConcurrent)),
      };
      process.stdout.write(`chaos: ${JSON.stringify(report)}\n`);
      expect(held.length).toBeGreaterThan(0);
      expect({ missing, duplicated, foreignTouched }).toEqual({ missing: 0, duplicated: 0, foreignTouched: 0 });
      expect(takeoverMs).toBeLessThan(30_000);
      expect(report.maxConcurrencyPerMailbox).toBeLessThanOrEqual(4);
      expect(await query('SELECT 1 FROM pending_op')).toEqual([]);
    } finally {
      for (const worker of workers) worker.child.kill('SIGTERM');
      await Promise.all(workers.map((w) => w.done));
      await db.end();
    }
  }, 400_000);
});
