// EWS service-account pool benchmark (issue 6). Not a test: it measures.
//
//   node_modules/.bin/node bench/ews/accounts.ts [--students 1600] [--events 3] [--budget-items 50]
//        [--budget-window-ms 2000] [--rtt-ms 5] [--accounts 1,4] [--batch 20] [--out results.json]
//
// (the defaults are the run recorded in docs/ews.md; about six minutes on two cores)
//
// The same first push (every event created) runs through the real engine (runSync: SQLite store, planner,
// scheduler, delivery) with the EWS target in delegate mode, against the sandbox's EWS endpoint, once with one
// service account and once with four (the security group svc-mytt-1..4). The sandbox charges every request to the
// account that sends it (EWS throttling is per account in delegate mode): a rolling budget of --budget-items items
// per --budget-window-ms (a CreateItem of 20 items costs 20, a FindItem 1), ErrorServerBusy with BackOffMilliseconds
// beyond it. One account is bound by its budget; four accounts have four budgets. The speed-up is the ratio of the
// wall times; the bound it can reach is 1 / (the busiest account's share of the work): the mailboxes are assigned
// by rendezvous hashing, not dealt out evenly.
//
// Each run gets a fresh sandbox on a worker thread of this process (sandbox-worker.ts). Its schema check (xmllint
// per request) is off here: on two cores it would make the sandbox, not the budget, the bottleneck; the tests check
// every request kind against the schema instead.
import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Worker } from 'node:worker_threads';
import { defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, type EwsStats, type Sandbox } from '../../src/sandbox/index.ts';
import { runSync } from '../../src/app/sync.ts';
import { createEwsTarget, ewsTargetSchema } from '../../src/targets/ews/config.ts';
import { createWorkspace, lecture } from '../../test/e2e/harness.ts';

interface Options {
  students: number;
  events: number;
  budgetItems: number;
  budgetWindowMs: number;
  rttMs: number;
  accounts: number[];
  batch: number;
  out: string | undefined;
}

function parse(argv: string[]): Options {
  const get = (name: string, fallback: string) => {
    const i = argv.indexOf(name);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : fallback;
  };
  const known = new Set(['--students', '--events', '--budget-items', '--budget-window-ms', '--rtt-ms', '--accounts', '--batch', '--out']);
  for (const arg of argv) if (arg.startsWith('--') && !known.has(arg)) throw new Error(`unknown option ${arg}`);
  const accounts = get('--accounts', '1,4').split(',').map(Number);
  if (accounts.some((n) => !Number.isInteger(n) || n < 1 || n > EWS_DELEGATE_ACCOUNTS.length)) throw new Error(`--accounts: 1..${EWS_DELEGATE_ACCOUNTS.length}, comma-separated`);
  return {
    students: Number(get('--students', '1600')),
    events: Number(get('--events', '3')),
    budgetItems: Number(get('--budget-items', '50')),
    budgetWindowMs: Number(get('--budget-window-ms', '2000')),
    rttMs: Number(get('--rtt-ms', '5')),
    accounts,
    batch: Number(get('--batch', '20')),
    out: argv.includes('--out') ? get('--out', '') : undefined,
  };
}

interface RunResult {
  accounts: number;
  seconds: number;
  /** CPU time of this process (the engine; the sandbox runs on its own thread) during the run. */
  engineCpuSeconds: number;
  /** Event-loop utilisation of the sandbox's thread during the run. */
  sandboxUtilization: number;
  created: number;
  failed: number;
  requests: number;
  perAccount: Array<{ account: string; mailboxes: number; requests: number; items: number; busy: number; maxConcurrent: number }>;
  /** Items (budget units) charged to the busiest account. */
  busiestItems: number;
  totalItems: number;
}

interface SandboxHandle {
  info: { url: string; graphBaseUrl: string; tenantId: string; caPem: string; demoCredentials: Sandbox['demoCredentials']; ewsUrl: string };
  stats(): Promise<{ stats: EwsStats; utilization: number }>;
  mark(): void;
  close(): Promise<void>;
}

/** Starts the sandbox in a worker thread (its own core). */
async function startSandboxThread(options: Options): Promise<SandboxHandle> {
  const worker = new Worker(new URL('./sandbox-worker.ts', import.meta.url), {
    workerData: { students: options.students, rttMs: options.rttMs, budgetItems: options.budgetItems, budgetWindowMs: options.budgetWindowMs },
  });
  const next = <T>(kind: string) =>
    new Promise<T>((resolve, reject) => {
      const onMessage = (message: { kind: string } & Record<string, unknown>) => {
        if (message.kind !== kind) return;
        worker.off('message', onMessage);
        worker.off('error', reject);
        resolve(message as T);
      };
      worker.on('message', onMessage);
      worker.once('error', reject);
    });
  const ready = await next<{ sandbox: SandboxHandle['info'] }>('ready');
  return {
    info: ready.sandbox,
    stats: async () => {
      const answer = next<{ stats: EwsStats; utilization: number }>('stats');
      worker.postMessage({ kind: 'stats' });
      return answer;
    },
    mark: () => worker.postMessage({ kind: 'mark' }),
    close: async () => {
      const closed = next('closed');
      worker.postMessage({ kind: 'close' });
      await closed;
      await worker.terminate();
    },
  };
}

async function run(options: Options, accountCount: number): Promise<RunResult> {
  const seed = defaultTenantSeed({ students: options.students });
  const sandbox = await startSandboxThread(options);
  try {
    const students = seed.mailboxes.filter((m) => m.kind === 'user' && /^s\d+@/.test(m.address)).map((m) => m.address.toLowerCase());
    const instance = `bench-ews-${accountCount}`;
    // createWorkspace only reads these fields of the sandbox (the Graph part of the config is not used: the EWS
    // target is handed to runSync).
    const ws = createWorkspace(sandbox.info as unknown as Sandbox, 'secret', { instance });
    writeFileSync(join(ws.dir, 'ews.pw'), EWS_PASSWORD, { mode: 0o600 });
    const section = ewsTargetSchema.parse({
      kind: 'ews',
      url: sandbox.info.ewsUrl,
      serverVersion: 'Exchange2016',
      access: 'delegate',
      auth: 'ntlm',
      accounts: EWS_DELEGATE_ACCOUNTS.slice(0, accountCount).map((username) => ({ username, password: { file: 'ews.pw' } })),
      caFile: 'ca.pem',
      batchSize: options.batch,
    });
    const target = createEwsTarget(section, { instance, baseDir: ws.dir, allDayTimeZone: ws.config.timeZone });
    const input = ws.input('timetable.ndjson', students.flatMap((mailbox) => Array.from({ length: options.events }, (_, n) => lecture(mailbox, n))));
    sandbox.mark();
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const result = await runSync({ config: ws.config, baseDir: ws.dir, inputs: [input], target });
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    const mailboxesPerAccount = new Map<string, number>();
    for (const mailbox of students) {
      const account = target.serviceAccount(mailbox).toLowerCase();
      mailboxesPerAccount.set(account, (mailboxesPerAccount.get(account) ?? 0) + 1);
    }
    // BENCH_DEBUG=1: the target's own view of each account (requests, busy answers, most in flight).
    if (process.env['BENCH_DEBUG']) process.stderr.write(`${JSON.stringify(target.accountStats())}\n`);
    await target.close();
    const { stats, utilization } = await sandbox.stats();
    const perAccount = Object.entries(stats.perAccount).map(([account, s]) => ({
      account,
      mailboxes: mailboxesPerAccount.get(account.toLowerCase()) ?? 0,
      requests: s.requests,
      items: s.items,
      busy: s.busy,
      maxConcurrent: s.maxConcurrent,
    }));
    // What each account was charged against its budget: a batch its items, any other request 1 (throttle.ts).
    const charged = perAccount.map((a) => a.items);
    return {
      accounts: accountCount,
      seconds,
      engineCpuSeconds: (cpu.user + cpu.system) / 1e6,
      sandboxUtilization: utilization,
      created: result.delivery.totals.created,
      failed: result.delivery.totals.failed + result.delivery.totals.failedMailboxes,
      requests: result.delivery.totals.requests,
      perAccount,
      busiestItems: Math.max(...charged),
      totalItems: charged.reduce((a, b) => a + b, 0),
    };
  } finally {
    await sandbox.close();
  }
}

const options = parse(process.argv.slice(2));
const rate = options.budgetItems / (options.budgetWindowMs / 1000);
process.stdout.write(
  `EWS account-pool benchmark: ${options.students} mailboxes × ${options.events} events, delegate mode, NTLM, batch ${options.batch}; ` +
    `per-account budget ${options.budgetItems} items / ${options.budgetWindowMs} ms (${rate} items/s); RTT ${options.rttMs} ms\n` +
    `machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}\n\n`,
);
const results: RunResult[] = [];
for (const accounts of options.accounts) {
  const result = await run(options, accounts);
  results.push(result);
  process.stdout.write(
    `${accounts} account(s): ${result.seconds.toFixed(1)} s, created ${result.created}, failed ${result.failed}, ${result.requests} engine requests; ` +
      `engine CPU ${result.engineCpuSeconds.toFixed(1)} s, sandbox thread ${(result.sandboxUtilization * 100).toFixed(0)}% busy; budget floor ${(Math.max(0, result.busiestItems - options.budgetItems) / rate).toFixed(1)} s\n`,
  );
  for (const a of result.perAccount) {
    process.stdout.write(`    ${a.account.padEnd(26)} mailboxes ${String(a.mailboxes).padStart(4)}  requests ${String(a.requests).padStart(5)}  items ${String(a.items).padStart(6)}  ErrorServerBusy ${String(a.busy).padStart(4)}  max in flight ${a.maxConcurrent}\n`);
  }
}
if (results.length >= 2) {
  const base = results[0]!;
  for (const other of results.slice(1)) {
    const share = other.busiestItems / other.totalItems;
    process.stdout.write(
      `\nspeed-up ${other.accounts} vs ${base.accounts} account(s): ${(base.seconds / other.seconds).toFixed(2)}× ` +
        `(bound from the busiest account's share ${(share * 100).toFixed(1)}%: ${(1 / share / base.accounts).toFixed(2)}×)\n`,
    );
  }
}
if (options.out) {
  writeFileSync(options.out, JSON.stringify({ options, machine: { cpus: cpus().length, model: cpus()[0]?.model, memGiB: totalmem() / 2 ** 30, node: process.version }, results }, null, 2));
}
