// Before/after of two calpush checkouts on the workloads of bench/graph/run.ts, interleaved. Not a test: it measures.
//
//   node_modules/.bin/node bench/graph/compare.ts --before DIR --after DIR [--plan a:3,b:2,c:2q,d:1q] [--trials N] [--out FILE.json]
//
// For each workload of the plan (`w:N`, N repetitions; a trailing `q`: run.ts's --quick size), each repetition
// runs this checkout's run.ts once per calpush (`--workload w --repeat 1 --no-baseline --calpush DIR`), the order
// alternating between repetitions (before first, then after first), so both see the same machine over time.
// It prints every run (events/s, CPU, peak RSS of the calpush process, the 1-minute load average) and per workload
// the medians and the ratio after ÷ before. --trials N is passed on to run.ts for (d). The sandbox and the benchmark are this checkout's for both.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const argv = process.argv.slice(2);
const get = (name: string, fallback?: string) => {
  const i = argv.indexOf(name);
  const value = i >= 0 ? argv[i + 1] : fallback;
  if (value === undefined) throw new Error(`${name} is required`);
  return value;
};
const checkouts = { before: resolve(get('--before')), after: resolve(get('--after')) };
const plan = get('--plan', 'a:3,b:2,c:2q,d:1q').split(',').map((item) => {
  const m = /^([abcd]):(\d+)(q?)$/.exec(item);
  if (!m) throw new Error(`--plan: ${item} is not w:N or w:Nq`);
  return { workload: m[1] as 'a' | 'b' | 'c' | 'd', reps: Number(m[2]), quick: m[3] === 'q' };
});
const runTs = join(import.meta.dirname, 'run.ts');
const scratch = mkdtempSync(join(tmpdir(), 'calpush-compare-'));

interface Run {
  workload: string;
  quick: boolean;
  who: 'before' | 'after';
  rep: number;
  ok: boolean;
  /** (a), (b): events/s; (c): input events/s; (d): p50 latency of the trials while draining (ms) */
  speed: number | null;
  /** (d) only: p99 (the maximum with ≤ 100 trials) */
  p99Ms?: number | null;
  cpuS: number | null;
  peakRssMB: number | null;
  loadAvg1: number;
  at: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? null : s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
};

function measure(workload: string, quick: boolean, who: 'before' | 'after', rep: number): Run {
  const out = join(scratch, `${workload}-${who}-${rep}.json`);
  const at = new Date().toISOString();
  const args = [runTs, '--workload', workload, '--repeat', '1', '--no-baseline', '--calpush', checkouts[who], '--out', out, ...(quick ? ['--quick'] : []), ...(workload === 'd' && argv.includes('--trials') ? ['--trials', get('--trials')] : [])];
  process.stderr.write(`[${at}] (${workload}${quick ? ' quick' : ''}) ${who}, repetition ${rep}\n`);
  const child = spawnSync(process.execPath, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const base = { workload, quick, who, rep, at, loadAvg1: loadavg()[0]! };
  if (child.status !== 0) return { ...base, ok: false, speed: null, cpuS: null, peakRssMB: null };
  const results = JSON.parse(readFileSync(out, 'utf8')).results;
  if (workload === 'a' || workload === 'b') {
    const r = results[workload].calpush[0];
    return { ...base, ok: r.ok, speed: r.eventsPerS, cpuS: r.cpuS, peakRssMB: r.peakRssMB, loadAvg1: r.sandbox.loadAvg1 };
  }
  if (workload === 'c') {
    const r = results.c.runs[0];
    return { ...base, ok: r.ok, speed: r.eventsPerS, cpuS: r.cpuS, peakRssMB: r.peakRssMB, loadAvg1: r.sandbox.loadAvg1 };
  }
  const trials = (results.d.trials as Array<{ load: string; latencyMs: number | null; attempts: Array<{ cpuS: number | null }> }>).filter((t) => t.load === 'draining');
  const latencies = trials.map((t) => t.latencyMs).filter((x): x is number => x !== null);
  return { ...base, ok: latencies.length > 0, speed: quantile(latencies, 0.5), p99Ms: quantile(latencies, 0.99), cpuS: null, peakRssMB: null };
}

const runs: Run[] = [];
for (const { workload, reps, quick } of plan) {
  for (let rep = 1; rep <= reps; rep++) {
    const order: Array<'before' | 'after'> = rep % 2 === 1 ? ['before', 'after'] : ['after', 'before'];
    for (const who of order) runs.push(measure(workload, quick, who, rep));
  }
}

const fmt = (x: number | null | undefined, digits = 0) => (x === null || x === undefined || Number.isNaN(x) ? '–' : x.toFixed(digits));
const lines = ['| workload | calpush | rep | ok | speed | p99 ms | CPU s | peak RSS MB | load avg (1 min) | started |', '|---|---|---|---|---|---|---|---|---|---|'];
for (const r of runs) lines.push(`| ${r.workload}${r.quick ? ' quick' : ''} | ${r.who} | ${r.rep} | ${r.ok ? 'yes' : 'NO'} | ${fmt(r.speed)} | ${fmt(r.p99Ms)} | ${fmt(r.cpuS, 1)} | ${fmt(r.peakRssMB)} | ${fmt(r.loadAvg1, 2)} | ${r.at.slice(11, 19)} |`);
lines.push('', '| workload | speed before → after (median) | ratio | CPU s before → after | peak RSS MB before → after (max) |', '|---|---|---|---|---|');
for (const { workload, quick } of plan) {
  const of = (who: string) => runs.filter((r) => r.workload === workload && r.who === who && r.ok);
  const [b, a] = [of('before'), of('after')];
  const med = (rs: Run[], f: (r: Run) => number | null | undefined) => median(rs.map(f).filter((x): x is number => typeof x === 'number'));
  const max = (rs: Run[]) => (rs.some((r) => r.peakRssMB !== null) ? Math.max(...rs.map((r) => r.peakRssMB ?? 0)) : null);
  const speed = (rs: Run[]) => med(rs, (r) => r.speed);
  const unit = workload === 'd' ? 'p50 ms, lower is faster' : workload === 'c' ? 'input events/s' : 'events/s';
  lines.push(`| ${workload}${quick ? ' quick' : ''} (${unit}) | ${fmt(speed(b))} → ${fmt(speed(a))} | ${fmt(speed(a) / speed(b), 2)} | ${fmt(med(b, (r) => r.cpuS), 1)} → ${fmt(med(a, (r) => r.cpuS), 1)} | ${fmt(max(b))} → ${fmt(max(a))} |`);
}
const text = lines.join('\n');
process.stdout.write(`before: ${checkouts.before}\nafter:  ${checkouts.after}\n\n${text}\n`);
if (argv.includes('--out')) writeFileSync(get('--out'), JSON.stringify({ checkouts, plan, runs, report: text }, null, 2));
rmSync(scratch, { recursive: true, force: true });
