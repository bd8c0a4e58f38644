// calpush agent --watch over EWS with streaming notifications (issue #15 item 1): with a pass only every hour, a
// meeting request to the VMR mailbox is answered within seconds — the notification asked for the pass, not the poll —
// and SIGTERM ends the connection and unsubscribes. With target.streaming.enabled false the same booking waits for
// the next poll (the control that shows the first answer came from the stream).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { createWorkspace, startCli, workspaceAt, type Workspace } from '../e2e/harness.ts';
import { ROOM, TEMPLATE, VMR } from './harness.ts';

let sandbox: SandboxInternals;

function workspace(streaming: Record<string, unknown>): Workspace {
  const base = createWorkspace(sandbox);
  writeFileSync(join(base.dir, 'ews.pw'), EWS_PASSWORD, { mode: 0o600 });
  const target = {
    kind: 'ews',
    url: sandbox.ewsUrl,
    access: 'impersonation',
    auth: 'basic',
    accounts: [{ username: EWS_SCHEDULING_ACCOUNT, password: { file: 'ews.pw' } }],
    serverVersion: 'Exchange2013_SP1',
    caFile: 'ca.pem',
    streaming,
  };
  const agent = {
    target: 'default',
    mailboxes: {
      [VMR]: { kind: 'vmr', organizers: { domains: ['contoso.edu'] }, vmr: { mode: 'full', alias: { range: { from: 8001, to: 8099 } }, dialIn: '+31 20 555 0100', webLink: 'https://vmr.contoso.edu/{alias}', template: TEMPLATE } },
      [ROOM]: { kind: 'room', organizers: { domains: ['contoso.edu'] } },
    },
  };
  return workspaceAt(base.dir, { ...base.rawConfig, target, agent });
}

beforeAll(async () => {
  sandbox = await startSandbox();
  // Pexip's AutomateProcessing None: the request message waits in the inbox for calpush to answer it.
  sandbox.meetings.setProcessing(VMR, { automateProcessing: 'None' });
  sandbox.ews.streaming.setTiming({ heartbeatMs: 1_000 });
});
afterAll(async () => {
  await sandbox?.close();
});

/** Three days from now: in the future whatever the time of day. */
function inThreeDays(hour: number): string {
  return `${new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10)}T${String(hour).padStart(2, '0')}:00:00`;
}

async function until(seen: () => boolean, what: string, ms: number, stderr: () => string): Promise<void> {
  const started = performance.now();
  while (!seen()) {
    if (performance.now() - started > ms) throw new Error(`no ${what} within ${ms} ms: ${stderr()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function book(subject: string, hour: number): void {
  sandbox.outlook('t0003@contoso.edu').createEvent({
    subject,
    body: { contentType: 'html', content: '<p>agenda</p>' },
    start: { dateTime: inThreeDays(hour), timeZone: 'UTC' },
    end: { dateTime: inThreeDays(hour + 1), timeZone: 'UTC' },
    attendees: [{ emailAddress: { address: VMR }, type: 'resource' }],
  });
}

/** `calpush agent --watch --interval 3600`, its output, and a wait for the first pass and the stream. */
async function watching(ws: Workspace) {
  const { child, done } = startCli(['agent', '-c', ws.configPath, '--watch', '--interval', '3600', '--json']);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  await until(() => stdout.includes('\n'), 'first pass', 60_000, () => stderr);
  return { child, done, out: () => stdout, err: () => stderr };
}

describe('calpush agent --watch with EWS streaming notifications', () => {
  it('answers a meeting request within seconds although a pass is due only every hour; SIGTERM unsubscribes', async () => {
    const before = sandbox.ews.streaming.stats();
    const run = await watching(workspace({}));
    await until(() => sandbox.ews.streaming.stats().open > before.open, 'streaming connection', 30_000, run.err);
    const booked = performance.now();
    book('Streamed video call', 10);
    await until(() => run.out().includes('Streamed video call'), 'answer', 15_000, run.err);
    const answeredInMs = performance.now() - booked;
    // The poll is an hour away: only the notification can have asked for this pass.
    expect(answeredInMs).toBeLessThan(10_000);
    type Pass = { outcomes: Array<{ subject: string; outcome: string }>; mailboxes: Array<{ mailbox: string }> };
    const passes = run
      .out()
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as Pass);
    const outcome = passes.flatMap((pass) => pass.outcomes).find((o) => o.subject === 'Streamed video call');
    expect(outcome?.outcome).toBe('accepted');
    // The first pass is a full one; the notification asked for a pass of the VMR mailbox only, not of the room too.
    expect(passes[0]!.mailboxes.map((m) => m.mailbox).sort()).toEqual([ROOM, VMR].sort());
    const notified = passes.find((pass) => pass.outcomes.some((o) => o.subject === 'Streamed video call'))!;
    expect(notified.mailboxes.map((m) => m.mailbox)).toEqual([VMR]);
    run.child.kill('SIGTERM');
    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    const after = sandbox.ews.streaming.stats();
    expect(after.unsubscribes - before.unsubscribes).toBe(after.subscribes - before.subscribes);
    expect(after.subscriptions).toBe(before.subscriptions);
    expect(result.stderr).not.toContain(EWS_PASSWORD);
  }, 120_000);

  it('without streaming (target.streaming.enabled false) the same booking waits for the next poll', async () => {
    const before = sandbox.ews.streaming.stats();
    const run = await watching(workspace({ enabled: false }));
    book('Polled video call', 12);
    await new Promise((resolve) => setTimeout(resolve, 4_000));
    expect(run.out()).not.toContain('Polled video call');
    expect(sandbox.ews.streaming.stats().subscribes).toBe(before.subscribes);
    run.child.kill('SIGTERM');
    expect((await run.done).code).toBe(0);
  }, 120_000);
});
