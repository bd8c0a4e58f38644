// What a delivery holds in memory (issue #14 item 6). Not a test: it measures.
//
//   node_modules/.bin/node bench/graph/memory.ts [--workload a|b] [--quick] [--snapshot-at 0.3] [--calpush DIR] [--node-arg=FLAG]
//
// Runs workload (a) (10 mailboxes × 5,000 events) or (b) (2,000 × 100) of bench/graph/run.ts once — the sandbox in
// this process with Outlook's limits and the latency model, calpush as a child process exactly as a user runs it
// (`bin/calpush.js sync … --json`) — and samples the child's resident set size every 100 ms (/proc/<pid>/status),
// printing it against the share of the events the sandbox has received. With --snapshot-at F (0 < F < 1) the child
// writes a V8 heap snapshot when the sandbox has received that share of the writes (node --heapsnapshot-signal),
// summarised by bench/graph/heap-summary.ts: what the heap holds, by constructor, at that moment. --calpush DIR runs
// the calpush of another checkout (its bin/calpush.js), for a before/after on the same machine.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { defaultTenantSeed, startSandbox } from '../../src/sandbox/index.ts';
import { createWorkspace, lecture, type Workspace } from '../../test/e2e/harness.ts';
import { summarizeHeapSnapshot } from './heap-summary.ts';

const argv = process.argv.slice(2);
const get = (name: string, fallback: string) => {
  const i = argv.indexOf(name);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
};
const workload = get('--workload', 'a');
if (workload !== 'a' && workload !== 'b') throw new Error('--workload: a or b');
const quick = argv.includes('--quick');
const snapshotAt = Number(get('--snapshot-at', '0'));
// --node-arg X (repeatable): a flag for calpush's node, e.g. --node-arg=--trace-gc.
const nodeArgs = argv.filter((a) => a.startsWith('--node-arg=')).map((a) => a.slice('--node-arg='.length));
const calpushDir = resolve(get('--calpush', resolve(import.meta.dirname, '../..')));
const size = { a: quick ? [10, 500] : [10, 5000], b: quick ? [200, 20] : [2000, 100] }[workload] as [number, number];
const [mailboxCount, perMailbox] = size;
const events = mailboxCount * perMailbox;

const sandbox = await startSandbox({
  tenant: defaultTenantSeed({ students: mailboxCount, staff: 0, rooms: 0 }),
  throttling: { enabled: true, mailboxConcurrency: 4, requestsPerWindow: 10_000, windowMs: 600_000 },
  latency: { roundTripMs: 40, perRequestMs: 25 },
});
const ws: Workspace = createWorkspace(sandbox, 'secret', {});
try {
  // The sandbox's students, as bench/graph/run.ts addresses them.
  const mailboxes = Array.from({ length: mailboxCount }, (_, i) => `s${String(i + 1).padStart(4, '0')}@contoso.edu`);
  const input = join(ws.dir, 'input.ndjson');
  const fd = openSync(input, 'w');
  for (const mailbox of mailboxes) writeSync(fd, `${Array.from({ length: perMailbox }, (_, n) => JSON.stringify(lecture(mailbox, n))).join('\n')}\n`);
  closeSync(fd);

  const started = performance.now();
  const child = spawn(process.execPath, [...nodeArgs, ...(snapshotAt > 0 ? ['--heapsnapshot-signal=SIGUSR2'] : []), join(calpushDir, 'bin/calpush.js'), 'sync', '-c', ws.configPath, '-i', input, '--json'], {
    cwd: ws.dir,
    env: { ...process.env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const out: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  const writes = () => sandbox.stats().writes;
  let peak = 0;
  let snapshotTaken = false;
  const timeline: Array<{ s: number; rssMB: number; share: number }> = [];
  const sampler = setInterval(() => {
    let rss = 0;
    try {
      const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
      rss = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
    } catch {
      return;
    }
    peak = Math.max(peak, rss);
    const share = writes() / events;
    timeline.push({ s: (performance.now() - started) / 1000, rssMB: rss / 2 ** 20, share });
    if (snapshotAt > 0 && !snapshotTaken && share >= snapshotAt) {
      snapshotTaken = true;
      child.kill('SIGUSR2');
    }
  }, 100);
  const code = await new Promise<number | null>((done) => child.on('close', done));
  clearInterval(sampler);
  const wallS = (performance.now() - started) / 1000;
  // V8's traces (--node-arg=--trace-gc) go to stdout too: they go to stderr here, the summary is the rest.
  const lines = Buffer.concat(out).toString('utf8').split('\n');
  const traced = (line: string) => /^\[\d+:0x[0-9a-f]+\]/.test(line);
  for (const line of lines.filter(traced)) process.stderr.write(`${line}\n`);
  const summary = JSON.parse(lines.filter((line) => !traced(line)).join('\n') || '{}') as { delivery?: { totals?: { created: number; failed: number } } };
  process.stdout.write(
    `workload (${workload}) ${mailboxCount} × ${perMailbox}, calpush ${calpushDir}: exit ${code}, ${wallS.toFixed(1)} s, ` +
      `created ${summary.delivery?.totals?.created ?? '?'}, failed ${summary.delivery?.totals?.failed ?? '?'}, peak RSS ${(peak / 2 ** 20).toFixed(0)} MB (sampled every 100 ms)\n`,
  );
  const firstWrite = timeline.find((t) => t.share > 0);
  if (firstWrite) process.stdout.write(`  first write at ${firstWrite.s.toFixed(1).padStart(6)} s: RSS ${firstWrite.rssMB.toFixed(0)} MB (input read, staged and planned before it)\n`);
  for (let decile = 0; decile <= 10; decile++) {
    const at = timeline.find((t) => t.share >= decile / 10);
    if (at) process.stdout.write(`  ${String(decile * 10).padStart(3)} % of the writes at ${at.s.toFixed(1).padStart(6)} s: RSS ${at.rssMB.toFixed(0)} MB\n`);
  }
  const snapshots = readdirSync(ws.dir).filter((f) => f.endsWith('.heapsnapshot'));
  for (const file of snapshots) {
    process.stdout.write(`\nheap snapshot at ${Math.round(snapshotAt * 100)} % of the writes (${file}):\n`);
    process.stdout.write(summarizeHeapSnapshot(join(ws.dir, file)));
  }
} finally {
  await sandbox.close();
  if (process.env.CALPUSH_BENCH_KEEP !== '1') rmSync(ws.dir, { recursive: true, force: true });
}
