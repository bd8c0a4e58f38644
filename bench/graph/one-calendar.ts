// The floor of workload (d)'s cli path, with nothing else running: how long one `calpush sync -i <file> --calendar
// <mailbox>` takes from spawn to exit when it moves one event of a 100-event mailbox by an hour (and back the next
// trial) — process start, input, store and the one update. Checkouts run side by side, interleaved trial by trial (the machine's noise hits both alike),
// each with its own workspace and store (an older checkout may not open a newer store).
//
//   npm run build    # in every checkout
//   node_modules/.bin/node bench/graph/one-calendar.ts [--trials 15] DIR [DIR ...]
//
// Prints, per checkout, the median and the spread of the wall time, and each one's median ÷ the first's. With
// ONE_CAL_PROF=DIR each sync writes a CPU profile to DIR/<checkout's index> (bench/graph/profile-summary.ts reads it).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { defaultTenantSeed, startSandbox } from '../../src/sandbox/index.ts';
import { createWorkspace, lecture } from '../../test/e2e/harness.ts';

const argv = process.argv.slice(2);
const trialsAt = argv.indexOf('--trials');
const trials = trialsAt >= 0 ? Number(argv[trialsAt + 1]) : 15;
const dirs = argv.filter((arg, index) => !arg.startsWith('--') && (trialsAt < 0 || index !== trialsAt + 1)).map((dir) => resolve(dir));
if (!dirs.length) throw new Error('usage: one-calendar.ts [--trials N] DIR [DIR ...]');

// A mailbox per checkout: one checkout's events would otherwise be adopted by the other's first sync.
const sandbox = await startSandbox({ tenant: defaultTenantSeed({ students: dirs.length, staff: 0, rooms: 0 }), throttling: { enabled: true } });
const mailboxes = sandbox.listMailboxes().map((mailbox) => mailbox.address);
const checkouts = dirs.map((dir, index) => ({ dir, mailbox: mailboxes[index]!, ws: createWorkspace(sandbox, 'secret'), ms: [] as number[] }));

async function sync(checkout: (typeof checkouts)[number], hourShift: number): Promise<number> {
  const { mailbox } = checkout;
  const events = Array.from({ length: 100 }, (_, n) => lecture(mailbox, n));
  const later = (local: string) => local.replace(/T(\d{2}):/, (_, hour: string) => `T${String(Number(hour) + 1).padStart(2, '0')}:`);
  if (hourShift) events[0] = { ...events[0]!, start: later(events[0]!.start), end: later(events[0]!.end) };
  const input = join(checkout.ws.dir, 'input.ndjson');
  writeFileSync(input, `${events.map((event) => JSON.stringify(event)).join('\n')}\n`);
  const started = performance.now();
  // Asynchronously: the sandbox answers from this process's event loop.
  const { stdout } = await promisify(execFile)(process.execPath, [...(process.env.ONE_CAL_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ONE_CAL_PROF}/${checkouts.indexOf(checkout)}`] : []), join(checkout.dir, 'bin/calpush.js'), 'sync', '-c', checkout.ws.configPath, '-i', input, '--calendar', mailbox, '--json']);
  const ms = performance.now() - started;
  const { updated, created } = (JSON.parse(stdout) as { delivery: { totals: { updated: number; created: number } } }).delivery.totals;
  if (created + updated === 0) throw new Error(`${checkout.dir}: the sync wrote nothing; the trial would measure a no-op`);
  return ms;
}

for (const checkout of checkouts) await sync(checkout, 0); // the first delivery (and the compile cache) is set-up
for (let trial = 1; trial <= trials; trial++) {
  for (const checkout of trial % 2 ? checkouts : [...checkouts].reverse()) checkout.ms.push(await sync(checkout, trial % 2 ? 1 : 0));
}
await sandbox.close();

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
const first = median(checkouts[0]!.ms);
for (const { dir, ms } of checkouts) {
  const sorted = [...ms].sort((a, b) => a - b);
  console.log(`${dir}: median ${median(ms).toFixed(0)} ms (min ${sorted[0]!.toFixed(0)}, max ${sorted.at(-1)!.toFixed(0)}), ÷ first ${(median(ms) / first).toFixed(2)}`);
}
