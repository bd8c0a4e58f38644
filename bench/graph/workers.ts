// Several workers (issue #17): workload (b) — many mailboxes, a fresh delivery — delivered by `calpush serve`
// workers on one store: SQLite with one worker, PostgreSQL with one and with three. Outlook's limits are on in the
// sandbox (4 at once, 10,000 per 10 minutes per mailbox, 429 above them), so "0 % 429" says the limits held across
// the workers. A benchmark, not a test: it prints numbers.
//
//   node_modules/.bin/node bench/graph/workers.ts [--quick] [--mailboxes N --events N] [--runs sqlite:1,postgres:1,postgres:3]
//
// Each run: a fresh sandbox (the latency model of bench/graph/run.ts: 40 ms round trip, 25 ms per operation) and a
// fresh store; the input is recorded with `calpush import --no-deliver` (timed apart: "load"), then N workers are
// started at once (`calpush serve --worker-id wK`) and the clock runs until the sandbox holds every event and the
// store says every mailbox is delivered. events/s = events ÷ that time (worker start included). CPU per 1,000
// events = the workers' own CPU (probe.ts, each process measures itself) and, for PostgreSQL, the server's (its
// postmaster's CPU with that of the backends it reaped, from /proc/<pid>/stat), per 1,000 events. The PostgreSQL
// cluster is a throwaway one (test/support/postgres.ts), fsync off like the tests'.
import { spawn } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { defaultTenantSeed, startSandbox } from '../../src/sandbox/index.ts';
import { openStore } from '../../src/app/store.ts';
import { createWorkspace, lecture } from '../../test/e2e/harness.ts';
import { startPostgres, type PostgresCluster } from '../../test/support/postgres.ts';

const argv = process.argv.slice(2);
const get = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
const quick = argv.includes('--quick');
const mailboxes = Number(get('--mailboxes') ?? (quick ? 200 : 2000));
const perMailbox = Number(get('--events') ?? (quick ? 20 : 100));
const runs = (get('--runs') ?? 'sqlite:1,postgres:1,postgres:3').split(',').map((r) => {
  const [store, workers] = r.split(':');
  if ((store !== 'sqlite' && store !== 'postgres') || !Number(workers)) throw new Error(`--runs: "${r}" is not sqlite:N or postgres:N`);
  return { store, workers: Number(workers) } as { store: 'sqlite' | 'postgres'; workers: number };
});
const latency = { roundTripMs: Number(get('--rtt-ms') ?? 40), perRequestMs: Number(get('--server-ms') ?? 25) };
const repoRoot = resolve(import.meta.dirname, '../..');
const cliPath = join(repoRoot, 'bin/calpush.js');
const probeUrl = pathToFileURL(join(import.meta.dirname, 'probe.ts')).href;
const log = (line: string) => process.stderr.write(`${line}\n`);

interface Probe {
  cpuUserMs: number;
  cpuSystemMs: number;
  maxRssBytes: number;
}

function child(args: string[], env: Record<string, string>, probeFile: string) {
  const proc = spawn(process.execPath, ['--import', probeUrl, cliPath, ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: '1', CALPUSH_BENCH_PROBE: probeFile, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  proc.stdout.resume();
  proc.stderr.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  const done = new Promise<{ code: number | null; probe: Probe | null; stderr: string }>((resolveDone) =>
    proc.on('close', (code) => {
      let probe: Probe | null = null;
      try {
        probe = JSON.parse(readFileSync(probeFile, 'utf8')) as Probe;
        rmSync(probeFile, { force: true });
      } catch {
        // no probe: killed
      }
      resolveDone({ code, probe, stderr });
    }),
  );
  return { proc, done };
}

/** CPU seconds of a process and its reaped children (utime, stime, cutime, cstime of /proc/<pid>/stat). */
function processTreeCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  // After "pid (comm) ": state is field 3, so utime (14) … cstime (17) are at 11 … 14 here. Linux's USER_HZ is 100.
  return fields.slice(11, 15).reduce((sum, ticks) => sum + Number(ticks), 0) / 100;
}

async function oneRun(run: { store: 'sqlite' | 'postgres'; workers: number }, cluster: PostgresCluster | null) {
  const sandbox = await startSandbox({ tenant: defaultTenantSeed({ students: mailboxes, staff: 0, rooms: 0 }), throttling: { enabled: true }, latency });
  try {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'bench-workers' });
    const calendars = Array.from({ length: mailboxes }, (_, i) => `s${String(i + 1).padStart(4, '0')}@contoso.edu`);
    const store = run.store === 'sqlite' ? { sqlite: 'state/calpush.sqlite' } : { postgres: { env: 'CALPUSH_DATABASE_URL' }, schema: cluster!.schema('bench') };
    const config = join(ws.dir, 'workers.config.json');
    writeFileSync(config, JSON.stringify({ ...ws.rawConfig, store }));
    const env: Record<string, string> = cluster ? { CALPUSH_DATABASE_URL: cluster.url } : {};
    const input = ws.input('b.ndjson', calendars.flatMap((calendar) => Array.from({ length: perMailbox }, (_, n) => lecture(calendar, n))));
    const events = mailboxes * perMailbox;

    const loadStarted = performance.now();
    const load = await child(['import', input, '-c', config, '--no-deliver', '--json'], env, join(ws.dir, 'probe-load.json')).done;
    if (load.code !== 0) throw new Error(`import failed: ${load.stderr}`);
    const loadSeconds = (performance.now() - loadStarted) / 1000;

    const dbCpuBefore = cluster ? processTreeCpuSeconds(cluster.serverPid()) : 0;
    const started = performance.now();
    const workers = Array.from({ length: run.workers }, (_, k) =>
      child(['serve', '-c', config, '--port', '0', '--no-feeds', '--worker-id', `w${k + 1}`], env, join(ws.dir, `probe-w${k + 1}.json`)),
    );
    const reader = await openStore((JSON.parse(readFileSync(config, 'utf8')) as { store: never }).store, ws.dir);
    let deliveredSeconds = 0;
    try {
      for (;;) {
        if (sandbox.stats().writes >= events) {
          const totals = await reader.totals();
          if (totals.pending === 0 && totals.mailboxes.ok === mailboxes) {
            deliveredSeconds = (performance.now() - started) / 1000;
            break;
          }
        }
        if (performance.now() - started > 60 * 60_000) throw new Error('not delivered within an hour');
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await reader.close();
      for (const w of workers) w.proc.kill('SIGTERM');
    }
    const results = await Promise.all(workers.map((w) => w.done));
    // The server reaps the workers' backends once they disconnect.
    await new Promise((r) => setTimeout(r, 1_000));
    const dbCpu = cluster ? processTreeCpuSeconds(cluster.serverPid()) - dbCpuBefore : 0;
    const workerCpu = results.reduce((sum, r) => sum + (r.probe ? (r.probe.cpuUserMs + r.probe.cpuSystemMs) / 1000 : Number.NaN), 0);
    const stats = sandbox.stats();
    rmSync(ws.dir, { recursive: true, force: true });
    return {
      store: run.store,
      workers: run.workers,
      events,
      mailboxes,
      loadSeconds: round(loadSeconds),
      deliverySeconds: round(deliveredSeconds),
      eventsPerSecond: Math.round(events / deliveredSeconds),
      workerCpuSecondsPer1000: round((workerCpu / events) * 1000, 3),
      databaseCpuSecondsPer1000: cluster ? round((dbCpu / events) * 1000, 3) : null,
      requests: stats.requests,
      throttled: stats.throttled,
      throttledPercent: round((100 * stats.throttled) / Math.max(1, stats.requests), 3),
      maxConcurrencyPerMailbox: Math.max(...Object.values(stats.perMailbox).map((m) => m.maxConcurrent)),
      loadAverage: round(loadavg()[0]!, 2),
    };
  } finally {
    await sandbox.close();
  }
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

const cluster = runs.some((r) => r.store === 'postgres') ? await startPostgres() : null;
// The workers' config refers to the URL by this variable; the benchmark's own reader of the store uses it too.
if (cluster) process.env.CALPUSH_DATABASE_URL = cluster.url;
const results = [];
try {
  for (const run of runs) {
    log(`${run.store} × ${run.workers} worker(s): ${mailboxes} mailboxes × ${perMailbox} events …`);
    const result = await oneRun(run, cluster);
    log(`  ${JSON.stringify(result)}`);
    results.push(result);
  }
} finally {
  cluster?.stop();
}
const machine = `${availableParallelism()} cores (${cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`;
process.stdout.write(`\n${machine}; latency ${latency.roundTripMs} ms round trip, ${latency.perRequestMs} ms per operation\n\n`);
process.stdout.write('| store | workers | events | load (import) | delivery | events/s | worker CPU s / 1,000 events | PostgreSQL CPU s / 1,000 events | requests | 429 | max concurrency per mailbox | load avg |\n');
process.stdout.write('|---|---|---|---|---|---|---|---|---|---|---|---|\n');
for (const r of results) {
  process.stdout.write(
    `| ${r.store} | ${r.workers} | ${r.events.toLocaleString('en')} | ${r.loadSeconds} s | ${r.deliverySeconds} s | ${r.eventsPerSecond.toLocaleString('en')} | ${r.workerCpuSecondsPer1000} | ${r.databaseCpuSecondsPer1000 ?? '—'} | ${r.requests.toLocaleString('en')} | ${r.throttled} (${r.throttledPercent} %) | ${r.maxConcurrencyPerMailbox} | ${r.loadAverage} |\n`,
  );
}
process.stdout.write(`\n${JSON.stringify(results)}\n`);
