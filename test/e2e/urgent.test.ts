// A change submitted while a large delivery drains: it reaches the calendar promptly, whether this process can
// deliver the mailbox itself or the running process (which holds the mailbox) picks it up.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { runSync } from '../../src/app/sync.ts';
import { createWorkspace, lecture, startCli, tagged, usableStudents } from './harness.ts';

const seed = defaultTenantSeed();
const students = usableStudents(seed).slice(0, 12).sort();
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed, latency: { perRequestMs: 25 } });
});
afterAll(async () => {
  await sandbox.close();
});

const farFuture = (calendar: string, n: number) => ({ ...lecture(calendar, n), start: `2027-06-${String(1 + (n % 28)).padStart(2, '0')}T09:00`, end: `2027-06-${String(1 + (n % 28)).padStart(2, '0')}T10:00` });
const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);

async function waitFor(predicate: () => boolean, timeoutMs: number): Promise<number> {
  const started = Date.now();
  while (!predicate()) {
    if (Date.now() - started > timeoutMs) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - started;
}

describe('an urgent change while a backlog drains', () => {
  it.each([
    ['a mailbox the running sync has not reached', students.length - 1, 'delivers it itself or the running sync does'],
    ['the mailbox the running sync is delivering', 0, 'hands it to the running process'],
  ])('%s: %s', async (_, index, expectation) => {
    const instance = `urgent-${index}`;
    const ws = createWorkspace(sandbox, 'secret', { instance, limits: { globalConcurrency: 8, parallelMailboxes: 2 } });
    const target = students[index]!;
    const backlog = students.flatMap((m) => Array.from({ length: m === target ? 80 : 40 }, (_, n) => farFuture(m, n)));
    const running = startCli(['sync', '-c', ws.configPath, '-i', ws.input('backlog.ndjson', backlog)]);
    const ours = () => tagged(sandbox, target).filter((e) => JSON.stringify(e).includes(`;${instance};`));
    // Wait until the running sync is under way (and, for the first mailbox, in the middle of it).
    await waitFor(() => ours().length >= 5 || tagged(sandbox, students[0]!).filter((e) => JSON.stringify(e).includes(`;${instance};`)).length >= 5, 20_000);

    const moved = backlog.filter((e) => e.calendar === target).map((e, n) => (n === 0 ? { ...e, start: `${tomorrow}T14:00`, end: `${tomorrow}T15:00`, subject: 'Moved to tomorrow' } : e));
    const submitted = Date.now();
    const change = await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('change.ndjson', moved)], calendars: [target] });
    const status = change.delivery.mailboxes[0]!.status;
    // A mailbox the running sync has not reached: whichever process claims it first delivers it (the running one
    // starts changed mailboxes at once). One it is delivering: the running sync keeps it and plans it again.
    if (expectation.startsWith('delivers it itself')) expect(['ok', 'busy']).toContain(status);
    else expect(status).toBe('busy');
    const latency = await waitFor(() => ours().some((e) => e.subject === 'Moved to tomorrow'), 10_000) + (Date.now() - submitted - 0);
    const stillRunning = running.child.exitCode === null;
    const done = await running.done;
    expect(done.code).toBe(0);
    // The change landed while the backlog was still draining, and quickly.
    expect(stillRunning).toBe(true);
    expect(latency).toBeLessThan(5_000);
    const events = ours();
    expect(events).toHaveLength(backlog.filter((e) => e.calendar === target).length);
    expect(events.filter((e) => e.subject === 'Moved to tomorrow')).toHaveLength(1);
  });
});
