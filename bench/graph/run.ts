// The Microsoft Graph delivery benchmark (issue #4). Not a test: it measures.
//
//   node_modules/.bin/node bench/graph/run.ts [--workload a|b|c|d|all] [--quick] [--rtt-ms 40] [--server-ms 25]
//        [--repeat N] [--baseline-seconds S] [--max-minutes M] [--profile] [--c-setup seed|sync] [--trials N]
//        [--no-baseline] [--d-method cli|serve|both] [--batch-mode auto|chain|parallel|off] [--out results.json]
//        [--calpush DIR]   (another checkout's bin/calpush.js, for a before/after: bench/graph/compare.ts)
//
// The sandbox (src/sandbox) runs in this process with Outlook's limits on and the latency model; calpush runs as
// `node src/cli/main.ts sync -c … -i … --json`, a child process per run, exactly as a user runs it; the SDK
// baseline (baseline.ts) runs as a child too. Each child measures its own CPU time and peak RSS (probe.ts), so the
// numbers are that process alone. This process's event-loop utilisation during a run says whether the sandbox was
// the bottleneck. See docs/benchmarks.md for the workloads, the latency model and the ceiling formulas.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { defaultTenantSeed, startSandbox, type SandboxInternals, type SandboxStats } from '../../src/sandbox/index.ts';
import { seededRandom as prng } from '../../src/sandbox/tenant.ts';
import { createWorkspace, lecture, type Workspace } from '../../test/e2e/harness.ts';
import { baselineCeiling, batchedCeiling, unbatchedCeiling, urgentLatencyFloorMs, type Ceiling, type CeilingInput } from './ceiling.ts';
import { summarizeProfile, type ProfileSummary } from './profile-summary.ts';

// ---------------------------------------------------------------------------------------------------------------
// Options
// ---------------------------------------------------------------------------------------------------------------

type WorkloadName = 'a' | 'b' | 'c' | 'd';

interface Options {
  workloads: WorkloadName[];
  quick: boolean;
  rttMs: number;
  serverMs: number;
  repeat: number | undefined;
  baselineSeconds: number;
  maxMinutes: number;
  profile: boolean;
  cSetup: 'seed' | 'sync';
  trials: number;
  out: string | undefined;
  baseline: boolean;
  dMethods: Array<'cli' | 'serve'>;
  /** calpush's target.batch setting for every workspace (default: calpush's own default) */
  batchMode: string | undefined;
  /** the checkout whose bin/calpush.js runs (default: this one) */
  calpushDir: string | undefined;
}

function parseOptions(argv: string[]): Options {
  const get = (name: string) => {
    const i = argv.indexOf(name);
    if (i === -1) return undefined;
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`${name} needs a value`);
    return value;
  };
  const num = (name: string, fallback: number) => {
    const raw = get(name);
    if (raw === undefined) return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number`);
    return n;
  };
  const known = new Set(['--workload', '--quick', '--rtt-ms', '--server-ms', '--repeat', '--baseline-seconds', '--max-minutes', '--profile', '--c-setup', '--trials', '--out', '--no-baseline', '--d-method', '--batch-mode', '--calpush', '--help']);
  for (const arg of argv) if (arg.startsWith('--') && !known.has(arg)) throw new Error(`unknown option ${arg}`);
  if (argv.includes('--help')) {
    const lines = readFileSync(import.meta.filename, 'utf8').split('\n');
    process.stdout.write(`${lines.slice(0, lines.findIndex((l) => l.startsWith('import '))).join('\n')}\n`);
    process.exit(0);
  }
  const quick = argv.includes('--quick');
  const w = get('--workload') ?? 'all';
  const workloads: WorkloadName[] = w === 'all' ? ['a', 'b', 'c', 'd'] : (w.split(',') as WorkloadName[]);
  for (const x of workloads) if (!['a', 'b', 'c', 'd'].includes(x)) throw new Error(`--workload: unknown workload ${x}`);
  const cSetup = get('--c-setup') ?? 'seed';
  if (cSetup !== 'seed' && cSetup !== 'sync') throw new Error('--c-setup must be seed or sync');
  const repeatRaw = get('--repeat');
  return {
    workloads,
    quick,
    rttMs: num('--rtt-ms', 40),
    serverMs: num('--server-ms', 25),
    repeat: repeatRaw === undefined ? undefined : Math.max(1, Math.floor(Number(repeatRaw))),
    baselineSeconds: num('--baseline-seconds', quick ? 20 : 75),
    maxMinutes: num('--max-minutes', quick ? 12 : 60),
    profile: argv.includes('--profile'),
    cSetup,
    trials: Math.max(1, Math.floor(num('--trials', quick ? 20 : 24))),
    out: get('--out'),
    baseline: !argv.includes('--no-baseline'),
    batchMode: get('--batch-mode'),
    calpushDir: get('--calpush'),
    dMethods: ((d) => (d === 'both' ? ['cli', 'serve'] : d === 'cli' || d === 'serve' ? [d] : (() => { throw new Error('--d-method must be cli, serve or both'); })()))(get('--d-method') ?? 'both') as Array<'cli' | 'serve'>,
  };
}

const options = parseOptions(process.argv.slice(2));
const repoRoot = resolve(import.meta.dirname, '../..');
const benchDir = import.meta.dirname;
// What a user runs (`npx calpush`): the built dist/ when it is fresh, else the sources (bin/entry.js).
const cliPath = join(options.calpushDir === undefined ? repoRoot : resolve(options.calpushDir), 'bin/calpush.js');
const probeUrl = pathToFileURL(join(benchDir, 'probe.ts')).href;
const runStamp = new Date().toISOString().replace(/[:.]/g, '-');
const profileRoot = join(benchDir, 'profiles', runStamp);

// Workload (c) keeps a million events in the sandbox's memory (this process): give it the heap for that.
const HEAP_MB = 16384;
if (options.workloads.includes('c') && !options.quick && !process.execArgv.some((a) => a.startsWith('--max-old-space-size'))) {
  const child = spawnSync(process.execPath, [`--max-old-space-size=${HEAP_MB}`, ...process.execArgv, import.meta.filename, ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(child.status ?? 1);
}

interface Sizes {
  a: { mailboxes: number; events: number };
  b: { mailboxes: number; events: number };
  c: { mailboxes: number; events: number };
  d: { mailboxes: number; events: number };
}
const sizes: Sizes = options.quick
  ? { a: { mailboxes: 10, events: 500 }, b: { mailboxes: 200, events: 20 }, c: { mailboxes: 1000, events: 100 }, d: { mailboxes: 400, events: 40 } }
  : { a: { mailboxes: 10, events: 5000 }, b: { mailboxes: 2000, events: 100 }, c: { mailboxes: 10000, events: 100 }, d: { mailboxes: 2000, events: 100 } };
const repeats: Record<WorkloadName, number> = options.quick ? { a: 3, b: 3, c: 3, d: 1 } : { a: 3, b: 1, c: 3, d: 1 };
if (options.repeat !== undefined) for (const k of ['a', 'b', 'c'] as const) repeats[k] = options.repeat;

// calpush's defaults (README, src/engine/limits.ts): the ceiling's global bound uses them.
const CALPUSH_LIMITS = { mailboxConcurrency: 4, globalConcurrency: 64, requestsPerTenMinutes: 10_000 };
const OUTLOOK = { mailboxConcurrency: 4, requestsPerWindow: 10_000, windowMs: 600_000 };

const benchStarted = performance.now();
const elapsedMinutes = () => (performance.now() - benchStarted) / 60_000;
const overBudget = () => elapsedMinutes() > options.maxMinutes;
const notes: string[] = [];
const note = (text: string) => {
  notes.push(text);
  log(`NOTE ${text}`);
};
function log(line: string): void {
  process.stderr.write(`[${elapsedMinutes().toFixed(1).padStart(5)} min] ${line}\n`);
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------------

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((x, y) => x - y);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Nearest-rank percentile. */
function percentile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!;
}

const studentAddress = (n: number) => `s${String(n).padStart(4, '0')}@contoso.edu`;
const mailboxList = (count: number) => Array.from({ length: count }, (_, i) => studentAddress(i + 1));

/** When the sandbox answered its first and last HTTP request (token requests included) since the last reset. */
interface Activity {
  first: number;
  last: number;
}
const activityOf = new WeakMap<SandboxInternals, Activity>();

async function newSandbox(mailboxes: number, latency: { roundTripMs: number; perRequestMs: number }): Promise<SandboxInternals> {
  const activity: Activity = { first: 0, last: 0 };
  const sandbox = await startSandbox({
    tenant: defaultTenantSeed({ students: mailboxes, staff: 0, rooms: 0 }),
    throttling: { enabled: true, ...OUTLOOK },
    latency,
    logger: () => {
      const now = performance.now();
      if (activity.first === 0) activity.first = now;
      activity.last = now;
    },
  });
  activityOf.set(sandbox, activity);
  return sandbox;
}

/** A workspace as test/e2e/harness.ts makes it, with calpush's batch mode when --batch-mode is given. */
function workspace(sandbox: SandboxInternals, extra: Record<string, unknown>): Workspace {
  const ws = createWorkspace(sandbox, 'secret', { ...extra, ...(options.batchMode ? { batch: options.batchMode } : {}) });
  workspaces.push(ws.dir);
  return ws;
}

/** Workspaces (config, store, inputs: up to ~1.5 GB for (c)) are removed after each workload unless CALPUSH_BENCH_KEEP=1. */
const workspaces: string[] = [];
function removeWorkspaces(): void {
  if (process.env.CALPUSH_BENCH_KEEP === '1') return;
  for (const dir of workspaces.splice(0)) rmSync(dir, { recursive: true, force: true });
}

const modelLatency = () => ({ roundTripMs: options.rttMs, perRequestMs: options.serverMs });

/** Writes NDJSON without building one giant string (workload c has a million lines). */
function writeInput(ws: Workspace, name: string, mailboxes: string[], perMailbox: (mailbox: string) => object[]): string {
  const path = join(ws.dir, name);
  const fd = openSync(path, 'w');
  try {
    for (const mailbox of mailboxes) {
      const lines = perMailbox(mailbox).map((e) => JSON.stringify(e));
      writeSync(fd, `${lines.join('\n')}\n`);
    }
  } finally {
    closeSync(fd);
  }
  return path;
}

const lectures = (mailbox: string, count: number) => Array.from({ length: count }, (_, n) => lecture(mailbox, n));

function ceilingInput(mailboxes: number, writes: number, listPages: number): CeilingInput {
  return {
    mailboxes,
    writesPerMailbox: writes,
    listPagesPerMailbox: listPages,
    rttMs: options.rttMs,
    serverMs: options.serverMs,
    mailboxConcurrency: OUTLOOK.mailboxConcurrency,
    windowRequests: OUTLOOK.requestsPerWindow,
    windowMs: OUTLOOK.windowMs,
    globalConcurrency: CALPUSH_LIMITS.globalConcurrency,
    batchSize: 20,
    batchParallelism: 4,
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Child processes
// ---------------------------------------------------------------------------------------------------------------

interface ProbeResult {
  exitCode: number;
  cpuUserMs: number;
  cpuSystemMs: number;
  maxRssBytes: number;
}

interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  wallMs: number;
  probe: ProbeResult | null;
}

let probeCounter = 0;
function runChild(args: string[], opts: { env?: Record<string, string>; nodeFlags?: string[]; timeoutMs?: number; probeDir: string }): { pid: number | undefined; done: Promise<ChildResult> } {
  const probeFile = join(opts.probeDir, `probe-${process.pid}-${probeCounter++}.json`);
  const started = performance.now();
  const child = spawn(process.execPath, [...(opts.nodeFlags ?? []), '--import', probeUrl, ...args], {
    cwd: repoRoot,
    env: { ...process.env, NO_COLOR: '1', CALPUSH_BENCH_PROBE: probeFile, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (d: Buffer) => out.push(d));
  child.stderr.on('data', (d: Buffer) => err.push(d));
  const timeoutMs = opts.timeoutMs ?? 45 * 60_000;
  const timer = setTimeout(() => {
    log(`child ${child.pid} exceeded ${Math.round(timeoutMs / 1000)} s: killing it`);
    child.kill('SIGKILL');
  }, timeoutMs);
  const done = new Promise<ChildResult>((resolveDone) => {
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const wallMs = performance.now() - started;
      let probe: ProbeResult | null = null;
      try {
        probe = JSON.parse(readFileSync(probeFile, 'utf8')) as ProbeResult;
        rmSync(probeFile, { force: true });
      } catch {
        // killed before exit handlers ran
      }
      resolveDone({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), wallMs, probe });
    });
  });
  return { pid: child.pid, done };
}

interface SyncSummary {
  input?: { records: number; accepted: number; rejected: number };
  delivery?: {
    mailboxes: Array<{ calendar: string; status: string; created: number; updated: number; unchanged: number; failed: number; requests: number; error?: { code: string; message: string } }>;
    totals: { created: number; updated: number; deleted: number; unchanged: number; failed: number; requests: number; failedMailboxes: number };
    fatal?: { code: string; message: string };
  };
  error?: { code: string; message: string };
}

function parseSummary(stdout: string): SyncSummary | null {
  try {
    return JSON.parse(stdout) as SyncSummary;
  } catch {
    return null;
  }
}

function calpushSync(ws: Workspace, inputs: string[], extra: string[] = [], nodeFlags: string[] = []) {
  return runChild([cliPath, 'sync', '-c', ws.configPath, '-i', ...inputs, ...extra, '--json'], { nodeFlags, probeDir: ws.dir });
}

// ---------------------------------------------------------------------------------------------------------------
// One measured run
// ---------------------------------------------------------------------------------------------------------------

interface RunMeasurement {
  who: 'calpush' | 'sdk-baseline';
  label: string;
  /** false: the run did not complete (no summary, fatal, wrong result); it is left out of the medians */
  ok: boolean;
  events: number;
  wallS: number;
  eventsPerS: number;
  cpuS: number | null;
  cpuSPer1000: number | null;
  peakRssMB: number | null;
  exitCode: number | null;
  sandbox: {
    operations: number;
    writes: number;
    throttled: number;
    batches: number;
    tokenRequests: number;
    byMethod: Record<string, number>;
    maxConcurrentPerMailbox: number;
    /** event-loop utilisation of the sandbox process during the run (1 = saturated) */
    elu: number;
    cpuS: number;
    /** the machine's 1-minute load average at the end of the run (2 cores: above 2 means others compete) */
    loadAvg1: number;
    /** event-loop delay of the sandbox process (ms): how late its timers (the latency model) fire */
    loopDelayMeanMs: number;
    loopDelayP99Ms: number;
  };
  throttledShare: number;
  /** first → last HTTP answer of the sandbox: the network-bound part of the run, without process start and input */
  deliveryS: number | null;
  deliveryEventsPerS: number | null;
  calpushTotals?: NonNullable<SyncSummary['delivery']>['totals'];
  busyMailboxes?: number;
  failedMailboxes?: number;
  verified: string;
  /** baseline: events delivered in the measured subset, and whether the figures are extrapolated */
  extrapolated?: { mailboxesRun: number; mailboxesTotal: number; setupS: number; perMailboxS: number };
  profile?: { calpush?: ProfileSummary; sandbox?: ProfileSummary; files: string[] };
}

const LOOP_RESOLUTION_MS = 10;

function sandboxDelta(stats: SandboxStats, elu: number, cpuS: number, delay: { mean: number; percentile(p: number): number }): RunMeasurement['sandbox'] {
  return {
    // the histogram holds whole sampling intervals: an idle loop reads ≈ the 10 ms resolution
    loopDelayMeanMs: Math.max(0, delay.mean / 1e6 - LOOP_RESOLUTION_MS),
    loopDelayP99Ms: Math.max(0, delay.percentile(99) / 1e6 - LOOP_RESOLUTION_MS),
    operations: stats.requests,
    writes: stats.writes,
    throttled: stats.throttled,
    batches: stats.batches,
    tokenRequests: stats.tokenRequests,
    byMethod: stats.byMethod,
    maxConcurrentPerMailbox: Math.max(0, ...Object.values(stats.perMailbox).map((m) => m.maxConcurrent)),
    elu,
    cpuS,
    loadAvg1: loadavg()[0]!,
  };
}

/** Sandbox-side meters around one child run: stats, event-loop utilisation and CPU of this process. */
function meter(sandbox: SandboxInternals) {
  sandbox.resetStats();
  const activity = activityOf.get(sandbox);
  if (activity) activity.first = activity.last = 0;
  const elu0 = performance.eventLoopUtilization();
  const cpu0 = process.cpuUsage();
  const delay = monitorEventLoopDelay({ resolution: LOOP_RESOLUTION_MS });
  delay.enable();
  return () => {
    delay.disable();
    const elu = performance.eventLoopUtilization(elu0).utilization;
    const cpu = process.cpuUsage(cpu0);
    return sandboxDelta(sandbox.stats(), elu, (cpu.user + cpu.system) / 1e6, delay);
  };
}

function deliveryWindow(sandbox: SandboxInternals): number | null {
  const a = activityOf.get(sandbox);
  return a && a.first > 0 && a.last > a.first ? (a.last - a.first) / 1000 : null;
}

function taggedCount(sandbox: SandboxInternals, mailbox: string, instance: string): number {
  let n = 0;
  for (const e of sandbox.listEvents(mailbox)) {
    if ((e.singleValueExtendedProperties ?? []).some((p) => p.value.startsWith(`v1;${instance};`))) n++;
  }
  return n;
}

let sandboxProfiler: { start(): Promise<void>; stop(path: string): Promise<void> } | null = null;
async function getSandboxProfiler() {
  if (sandboxProfiler) return sandboxProfiler;
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  sandboxProfiler = {
    async start() {
      await session.post('Profiler.start');
    },
    async stop(path: string) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(path, JSON.stringify(profile));
    },
  };
  return sandboxProfiler;
}

async function measureCalpush(label: string, sandbox: SandboxInternals, ws: Workspace, inputs: string[], events: number, expected: { mailboxes: string[]; perMailbox: number; writes?: number } | null, profileName?: string): Promise<RunMeasurement> {
  const profiling = profileName !== undefined;
  const profileDir = profiling ? join(profileRoot, profileName) : '';
  if (profiling) {
    mkdirSync(profileDir, { recursive: true });
    await (await getSandboxProfiler()).start();
  }
  const stop = meter(sandbox);
  const child = calpushSync(ws, inputs, [], profiling ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : []);
  const result = await child.done;
  const sb = stop();
  const window = deliveryWindow(sandbox);
  let profile: RunMeasurement['profile'];
  if (profiling) {
    const sandboxFile = join(profileDir, 'sandbox.cpuprofile');
    await (await getSandboxProfiler()).stop(sandboxFile);
    const { readdirSync } = await import('node:fs');
    const calpushFile = readdirSync(profileDir).find((f) => f.startsWith('CPU.') && f.endsWith('.cpuprofile'));
    profile = {
      files: [sandboxFile, ...(calpushFile ? [join(profileDir, calpushFile)] : [])],
      sandbox: summarizeProfile(sandboxFile, repoRoot),
      ...(calpushFile ? { calpush: summarizeProfile(join(profileDir, calpushFile), repoRoot) } : {}),
    };
  }
  const summary = parseSummary(result.stdout);
  if (!summary?.delivery) {
    note(`${label}: calpush gave no summary (exit ${result.code}${result.signal ? `, ${result.signal}` : ''}): ${(summary?.error?.message ?? result.stderr).slice(0, 600)}`);
  } else if (summary.delivery.fatal) note(`${label}: calpush stopped: ${summary.delivery.fatal.code} ${summary.delivery.fatal.message}`);
  let verified = 'not checked';
  if (expected) {
    const short = expected.mailboxes.filter((m) => taggedCount(sandbox, m, ws.config.instance) !== expected.perMailbox);
    verified = short.length === 0 ? 'ok' : `${short.length} mailbox(es) without exactly ${expected.perMailbox} events (e.g. ${short[0]}: ${taggedCount(sandbox, short[0]!, ws.config.instance)})`;
    if (expected.writes !== undefined && sb.writes !== expected.writes) verified += `; ${sb.writes} writes, expected ${expected.writes}`;
    if (verified !== 'ok') note(`${label}: ${verified}`);
  }
  const cpuS = result.probe ? (result.probe.cpuUserMs + result.probe.cpuSystemMs) / 1000 : null;
  const failedMailboxes = summary?.delivery?.mailboxes.filter((m) => m.status === 'failed') ?? [];
  if (failedMailboxes.length) note(`${label}: ${failedMailboxes.length} mailbox(es) failed, e.g. ${failedMailboxes[0]!.calendar}: ${failedMailboxes[0]!.error?.code} ${failedMailboxes[0]!.error?.message}`);
  const m: RunMeasurement = {
    who: 'calpush',
    label,
    ok: Boolean(summary?.delivery) && !summary?.delivery?.fatal && (verified === 'ok' || verified === 'not checked'),
    events,
    wallS: result.wallMs / 1000,
    eventsPerS: events / (result.wallMs / 1000),
    cpuS,
    cpuSPer1000: cpuS === null ? null : cpuS / (events / 1000),
    peakRssMB: result.probe ? result.probe.maxRssBytes / 2 ** 20 : null,
    exitCode: result.code,
    sandbox: sb,
    throttledShare: sb.operations ? sb.throttled / sb.operations : 0,
    deliveryS: window,
    deliveryEventsPerS: window ? events / window : null,
    ...(summary?.delivery ? { calpushTotals: summary.delivery.totals } : {}),
    busyMailboxes: summary?.delivery?.mailboxes.filter((x) => x.status === 'busy').length ?? 0,
    failedMailboxes: failedMailboxes.length,
    verified,
    ...(profile ? { profile } : {}),
  };
  log(`${label}: ${fmt(m.eventsPerS)} events/s, wall ${m.wallS.toFixed(1)} s (delivery ${m.deliveryS?.toFixed(1) ?? '–'} s), ${sb.operations} ops (${sb.batches} batches, ${sb.throttled} × 429), cpu ${cpuS?.toFixed(1)} s, rss ${m.peakRssMB?.toFixed(0)} MB, sandbox ELU ${(sb.elu * 100).toFixed(0)} % (loop delay p99 ${sb.loopDelayP99Ms.toFixed(0)} ms), load ${sb.loadAvg1.toFixed(1)}, ${verified}${m.ok ? '' : ' — FAILED, left out of the medians'}`);
  return m;
}

async function measureBaseline(label: string, sandbox: SandboxInternals, ws: Workspace, input: string, mailboxes: string[], perMailbox: number): Promise<RunMeasurement> {
  // Mailboxes run one after another: run as many as fit in the budget and extrapolate linearly.
  const estPerMailboxS = baselineCeiling(ceilingInput(1, perMailbox, 0)).seconds * 1.15 + 0.05;
  const run = Math.max(1, Math.min(mailboxes.length, Math.floor(options.baselineSeconds / estPerMailboxS)));
  const subset = mailboxes.slice(0, run);
  const stop = meter(sandbox);
  const child = runChild(
    [
      join(benchDir, 'baseline.ts'),
      JSON.stringify({ url: sandbox.url, authorityUrl: sandbox.authorityUrl, clientId: sandbox.demoCredentials.clientId, clientSecret: sandbox.demoCredentials.clientSecret, caFile: join(ws.dir, 'ca.pem'), input, mailboxes: subset, concurrency: 4 }),
    ],
    { env: { NODE_EXTRA_CA_CERTS: join(ws.dir, 'ca.pem') }, probeDir: ws.dir },
  );
  const result = await child.done;
  const sb = stop();
  const window = deliveryWindow(sandbox);
  let parsed: { setupMs: number; perMailbox: Array<{ mailbox: string; events: number; ms: number; errors: number }>; errorSamples: string[] } | null = null;
  try {
    parsed = JSON.parse(result.stdout.trim().split('\n').pop() ?? '');
  } catch {
    note(`${label}: baseline gave no result (exit ${result.code}): ${result.stderr.slice(0, 600)}`);
  }
  const errors = parsed?.perMailbox.reduce((s, x) => s + x.errors, 0) ?? 0;
  if (errors) note(`${label}: baseline had ${errors} failed POSTs, e.g. ${parsed?.errorSamples[0]}`);
  const setupS = (parsed?.setupMs ?? 0) / 1000;
  const perMailboxS = parsed && parsed.perMailbox.length ? parsed.perMailbox.reduce((s, x) => s + x.ms, 0) / parsed.perMailbox.length / 1000 : Number.NaN;
  const total = mailboxes.length * perMailbox;
  const wallS = run === mailboxes.length ? result.wallMs / 1000 : setupS + perMailboxS * mailboxes.length;
  const cpuS = result.probe ? (result.probe.cpuUserMs + result.probe.cpuSystemMs) / 1000 : null;
  const delivered = subset.reduce((s, m) => s + sandbox.listEvents(m).filter((e) => e.subject.startsWith('Lecture ')).length, 0);
  const verified = delivered === subset.length * perMailbox ? 'ok' : `${delivered} of ${subset.length * perMailbox} events in the sandbox`;
  const m: RunMeasurement = {
    who: 'sdk-baseline',
    label,
    ok: parsed !== null && errors === 0 && verified === 'ok',
    events: total,
    wallS,
    eventsPerS: total / wallS,
    cpuS,
    cpuSPer1000: cpuS === null ? null : cpuS / ((subset.length * perMailbox) / 1000),
    peakRssMB: result.probe ? result.probe.maxRssBytes / 2 ** 20 : null,
    exitCode: result.code,
    sandbox: sb,
    throttledShare: sb.operations ? sb.throttled / sb.operations : 0,
    deliveryS: window,
    deliveryEventsPerS: window ? (subset.length * perMailbox) / window : null,
    verified,
    ...(run < mailboxes.length ? { extrapolated: { mailboxesRun: run, mailboxesTotal: mailboxes.length, setupS, perMailboxS } } : {}),
  };
  log(`${label}: ${fmt(m.eventsPerS)} events/s${m.extrapolated ? ` (ran ${run} of ${mailboxes.length} mailboxes, ${perMailboxS.toFixed(2)} s each + ${setupS.toFixed(2)} s setup, extrapolated to ${wallS.toFixed(0)} s)` : `, wall ${wallS.toFixed(1)} s`}, ${sb.throttled} × 429, cpu ${cpuS?.toFixed(1)} s, rss ${m.peakRssMB?.toFixed(0)} MB, load ${sb.loadAvg1.toFixed(1)}, ${verified}`);
  return m;
}

// ---------------------------------------------------------------------------------------------------------------
// Workloads (a) and (b): fresh delivery of M mailboxes × N events, calpush vs the SDK baseline, side by side
// ---------------------------------------------------------------------------------------------------------------

interface DeliveryResult {
  workload: 'a' | 'b';
  mailboxes: number;
  eventsPerMailbox: number;
  ceiling: Ceiling;
  unbatched: Ceiling;
  baselineFloor: Ceiling;
  calpush: RunMeasurement[];
  baseline: RunMeasurement[];
  profiled?: RunMeasurement;
}

async function workloadDelivery(name: 'a' | 'b'): Promise<DeliveryResult> {
  const { mailboxes: M, events: N } = sizes[name];
  log(`workload (${name}): ${M} mailboxes × ${N} events, ${repeats[name]} repetition(s), calpush and the SDK baseline alternating`);
  const mailboxes = mailboxList(M);
  const listPages = 1; // a fresh mailbox: one listing GET finds nothing of ours
  const result: DeliveryResult = {
    workload: name,
    mailboxes: M,
    eventsPerMailbox: N,
    ceiling: batchedCeiling(ceilingInput(M, N, listPages)),
    unbatched: unbatchedCeiling(ceilingInput(M, N, listPages)),
    baselineFloor: baselineCeiling(ceilingInput(M, N, 0)),
    calpush: [],
    baseline: [],
  };
  const oneCalpush = async (rep: number, profileName?: string) => {
    const sandbox = await newSandbox(M, modelLatency());
    try {
      const ws = workspace(sandbox, { instance: 'bench' });
      const input = writeInput(ws, 'input.ndjson', mailboxes, (m) => lectures(m, N));
      return await measureCalpush(`(${name}) calpush #${rep}${profileName ? ' [profiled]' : ''}`, sandbox, ws, [input], M * N, { mailboxes, perMailbox: N, writes: M * N }, profileName);
    } finally {
      await sandbox.close();
    }
  };
  const oneBaseline = async (rep: number) => {
    const sandbox = await newSandbox(M, modelLatency());
    try {
      const ws = workspace(sandbox, { instance: 'bench' });
      const input = writeInput(ws, 'input.ndjson', mailboxes, (m) => lectures(m, N));
      return await measureBaseline(`(${name}) SDK baseline #${rep}`, sandbox, ws, input, mailboxes, N);
    } finally {
      await sandbox.close();
    }
  };
  for (let rep = 1; rep <= repeats[name]; rep++) {
    if (rep > 1 && overBudget()) {
      note(`(${name}): stopped after ${rep - 1} repetition(s): over the --max-minutes budget`);
      break;
    }
    // Alternate the order so drift on a noisy machine hits both alike.
    if (rep % 2 === 1) {
      result.calpush.push(await oneCalpush(rep));
      if (options.baseline) result.baseline.push(await oneBaseline(rep));
    } else {
      if (options.baseline) result.baseline.push(await oneBaseline(rep));
      result.calpush.push(await oneCalpush(rep));
    }
  }
  if (options.profile) result.profiled = await oneCalpush(0, `workload-${name}`);
  return result;
}

// ---------------------------------------------------------------------------------------------------------------
// Workload (c): a no-op resync of M × N desired events (the same input a second time)
// ---------------------------------------------------------------------------------------------------------------

interface NoopResult {
  workload: 'c';
  mailboxes: number;
  eventsPerMailbox: number;
  setup: { method: string; seconds: number; seedSeconds?: number; firstRun?: RunMeasurement; inputBytes: number };
  runs: RunMeasurement[];
  profiled?: RunMeasurement;
}

async function workloadNoop(): Promise<NoopResult> {
  const { mailboxes: M, events: N } = sizes.c;
  const mailboxes = mailboxList(M);
  log(`workload (c): no-op resync of ${M} × ${N} = ${M * N} events; setup: ${options.cSetup}`);
  const setupStarted = performance.now();
  // Setup runs without latency: it is not what is measured.
  const sandbox = await newSandbox(M, { roundTripMs: 0, perRequestMs: 0 });
  try {
    const ws = workspace(sandbox, { instance: 'bench' });
    const input = writeInput(ws, 'input.ndjson', mailboxes, (m) => lectures(m, N));
    const inputBytes = readFileSync(input).length;
    let method: string = options.cSetup;
    let seedSeconds: number | undefined;
    if (method === 'seed') {
      // Put exactly what calpush would have created into the sandbox (calpush's own mapping and tag), so the first
      // run only lists and adopts (one GET per mailbox, no write) instead of a million POSTs.
      try {
        const seedStarted = performance.now();
        const { validateEvent } = await import('../../src/model/event.ts');
        const { graphEventBody } = await import('../../src/targets/graph/mapping.ts');
        // calpush's validation gives each event its key and content hash; the Graph body is built by calpush's
        // mapping once per content hash and re-used with the key swapped (mapping every event costs ~90 µs each).
        const bodies = new Map<string, { key: string; json: string }>();
        for (const mailbox of mailboxes) {
          for (const raw of lectures(mailbox, N)) {
            const v = validateEvent(raw);
            if (!v.ok) throw new Error(`lecture() made an invalid event: ${JSON.stringify(v.problems)}`);
            let template = bodies.get(v.desired.contentHash);
            if (!template) {
              template = { key: v.desired.key, json: JSON.stringify(graphEventBody(v.desired, { instance: ws.config.instance, allDayTimeZone: ws.config.timeZone })) };
              bodies.set(v.desired.contentHash, template);
            }
            sandbox.addEvent(mailbox, JSON.parse(template.json.replace(template.key, v.desired.key)) as Record<string, unknown>);
          }
        }
        seedSeconds = (performance.now() - seedStarted) / 1000;
        log(`(c) seeded ${M * N} events into the sandbox in ${seedSeconds.toFixed(1)} s`);
      } catch (error) {
        note(`(c) seeding through calpush's mapping failed (${(error as Error).message}); falling back to a real first sync`);
        // Whatever was seeded before the failure carries calpush's tag: the first sync adopts it.
        method = 'sync';
      }
    }
    const firstRun = await measureCalpush(`(c) setup: first sync (${method === 'seed' ? 'adopts the seeded events' : 'creates every event'}, no latency)`, sandbox, ws, [input], M * N, null);
    if (method === 'seed' && firstRun.sandbox.writes > 0) note(`(c) the adopting first run wrote ${firstRun.sandbox.writes} times: the seeded tags did not match calpush's (mapping changed?)`);
    const setup = { method, seconds: (performance.now() - setupStarted) / 1000, ...(seedSeconds !== undefined ? { seedSeconds } : {}), firstRun, inputBytes };
    sandbox.setLatency(modelLatency());
    const runs: RunMeasurement[] = [];
    for (let rep = 1; rep <= repeats.c; rep++) {
      if (rep > 1 && overBudget()) {
        note(`(c): stopped after ${rep - 1} repetition(s): over the --max-minutes budget`);
        break;
      }
      runs.push(await measureCalpush(`(c) no-op resync #${rep}`, sandbox, ws, [input], M * N, null));
    }
    let profiled: RunMeasurement | undefined;
    if (options.profile) profiled = await measureCalpush('(c) no-op resync [profiled]', sandbox, ws, [input], M * N, null, 'workload-c');
    return { workload: 'c', mailboxes: M, eventsPerMailbox: N, setup, runs, ...(profiled ? { profiled } : {}) };
  } finally {
    await sandbox.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Workload (d): one urgent change submitted while (b) is draining
// ---------------------------------------------------------------------------------------------------------------

interface UrgentTrial {
  method: 'cli' | 'serve';
  drain: number;
  mailbox: string;
  load: 'draining' | 'idle';
  /** how far the drain had got with this mailbox when the change was submitted */
  mailboxStateAtSubmit: 'not started' | 'in progress' | 'done';
  latencyMs: number | null;
  loadAvg1: number;
  attempts: Array<{ status: string; exitCode: number | null; wallMs: number; cpuS: number | null; error?: string }>;
}

interface UrgentResult {
  workload: 'd';
  mailboxes: number;
  eventsPerMailbox: number;
  methods: Partial<Record<'cli' | 'serve', string>>;
  floorMs: number;
  trials: UrgentTrial[];
  drains: Array<{
    method: 'cli' | 'serve'; wallS: number; busyMailboxes: number; failedMailboxes: number; exitCode: number | null; totals?: unknown; trialsDuring: number }>;
}

function tomorrow(): string {
  return new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
}

/** The mailbox's events as the source declares them: N − 1 lectures and one event tomorrow (UTC, so the check is exact). */
function drainEvents(mailbox: string, n: number, moved: boolean): object[] {
  const day = tomorrow();
  return [
    ...lectures(mailbox, n - 1),
    { calendar: mailbox, id: 'urgent', subject: 'Urgent change', start: `${day}T${moved ? '11' : '10'}:00`, end: `${day}T${moved ? '12' : '11'}:00`, timeZone: 'UTC', location: 'Room 1', categories: ['Timetable'] },
  ];
}

function hasMovedEvent(sandbox: SandboxInternals, mailbox: string): boolean {
  const prefix = `${tomorrow()}T11:00`;
  return sandbox.listEvents(mailbox).some((e) => e.subject === 'Urgent change' && e.start.dateTime.startsWith(prefix));
}

async function urgentTrial(sandbox: SandboxInternals, ws: Workspace, drain: number, mailbox: string, n: number, load: UrgentTrial['load'], drainDone: () => boolean): Promise<UrgentTrial> {
  const present = taggedCount(sandbox, mailbox, ws.config.instance);
  const mailboxStateAtSubmit: UrgentTrial['mailboxStateAtSubmit'] = present === 0 ? 'not started' : present >= n ? 'done' : 'in progress';
  // The source's new truth for this one calendar: the same events, the urgent one an hour later.
  const input = writeInput(ws, `urgent-${mailbox}.ndjson`, [mailbox], (m) => drainEvents(m, n, true));
  const attempts: UrgentTrial['attempts'] = [];
  const t0 = performance.now();
  let seenAt: number | null = null;
  const poll = setInterval(() => {
    if (seenAt === null && hasMovedEvent(sandbox, mailbox)) seenAt = performance.now();
  }, 10);
  try {
    // What a user (or the source system's hook) does: `calpush sync --calendar <mailbox>`; if calpush reports the
    // mailbox busy, wait a second and run it again.
    for (;;) {
      const child = calpushSync(ws, [input], ['--calendar', mailbox]);
      const r = await child.done;
      const summary = parseSummary(r.stdout);
      const status = summary?.delivery?.mailboxes.find((x) => x.calendar === mailbox)?.status ?? (summary?.error ? `error ${summary.error.code}` : `exit ${r.code}`);
      const error = summary?.error?.message ?? summary?.delivery?.mailboxes.find((x) => x.calendar === mailbox)?.error?.message ?? (summary ? undefined : r.stderr.slice(0, 300));
      attempts.push({ status, exitCode: r.code, wallMs: r.wallMs, cpuS: r.probe ? (r.probe.cpuUserMs + r.probe.cpuSystemMs) / 1000 : null, ...(error ? { error } : {}) });
      if (seenAt !== null || status === 'ok' || performance.now() - t0 > 180_000) break;
      if (status !== 'busy' && !status.startsWith('error') && !status.startsWith('exit')) break;
      if (status !== 'busy' && drainDone()) break;
      await sleep(1000);
    }
    const deadline = performance.now() + 10_000;
    while (seenAt === null && performance.now() < deadline) {
      if (hasMovedEvent(sandbox, mailbox)) seenAt = performance.now();
      else await sleep(10);
    }
  } finally {
    clearInterval(poll);
  }
  const trial: UrgentTrial = { method: 'cli', drain, mailbox, load, mailboxStateAtSubmit, latencyMs: seenAt === null ? null : seenAt - t0, loadAvg1: loadavg()[0]!, attempts };
  log(`(d) ${load} trial ${mailbox} (${mailboxStateAtSubmit}): ${trial.latencyMs === null ? 'NOT delivered' : `${trial.latencyMs.toFixed(0)} ms`}, attempts: ${attempts.map((a) => `${a.status} ${a.wallMs.toFixed(0)} ms`).join(', ')}`);
  return trial;
}

async function workloadUrgent(): Promise<UrgentResult> {
  const { mailboxes: M, events: N } = sizes.d;
  const mailboxes = mailboxList(M);
  log(`workload (d): urgent change while a drain of ${M} × ${N} runs; ${options.trials} trials`);
  const random = prng(4);
  const result: UrgentResult = {
    workload: 'd',
    mailboxes: M,
    eventsPerMailbox: N,
    methods: {},
    floorMs: urgentLatencyFloorMs(options.rttMs, options.serverMs),
    trials: [],
    drains: [],
  };
  if (options.dMethods.includes('cli')) await urgentViaCli(result, M, N, mailboxes, random);
  if (options.dMethods.includes('serve') && !overBudget()) await urgentViaServe(result, M, N, mailboxes, random);
  return result;
}

async function urgentViaCli(result: UrgentResult, M: number, N: number, mailboxes: string[], random: () => number): Promise<void> {
  const cliTrials = () => result.trials.filter((t) => t.method === 'cli' && t.load === 'draining').length;
  result.methods.cli =
      'drain = `calpush sync` of every mailbox (child process A); each trial writes the complete new event set of one random mailbox (the event tomorrow moved by +1 h) and runs `calpush sync -i <file> --calendar <mailbox>` (child process B, same config and store); whichever process delivers the change (B itself, or A if it picks up changes recorded meanwhile) counts; if B reports the mailbox busy and the change is not there yet, B is run again after 1 s, as a user would; latency = B spawned → the sandbox holds the moved event (polled every 10 ms).';
  for (let drain = 0; cliTrials() < options.trials; drain++) {
    if (drain > 0 && overBudget()) {
      note('(d): stopped early: over the --max-minutes budget');
      break;
    }
    if (drain >= 8) {
      note('(d): stopped after 8 drains');
      break;
    }
    const sandbox = await newSandbox(M, modelLatency());
    try {
      const ws = workspace(sandbox, { instance: `bench-d${drain}` });
      const input = writeInput(ws, 'drain.ndjson', mailboxes, (m) => drainEvents(m, N, false));
      sandbox.resetStats();
      const started = performance.now();
      const a = calpushSync(ws, [input]);
      let done = false;
      const drained = a.done.then((r) => {
        done = true;
        return r;
      });
      // Let A read its input and start delivering before the first urgent change arrives.
      while (!done && sandbox.stats().writes === 0) await sleep(20);
      const order = [...mailboxes].sort(() => random() - 0.5);
      let during = 0;
      while (!done && cliTrials() < options.trials) {
        const mailbox = order.pop()!;
        result.trials.push(await urgentTrial(sandbox, ws, drain, mailbox, N, 'draining', () => done));
        during++;
        await sleep(500);
      }
      const r = await drained;
      const summary = parseSummary(r.stdout);
      result.drains.push({
        method: 'cli',
        wallS: (performance.now() - started) / 1000,
        busyMailboxes: summary?.delivery?.mailboxes.filter((x) => x.status === 'busy').length ?? -1,
        failedMailboxes: summary?.delivery?.mailboxes.filter((x) => x.status === 'failed').length ?? -1,
        exitCode: r.code,
        totals: summary?.delivery?.totals,
        trialsDuring: during,
      });
      log(`(d) drain ${drain} finished in ${((performance.now() - started) / 1000).toFixed(1)} s, exit ${r.code}, ${result.drains.at(-1)!.busyMailboxes} mailbox(es) reported busy, ${during} trial(s) during it`);
      const finished = cliTrials() >= options.trials || overBudget() || drain >= 7;
      if (finished) {
        // Reference: the same change with nothing else running (process start + token + one PATCH).
        for (let i = 0; i < 5; i++) {
          const mailbox = order.pop()!;
          result.trials.push(await urgentTrial(sandbox, ws, drain, mailbox, N, 'idle', () => true));
        }
      }
    } finally {
      await sandbox.close();
    }
  }
}

async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolvePort(port));
    });
  });
}

/**
 * (d) through `calpush serve`: one long-running process takes the drain as batches on its push API and delivers it
 * continuously; each urgent change is one PUT of the moved event. No process start per change.
 */
async function urgentViaServe(result: UrgentResult, M: number, N: number, mailboxes: string[], random: () => number): Promise<void> {
  result.methods.serve =
    '`calpush serve` (one child process, same store and config plus a `server` section); the drain is POSTed to /v1/events/batch (≤ 5,000 items per request) and delivered by its continuous delivery; while it runs, one trial every 1.5 s PUTs the moved event of a random mailbox to /v1/calendars/{mailbox}/events/urgent (trials overlap); latency = PUT sent → the sandbox holds the moved event (checked every 10 ms once the mailbox saw a write).';
  const sandbox = await newSandbox(M, modelLatency());
  const port = await freePort();
  const ws = workspace(sandbox, { instance: 'bench-serve', server: { host: '127.0.0.1', port } });
  let serve: ReturnType<typeof runChild> | undefined;
  let watcher: NodeJS.Timeout | undefined;
  try {
    const keyRun = await runChild([cliPath, 'apikey', 'create', '-c', ws.configPath, '--scope', 'write', '--name', 'bench', '--json'], { probeDir: ws.dir }).done;
    const key = (JSON.parse(keyRun.stdout) as { key: string }).key;
    serve = runChild([cliPath, 'serve', '-c', ws.configPath, '--no-feeds'], { probeDir: ws.dir, timeoutMs: 30 * 60_000 });
    const base = `http://127.0.0.1:${port}`;
    const headers = { authorization: `Bearer ${key}` };
    for (let i = 0; ; i++) {
      try {
        if ((await fetch(`${base}/v1/health`, { headers })).ok) break;
      } catch {
        // not listening yet
      }
      if (i > 600) throw new Error(`calpush serve did not come up: ${(await Promise.race([serve.done, sleep(10).then(() => null)]))?.stderr ?? ''}`);
      await sleep(50);
    }
    sandbox.resetStats();
    let expectedWrites = 0;
    const drained = () => sandbox.stats().writes >= expectedWrites;
    /** Pushes one wave of events (wave 0: the drain itself; later waves: max(N − 1, 99) new lectures per mailbox). */
    const pushWave = async (wave: number) => {
      const t = performance.now();
      const events = mailboxes.flatMap((m) => (wave === 0 ? drainEvents(m, N, false) : lectures(m, Math.max(N - 1, 99)).map((e) => ({ ...e, id: `w${wave}-${e.id}` }))));
      for (let i = 0; i < events.length; i += 5000) {
        const response = await fetch(`${base}/v1/events/batch`, { method: 'POST', headers: { ...headers, 'content-type': 'application/x-ndjson' }, body: events.slice(i, i + 5000).map((e) => JSON.stringify(e)).join('\n') });
        if (response.status !== 202) throw new Error(`batch answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
      }
      expectedWrites += events.length;
      log(`(d/serve) wave ${wave}: ${events.length} events accepted by the API in ${((performance.now() - t) / 1000).toFixed(1)} s`);
      return (performance.now() - t) / 1000;
    };
    const started = performance.now();
    const loadedS = await pushWave(0);
    while (sandbox.stats().writes === 0) await sleep(20);
    const order = [...mailboxes].sort(() => random() - 0.5);
    // One shared watcher: a mailbox's events are only looked at when its write count moved (listing every
    // pending mailbox every 10 ms would load the sandbox the trials measure).
    const pending = new Map<string, { writes: number; seen: (at: number) => void }>();
    watcher = setInterval(() => {
      if (pending.size === 0) return;
      const perMailbox = sandbox.stats().perMailbox;
      for (const [mailbox, p] of pending) {
        const writes = perMailbox[mailbox]?.writes ?? 0;
        if (writes === p.writes) continue;
        p.writes = writes;
        if (hasMovedEvent(sandbox, mailbox)) {
          pending.delete(mailbox);
          p.seen(performance.now());
        }
      }
    }, 10);
    const put = async (mailbox: string, load: UrgentTrial['load']) => {
      const present = taggedCount(sandbox, mailbox, ws.config.instance);
      const state: UrgentTrial['mailboxStateAtSubmit'] = present === 0 ? 'not started' : present >= N ? 'done' : 'in progress';
      const moved = drainEvents(mailbox, N, true).at(-1) as Record<string, unknown>;
      const seen = new Promise<number | null>((resolveSeen) => {
        const timeout = setTimeout(() => {
          if (pending.delete(mailbox)) resolveSeen(null);
        }, 180_000);
        pending.set(mailbox, {
          writes: -1,
          seen: (at) => {
            clearTimeout(timeout);
            resolveSeen(at);
          },
        });
      });
      const t0 = performance.now();
      const response = await fetch(`${base}/v1/calendars/${encodeURIComponent(mailbox)}/events/urgent`, { method: 'PUT', headers: { ...headers, 'content-type': 'application/json' }, body: JSON.stringify(moved) });
      const answeredMs = performance.now() - t0;
      await response.text();
      const seenAt = await seen;
      const trial: UrgentTrial = { method: 'serve', drain: 0, mailbox, load, mailboxStateAtSubmit: state, latencyMs: seenAt === null ? null : seenAt - t0, loadAvg1: loadavg()[0]!, attempts: [{ status: `HTTP ${response.status}`, exitCode: null, wallMs: answeredMs, cpuS: null }] };
      log(`(d/serve) ${load} trial ${mailbox} (${state}): ${trial.latencyMs === null ? 'NOT delivered' : `${trial.latencyMs.toFixed(0)} ms`}, PUT answered ${response.status} in ${answeredMs.toFixed(0)} ms`);
      result.trials.push(trial);
    };
    // Changes arrive on their own clock, not when the previous one is delivered: one every 1.5 s.
    let during = 0;
    let wave = 0;
    let firstDrainS: number | null = null;
    const inFlight: Array<Promise<void>> = [];
    while (during < options.trials && !overBudget()) {
      if (drained()) {
        firstDrainS ??= (performance.now() - started) / 1000;
        if (++wave >= 8) break;
        // The drain is over before enough trials: the source pushes more work, the trials go on under load.
        await pushWave(wave);
        continue;
      }
      inFlight.push(put(order.pop()!, 'draining'));
      during++;
      await sleep(1500);
    }
    await Promise.all(inFlight);
    if (during < options.trials) note(`(d/serve): only ${during} trials fitted into ${wave + 1} wave(s)`);
    while (!drained() && (performance.now() - started) / 1000 < 30 * 60) await sleep(250);
    firstDrainS ??= (performance.now() - started) / 1000;
    const wallS = (performance.now() - started) / 1000;
    result.drains.push({ method: 'serve', wallS: firstDrainS, busyMailboxes: 0, failedMailboxes: 0, exitCode: null, totals: { writes: sandbox.stats().writes, waves: wave + 1, allWavesS: wallS, acceptedInS: loadedS }, trialsDuring: during });
    log(`(d/serve) first drain delivered in ${firstDrainS.toFixed(1)} s (${fmt((M * N) / firstDrainS)} events/s through the API); ${wave + 1} wave(s) in ${wallS.toFixed(1)} s`);
    for (let i = 0; i < 5; i++) await put(order.pop()!, 'idle');
  } finally {
    clearInterval(watcher);
    if (serve?.pid) process.kill(serve.pid, 'SIGTERM');
    const exited = serve ? await Promise.race([serve.done, sleep(20_000).then(() => null)]) : null;
    if (serve && !exited && serve.pid) process.kill(serve.pid, 'SIGKILL');
    await sandbox.close();
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Report
// ---------------------------------------------------------------------------------------------------------------

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || Number.isNaN(n)) return '–';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** What was measured: the commit and a hash of src/ as it was on disk when the run started (others edit it). */
function codeVersion(): { commit: string; srcSha256: string; dirty: boolean } {
  const git = (args: string[]) => spawnSync('git', args, { cwd: repoRoot, encoding: 'utf8' }).stdout?.trim() ?? '';
  const files = git(['ls-files', '--cached', '--others', '--exclude-standard', 'src']).split('\n').filter(Boolean).sort();
  const hash = createHash('sha256');
  for (const f of files) {
    try {
      hash.update(f).update(readFileSync(join(repoRoot, f)));
    } catch {
      // deleted meanwhile
    }
  }
  return { commit: git(['rev-parse', '--short', 'HEAD']), srcSha256: hash.digest('hex').slice(0, 12), dirty: git(['status', '--porcelain', 'src']).length > 0 };
}
const version = codeVersion();

function machine() {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    model = /model name\s*:\s*(.*)/.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? model;
  } catch {
    // not Linux
  }
  return { nproc: cpus().length, cpu: model, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version };
}

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(rows[0]!), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

function deliveryRows(r: DeliveryResult): string[][] {
  const med = (xs: RunMeasurement[], f: (m: RunMeasurement) => number | null) => median(xs.filter((m) => m.ok).map(f).filter((x): x is number => x !== null));
  const failed = [...r.calpush, ...r.baseline].filter((m) => !m.ok);
  const cp = med(r.calpush, (m) => m.eventsPerS);
  const bl = med(r.baseline, (m) => m.eventsPerS);
  const extrapolated = r.baseline.some((m) => m.extrapolated);
  return [
    ['events', `${fmt(r.mailboxes)} × ${fmt(r.eventsPerMailbox)} = ${fmt(r.mailboxes * r.eventsPerMailbox)}`],
    ['calpush events/s (median)', `${fmt(cp)}  [runs: ${r.calpush.map((m) => `${fmt(m.eventsPerS)}${m.ok ? '' : ' FAILED'}`).join(', ')}]${failed.length ? ` — ${failed.length} failed run(s) left out` : ''}`],
    ['ceiling events/s (batched)', `${fmt(r.ceiling.eventsPerSecond)} — binds: ${r.ceiling.binding}`],
    ['measured / ceiling', `${fmt((cp / r.ceiling.eventsPerSecond) * 100, 1)} %`],
    ['delivery phase only (first → last answer)', `${fmt(med(r.calpush, (m) => m.deliveryEventsPerS))} events/s = ${fmt((med(r.calpush, (m) => m.deliveryEventsPerS) / r.ceiling.eventsPerSecond) * 100, 1)} % of the ceiling (wall time includes process start, input and store)`],
    ['ceiling, one op per HTTP request', `${fmt(r.unbatched.eventsPerSecond)} (${fmt((cp / r.unbatched.eventsPerSecond) * 100, 1)} % of it) — binds: ${r.unbatched.binding}`],
    ['429 share (calpush)', `${fmt(med(r.calpush, (m) => m.throttledShare) * 100, 2)} % of its Graph operations`],
    ['CPU s per 1,000 events (calpush)', fmt(med(r.calpush, (m) => m.cpuSPer1000), 3)],
    ['peak RSS (calpush)', `${fmt(med(r.calpush, (m) => m.peakRssMB))} MB`],
    ['machine load (1-min avg, end of runs)', `${[...r.calpush, ...r.baseline].map((m) => fmt(m.sandbox.loadAvg1, 1)).join(', ')} (2 cores)`],
    ['sandbox event-loop utilisation', `${fmt(med(r.calpush, (m) => m.sandbox.elu) * 100)} % (calpush runs), ${fmt(med(r.baseline, (m) => m.sandbox.elu) * 100)} % (baseline); its event-loop delay (mean / p99) during calpush runs: ${fmt(med(r.calpush, (m) => m.sandbox.loopDelayMeanMs), 1)} / ${fmt(med(r.calpush, (m) => m.sandbox.loopDelayP99Ms))} ms`],
    ['sandbox CPU per 1,000 events', `${fmt(med(r.calpush, (m) => m.sandbox.cpuS / (m.events / 1000)), 3)} s (calpush runs)`],
    ['calpush requests', `${fmt(med(r.calpush, (m) => m.sandbox.operations))} Graph operations in ${fmt(med(r.calpush, (m) => m.sandbox.batches))} $batch envelopes (+ ${fmt(med(r.calpush, (m) => m.sandbox.tokenRequests))} token); minimum ${fmt(r.mailboxes * (r.eventsPerMailbox + 1))} operations`],
    ['SDK baseline events/s (median)', `${fmt(bl, 1)}${extrapolated ? ` — extrapolated: ran ${r.baseline[0]!.extrapolated!.mailboxesRun} of ${r.mailboxes} mailboxes` : ''} (its own floor: ${fmt(r.baselineFloor.eventsPerSecond, 1)})`],
    ['speed-up over the SDK baseline', `${fmt(cp / bl, 1)}×`],
    ['429 share (baseline)', `${fmt(med(r.baseline, (m) => m.throttledShare) * 100, 2)} %`],
    ['CPU s per 1,000 events (baseline)', fmt(med(r.baseline, (m) => m.cpuSPer1000), 3)],
  ];
}

function report(results: { a?: DeliveryResult; b?: DeliveryResult; c?: NoopResult; d?: UrgentResult }): string {
  const out: string[] = [];
  const mc = machine();
  out.push(`# calpush Graph benchmark ${new Date().toISOString()}${options.quick ? ' (--quick)' : ''}`);
  out.push(`machine: ${mc.nproc} cores, ${mc.cpu}, ${mc.memoryGiB} GiB, node ${mc.node}`);
  out.push(`calpush: commit ${version.commit}${version.dirty ? ' + uncommitted changes' : ''}, src/ sha256 ${version.srcSha256} (at the start of the run)`);
  out.push(`latency model: roundTripMs ${options.rttMs}, perRequestMs ${options.serverMs}; Outlook limits on (4 concurrent, 10,000 / 10 min per mailbox); calpush limits: defaults (global concurrency ${CALPUSH_LIMITS.globalConcurrency}); batch mode: ${options.batchMode ?? "calpush's default"}`);
  for (const r of [results.a, results.b]) {
    if (!r) continue;
    out.push('', `## (${r.workload}) ${r.mailboxes} mailboxes × ${r.eventsPerMailbox} events, fresh delivery`);
    out.push(table([['metric', 'value'], ...deliveryRows(r)]));
  }
  if (results.c) {
    const c = results.c;
    const med = (f: (m: RunMeasurement) => number | null) => median(c.runs.filter((m) => m.ok).map(f).filter((x): x is number => x !== null));
    out.push('', `## (c) no-op resync of ${fmt(c.mailboxes * c.eventsPerMailbox)} events (${fmt(c.mailboxes)} × ${c.eventsPerMailbox}), the same input a second time`);
    out.push(
      table([
        ['metric', 'value'],
        ['input events/s (median)', `${fmt(med((m) => m.eventsPerS))}  [runs: ${c.runs.map((m) => `${fmt(m.eventsPerS)}${m.ok ? '' : ' FAILED'}`).join(', ')}]`],
        ['wall time (median)', `${fmt(med((m) => m.wallS), 1)} s`],
        ['ceiling', 'no request is needed: bounded by CPU only (target ≥ 50,000 input events/s)'],
        ['requests / writes (median)', `${fmt(med((m) => m.sandbox.operations))} / ${fmt(med((m) => m.sandbox.writes))}`],
        ['429 share', `${fmt(med((m) => m.throttledShare) * 100, 2)} %`],
        ['CPU s per 1,000 events', fmt(med((m) => m.cpuSPer1000), 4)],
        ['peak RSS', `${fmt(med((m) => m.peakRssMB))} MB`],
        ['machine load (1-min avg)', c.runs.map((m) => fmt(m.sandbox.loadAvg1, 1)).join(', ')],
        ['input file', `${fmt(c.setup.inputBytes / 2 ** 20)} MB NDJSON`],
        ['setup', `${c.setup.method}: ${fmt(c.setup.seconds)} s${c.setup.seedSeconds !== undefined ? ` (seeding the sandbox ${fmt(c.setup.seedSeconds)} s)` : ''}; first run ${fmt(c.setup.firstRun?.wallS, 1)} s, ${fmt(c.setup.firstRun?.sandbox.operations)} requests, ${fmt(c.setup.firstRun?.sandbox.writes)} writes, peak RSS ${fmt(c.setup.firstRun?.peakRssMB)} MB`],
      ]),
    );
  }
  if (results.d) {
    const d = results.d;
    const lat = (ts: UrgentTrial[]) => ts.map((t) => t.latencyMs ?? Number.POSITIVE_INFINITY);
    out.push('', `## (d) one urgent change (an event tomorrow moved by an hour) while (b) drains (${d.mailboxes} × ${d.eventsPerMailbox})`);
    for (const method of ['cli', 'serve'] as const) {
      const all = d.trials.filter((t) => t.method === method);
      if (!all.length) continue;
      const loaded = all.filter((t) => t.load === 'draining');
      const idle = all.filter((t) => t.load === 'idle');
      const busy = loaded.filter((t) => t.attempts.some((a) => a.status === 'busy'));
      const drains = d.drains.filter((x) => x.method === method);
      const byState = (st: UrgentTrial['mailboxStateAtSubmit']) => {
        const ts = loaded.filter((t) => t.mailboxStateAtSubmit === st);
        return ts.length ? `${ts.length} trials, p50 ${fmt(percentile(lat(ts), 0.5))} ms, max ${fmt(percentile(lat(ts), 1))} ms` : 'no trial';
      };
      out.push('', `### ${method === 'cli' ? 'a second `calpush sync --calendar <mailbox>` process' : '`calpush serve`: one PUT on the push API'}`, d.methods[method] ?? '');
      const rows: string[][] = [
        ['metric', 'value'],
        ['trials while draining', `${loaded.length} (in ${drains.length} drain(s))`],
        ['latency p50 / p99 (while draining)', `${fmt(percentile(lat(loaded), 0.5))} ms / ${fmt(percentile(lat(loaded), 0.99))} ms (p99 of ${loaded.length} = the ${loaded.length < 100 ? 'maximum' : '99th'}); not delivered: ${loaded.filter((t) => t.latencyMs === null).length}`],
        ['latency p50 / max (drain finished)', `${fmt(percentile(lat(idle), 0.5))} ms / ${fmt(percentile(lat(idle), 1))} ms (${idle.length} trials)`],
        ['floor', `${fmt(d.floorMs)} ms = one PATCH (RTT + server time)${method === 'cli' ? `; a new process also needs a token: ${fmt(d.floorMs + options.rttMs)} ms, plus its start` : ''}`],
        ['mailbox not yet reached by the drain', byState('not started')],
        ['mailbox being delivered by the drain', byState('in progress')],
        ['mailbox already delivered by the drain', byState('done')],
        [method === 'cli' ? '`calpush sync --calendar` run, wall p50' : 'PUT answered (202), p50', `${fmt(percentile(all.flatMap((t) => t.attempts.map((a) => a.wallMs)), 0.5))} ms; machine load ${fmt(Math.min(...all.map((t) => t.loadAvg1)), 1)}–${fmt(Math.max(...all.map((t) => t.loadAvg1)), 1)}`],
      ];
      if (method === 'cli') {
        rows.push(['trials that were told "busy"', `${busy.length} (exit code of a busy run: ${[...new Set(busy.flatMap((t) => t.attempts.filter((a) => a.status === 'busy').map((a) => a.exitCode)))].join(', ') || '–'})`]);
        rows.push(['drain: mailboxes reported busy', drains.map((x) => `${x.busyMailboxes} (exit ${x.exitCode}, ${fmt(x.wallS)} s)`).join('; ')]);
      } else {
        rows.push(['drain through the API (first wave)', drains.map((x) => `${fmt(x.wallS)} s = ${fmt((d.mailboxes * d.eventsPerMailbox) / x.wallS)} events/s; ${JSON.stringify(x.totals)}`).join('; ')]);
      }
      out.push(table(rows));
    }
  }
  for (const r of [results.a, results.b, results.c]) {
    const p = r?.profiled?.profile;
    if (!p) continue;
    out.push('', `## profile (${r!.workload}) — files: ${p.files.join(', ')}`);
    if (p.calpush) out.push('calpush process:', p.calpush.text);
    if (p.sandbox) out.push('sandbox (benchmark) process:', p.sandbox.text);
  }
  if (notes.length) out.push('', '## notes', ...notes.map((n) => `- ${n}`));
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------------------------------------------

if (Number(process.versions.node.split('.')[0]) < 22) throw new Error('run the benchmark on Node ≥ 22.12: node_modules/.bin/node bench/graph/run.ts');
log(`calpush Graph benchmark: workloads ${options.workloads.join(',')}${options.quick ? ' (quick)' : ''}; rtt ${options.rttMs} ms, server ${options.serverMs} ms; budget ${options.maxMinutes} min`);
const results: { a?: DeliveryResult; b?: DeliveryResult; c?: NoopResult; d?: UrgentResult } = {};
for (const w of options.workloads) {
  if (overBudget()) {
    note(`workload (${w}) skipped: over the --max-minutes budget`);
    continue;
  }
  try {
    if (w === 'a' || w === 'b') results[w] = await workloadDelivery(w);
    else if (w === 'c') results.c = await workloadNoop();
    else results.d = await workloadUrgent();
  } catch (error) {
    note(`workload (${w}) failed: ${(error as Error).stack ?? error}`);
  } finally {
    removeWorkspaces();
  }
}
const text = report(results);
process.stdout.write(`${text}\n`);
const outPath = options.out ?? join(benchDir, 'results', `${runStamp}${options.quick ? '-quick' : ''}.json`);
mkdirSync(join(outPath, '..'), { recursive: true });
writeFileSync(outPath, JSON.stringify({ options, machine: machine(), version, sizes, repeats, results, notes, report: text }, (k, v) => (k === 'text' ? undefined : v), 2));
writeFileSync(outPath.replace(/\.json$/, '.md'), `${text}\n`);
log(`results: ${outPath} (and .md)`);
