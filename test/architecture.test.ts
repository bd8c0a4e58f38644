// The architecture holds (docs/architecture.md): the import rules (dependency-cruiser, .dependency-cruiser.mjs), no
// waiting outside the scheduler but where the list below says why, and one error base class. Each check is also
// shown catching what it forbids, on a small tree written to this run's temporary folder.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { cruise, type IConfiguration, type ICruiseResult } from 'dependency-cruiser';
import { describe, expect, it } from 'vitest';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');

// ---------------------------------------------------------------------------------------------------------------
// Import rules

async function importViolations(baseDir: string): Promise<string[]> {
  const { default: config } = (await import(pathToFileURL(join(repo, '.dependency-cruiser.mjs')).href)) as { default: IConfiguration };
  // Without following symlinks up the path, and with node_modules of this checkout only: nothing outside the
  // repository is looked at (test/support/fs-guard.mjs).
  const result = await cruise(['src'], { ...config.options, preserveSymlinks: true, ruleSet: { forbidden: config.forbidden ?? [] }, validate: true, baseDir }, { modules: [join(repo, 'node_modules')] });
  const output = result.output as ICruiseResult;
  expect(output.summary.totalCruised).toBeGreaterThan(0);
  return output.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}`).sort();
}

// ---------------------------------------------------------------------------------------------------------------
// Waiting: the scheduler (src/engine/scheduler.ts) owns every wait on a request. Anything else that sets a timer is
// listed here with why it is not such a wait; a file on the list that no longer sets one must leave the list.

const TIMERS = /\b(setTimeout|setInterval|setImmediate)\s*\(|['"](node:)?timers(\/promises)?['"]/;

export const TIMERS_ALLOWED: Record<string, string> = {
  'src/engine/scheduler.ts': 'the owner of every wait: one timer wakes the mailboxes whose Retry-After, back-off or budget has passed',
  'src/sandbox/': 'the stand-in for Microsoft (its throttling windows and latency model), not calpush',
  'src/targets/http.ts': 'the deadline of one HTTP exchange: a timeout that ends the request, not a wait before one',
  'src/admin/doctor/network.ts': 'the TCP/TLS probe’s timeout (socket.setTimeout)',
  'src/sources/feeds.ts': 'the deadline of one feed fetch, and the poller’s cadence (when feeds are due): feeds are no Microsoft mailbox',
  'src/sources/parse-pool.ts': 'the deadline of one .ics parse in its worker thread: a limit that stops the parse, not a wait before a request',
  'src/engine/delivery.ts': 'how often a running delivery asks the store for changes: when to look, not a wait on a request',
  'src/engine/workers.ts': 'waiting for another process to release a busy mailbox (--busy-wait): nothing is sent meanwhile',
  'src/engine/lease.ts': 'the heartbeat that renews this worker’s mailbox leases: a cadence, no request waits on it',
  'src/engine/cadence.ts': 'when the next pass looks (the resource agent, serve re-reading room lists) and stop()’s grace period; every request of a pass waits in the scheduler',
  'src/engine/loop.ts': 'the serve loop’s poll of the store, its stop() grace period and idle() for tests; when a mailbox may be tried again is the scheduler’s (deferMailbox, pauseAll)',
  'src/server/dashboard/live.ts': 'the cadence of a dashboard page’s live updates (server-sent events): what the page is sent, not a wait on a request',
  'src/server/dashboard/monitor.ts': 'the dashboard monitor’s sampling of the scheduler’s counters and the store: it measures, it sends nothing',
  'src/cli/commands/serve.ts': 'exiting after a second SIGTERM/SIGINT if shutting down hangs',
  'src/cli/commands/demo-hybrid.ts': 'calpush demo --hybrid waiting for the Radicale it started to answer: a start-up, no request waits on it',
  'src/engine/watcher.ts': 'calpush serve’s watch cadence (watch.intervalSeconds): a round’s requests go through the scheduler, which owns their waits',
  'src/alerts/monitor.ts': 'how often the alert conditions are looked at and due notifications sent: a cadence; a failed notification’s back-off is a time in its outbox row, not a sleep',
  'src/client/index.ts': 'waitForDelivery’s poll of calpush’s API, in the source system’s process',
  'src/store/sqlite-ledger.ts': 'the bound on a group commit: request-ledger charges are written within a second if no other write comes; no request waits on it',
};

function sourceFiles(root: string): string[] {
  return (readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true }) as Array<{ name: string; parentPath: string; isFile(): boolean }>)
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'))
    .sort();
}

function timersOutsideTheScheduler(root: string, allowed: Record<string, string>): string[] {
  const problems: string[] = [];
  const used = new Set<string>();
  for (const file of sourceFiles(root)) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    lines.forEach((line, index) => {
      if (!TIMERS.test(line.replace(/\/\/.*$/, ''))) return;
      const entry = Object.keys(allowed).find((path) => (path.endsWith('/') ? file.startsWith(path) : file === path));
      if (entry) used.add(entry);
      else problems.push(`${file}:${index + 1}: ${line.trim()}`);
    });
  }
  for (const entry of Object.keys(allowed)) if (!used.has(entry)) problems.push(`${entry}: on the list but sets no timer any more (remove it)`);
  return problems;
}

// How long to wait after an answer is the scheduler's to decide: a target says what the server answered — its
// Retry-After (TargetError.retryAfterMs) and the level it throttles (TargetError.throttles) — and only the scheduler
// reads them. (Anything else named retryAfterMs, like the push API's own answer to a client that failed to sign
// in, is a method, not this field.)

const WAIT_FIELDS = /\.(retryAfterMs|throttles)\b(?!\s*\()/;
const WAIT_FIELDS_READ_BY = ['src/engine/scheduler.ts', 'src/engine/lanes.ts', 'src/targets/', 'src/sandbox/'];

function waitsDecidedOutsideTheScheduler(root: string): string[] {
  const problems: string[] = [];
  for (const file of sourceFiles(root)) {
    if (WAIT_FIELDS_READ_BY.some((path) => (path.endsWith('/') ? file.startsWith(path) : file === path))) continue;
    readFileSync(join(root, file), 'utf8')
      .split('\n')
      .forEach((line, index) => {
        if (WAIT_FIELDS.test(line.replace(/\/\/.*$/, ''))) problems.push(`${file}:${index + 1}: ${line.trim()}`);
      });
  }
  return problems;
}

// ---------------------------------------------------------------------------------------------------------------
// Errors: every error class calpush defines extends CalpushError (src/model/errors.ts); the sandbox's own errors
// are Microsoft's stand-in's, not calpush's.

function errorsOutsideTheBase(root: string): string[] {
  const bases = new Map<string, { base: string; file: string }>();
  for (const file of sourceFiles(root)) {
    if (file.startsWith('src/sandbox/')) continue;
    for (const match of readFileSync(join(root, file), 'utf8').matchAll(/\bclass\s+(\w+)\s+extends\s+([\w.]+)/g)) bases.set(match[1]!, { base: match[2]!, file });
  }
  const problems: string[] = [];
  for (const [name, { file }] of bases) {
    let current = name;
    const seen = new Set<string>();
    while (current !== 'CalpushError' && bases.has(current) && !seen.has(current)) {
      seen.add(current);
      current = bases.get(current)!.base;
    }
    if (name !== 'CalpushError' && current !== 'CalpushError' && /Error$/.test(current)) problems.push(`${file}: ${name} extends ${current}, not CalpushError`);
  }
  return problems.sort();
}

// ---------------------------------------------------------------------------------------------------------------

describe('the architecture', () => {
  it('holds the import rules (.dependency-cruiser.mjs)', async () => {
    expect(await importViolations(repo)).toEqual([]);
  });

  it('waits nowhere outside the scheduler but where the list says why', () => {
    expect(timersOutsideTheScheduler(repo, TIMERS_ALLOWED)).toEqual([]);
  });

  it('leaves how long to wait after an answer to the scheduler', () => {
    expect(waitsDecidedOutsideTheScheduler(repo)).toEqual([]);
  });

  it('has one error base class', () => {
    expect(errorsOutsideTheBase(repo)).toEqual([]);
  });
});

describe('the architecture checks catch', () => {
  const tree = (files: Record<string, string>): string => {
    const root = mkdtempSync(join(tmpdir(), 'architecture-'));
    // The package the modules belong to, so that nobody looks for one further up.
    files = { 'package.json': '{"type": "module"}\n', ...files };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  };

  it('imports that run the wrong way', async () => {
    const root = tree({
      'src/model/rows.ts': 'export type Row = { key: string };\n',
      'src/model/time.ts': 'export const zone = "UTC";\n',
      'src/planner/plan.ts': "import type { Row } from '../model/rows.ts';\nimport { readFileSync } from 'node:fs';\nimport { Store } from '../store/store.ts';\nexport const plan = (rows: Row[]) => [rows, readFileSync, Store];\n",
      'src/store/store.ts': "import type { Held } from '../sources/records.ts';\nexport class Store { held: Held[] = []; }\n",
      'src/sources/records.ts': 'export type Held = { key: string };\n',
      'src/engine/a.ts': "import { b } from './b.ts';\nimport { plan } from '../planner/plan.ts';\nexport const a = () => [b, plan];\n",
      'src/engine/b.ts': "import { a } from './a.ts';\nimport { config } from '../app/config.ts';\nexport const b = () => [a, config];\n",
      'src/app/config.ts': 'export const config = {};\n',
      'src/app/sync.ts': 'export const sync = {};\n',
      'src/targets/graph/target.ts': "import { a } from '../../engine/a.ts';\nexport const target = a;\n",
      'src/targets/graph/mapping.ts': 'export const tagValue = (key: string) => key;\n',
      'src/targets/graph/auth.ts': 'export class GraphTokenProvider {}\n',
      'src/targets/caldav/ical.ts': "import { tagValue } from '../graph/mapping.ts';\nexport const tag = tagValue;\n",
      'src/targets/ews/config.ts': "import { GraphTokenProvider } from '../graph/auth.ts';\nexport const tokens = GraphTokenProvider;\n",
      'src/admin/doctor/graph.ts': "import { sync } from '../../app/sync.ts';\nexport const doctor = sync;\n",
      'src/server/index.ts': "import { sandbox } from '../sandbox/index.ts';\nexport const server = sandbox;\n",
      'src/sandbox/index.ts': "import { zone } from '../model/time.ts';\nexport const sandbox = zone;\n",
      'src/agent/policy.ts': "import { Store } from '../store/store.ts';\nimport { readFileSync } from 'node:fs';\nexport const decide = () => [Store, readFileSync];\n",
      'src/agent/run.ts': "import { config } from '../app/config.ts';\nexport const run = config;\n",
    });
    expect(await importViolations(root)).toEqual([
      'agent-below-the-edges: src/agent/run.ts → src/app/config.ts',
      'agent-policy-is-pure: src/agent/policy.ts → fs',
      'agent-policy-is-pure: src/agent/policy.ts → src/store/store.ts',
      'composition-root-only-for-edges: src/agent/run.ts → src/app/config.ts',
      'composition-root-only-for-edges: src/engine/b.ts → src/app/config.ts',
      'doctor-never-syncs: src/admin/doctor/graph.ts → src/app/sync.ts',
      'engine-below-the-edges: src/engine/b.ts → src/app/config.ts',
      'no-circular: src/engine/a.ts → src/engine/b.ts',
      'planner-is-pure: src/planner/plan.ts → fs',
      'planner-is-pure: src/planner/plan.ts → src/store/store.ts',
      'sandbox-keeps-its-own-time: src/sandbox/index.ts → src/model/time.ts',
      'sandbox-only-for-demos-and-tests: src/server/index.ts → src/sandbox/index.ts',
      'store-knows-rows: src/store/store.ts → src/sources/records.ts',
      'targets-are-called: src/targets/graph/target.ts → src/engine/a.ts',
      'targets-side-by-side: src/targets/caldav/ical.ts → src/targets/graph/mapping.ts',
    ]);
  });

  it('a wait outside the scheduler, and a stale entry of the list', () => {
    const root = tree({
      'src/targets/graph/target.ts': 'export async function retry(send: () => Promise<void>) {\n  // setTimeout( in a comment is no wait\n  await new Promise((resolve) => setTimeout(resolve, 1_000));\n  return send();\n}\n',
      'src/engine/scheduler.ts': 'export const timer = setTimeout(() => {}, 0);\n',
      'src/engine/lease.ts': 'the heartbeat that renews this worker’s mailbox leases: a cadence, no request waits on it',
  'src/engine/loop.ts': 'export const loop = 1;\n',
    });
    expect(timersOutsideTheScheduler(root, { 'src/engine/scheduler.ts': 'owner', 'src/engine/loop.ts': 'poll' })).toEqual([
      'src/targets/graph/target.ts:3: await new Promise((resolve) => setTimeout(resolve, 1_000));',
      'src/engine/loop.ts: on the list but sets no timer any more (remove it)',
    ]);
  });

  it('a wait decided outside the scheduler', () => {
    const root = tree({
      'src/engine/sending.ts': "export const pauseFor = (error: { retryAfterMs?: number; throttles?: string }) => [error.retryAfterMs ?? 1000, error.throttles];\n",
      'src/server/app.ts': '// error.retryAfterMs in a comment is no read\nexport const wait = (failures: { retryAfterMs(ip: string): number }) => failures.retryAfterMs("::1");\n',
      'src/targets/graph/errors.ts': 'export const details = (response: { retryAfterMs: number }) => ({ retryAfterMs: response.retryAfterMs });\n',
      'src/engine/scheduler.ts': 'export const delay = (error: { retryAfterMs: number }) => error.retryAfterMs;\n',
    });
    expect(waitsDecidedOutsideTheScheduler(root)).toEqual([
      "src/engine/sending.ts:1: export const pauseFor = (error: { retryAfterMs?: number; throttles?: string }) => [error.retryAfterMs ?? 1000, error.throttles];",
    ]);
  });

  it('an error class outside the base, also through another class', () => {
    const root = tree({
      'src/model/errors.ts': 'export class CalpushError extends Error {}\n',
      'src/store/errors.ts': "import { CalpushError } from '../model/errors.ts';\nexport class StoreError extends CalpushError {}\nexport class Locked extends StoreError {}\n",
      'src/sources/feeds.ts': 'export class FeedError extends Error {}\nexport class FeedTimeout extends FeedError {}\nclass Poller extends Array {}\n',
      'src/sandbox/errors.ts': 'export class GraphHttpError extends Error {}\n',
    });
    expect(errorsOutsideTheBase(root)).toEqual(['src/sources/feeds.ts: FeedError extends Error, not CalpushError', 'src/sources/feeds.ts: FeedTimeout extends Error, not CalpushError']);
  });
});
