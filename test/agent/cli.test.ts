// calpush agent from the command line against the sandbox (Graph, the agent app): one pass answers, JSON counts each
// outcome, a second pass answers nothing again, and a bad agent section is refused naming the mailbox and the field.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { createWorkspace, runCli, startCli, workspaceAt, type Workspace } from '../e2e/harness.ts';
import { TEMPLATE, VMR } from './harness.ts';

let sandbox: SandboxInternals;
let workspace: Workspace;

const agentSection = (template = TEMPLATE) => ({
  target: 'default',
  mailboxes: {
    [VMR]: { kind: 'vmr', organizers: { domains: ['contoso.edu'] }, vmr: { mode: 'full', alias: { range: { from: 7001, to: 7099 } }, dialIn: '+31 20 555 0100', webLink: 'https://vmr.contoso.edu/{alias}', template } },
  },
});

beforeAll(async () => {
  sandbox = await startSandbox();
  sandbox.meetings.setProcessing(VMR, { automateProcessing: 'AutoUpdate' });
  const base = createWorkspace(sandbox);
  writeFileSync(join(base.dir, 'agent-secret.txt'), AGENT_CLIENT_SECRET, { mode: 0o600 });
  const target = { ...(base.rawConfig['target'] as Record<string, unknown>), clientId: AGENT_CLIENT_ID, credential: { kind: 'secret', secret: { file: 'agent-secret.txt' } } };
  workspace = workspaceAt(base.dir, { ...base.rawConfig, target, agent: agentSection() });
});
afterAll(async () => {
  await sandbox?.close();
});

/** Three days from now at 10:00 UTC: in the future whatever the time of day. */
function inThreeDays(hour: number): string {
  return `${new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10)}T${String(hour).padStart(2, '0')}:00:00`;
}

describe('calpush agent', () => {
  it('answers once, counts each outcome as JSON, and answers nothing twice', async () => {
    const event = sandbox.outlook('t0001@contoso.edu').createEvent({
      subject: 'CLI video call',
      body: { contentType: 'html', content: '<p>agenda</p>' },
      start: { dateTime: inThreeDays(10), timeZone: 'UTC' },
      end: { dateTime: inThreeDays(11), timeZone: 'UTC' },
      attendees: [{ emailAddress: { address: VMR }, type: 'resource' }],
    });
    const first = await runCli(['agent', '-c', workspace.configPath, '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    const summary = JSON.parse(first.stdout);
    expect(summary.mailboxes).toEqual([{ mailbox: VMR, counts: { accepted: 1, tentative: 0, declined: 0, cancelled: 0, unchanged: 0, failed: 0 } }]);
    expect(summary.outcomes[0]).toMatchObject({ subject: 'CLI video call', outcome: 'accepted', alias: '7001', instructions: 'body' });
    const organizer = sandbox.listEvents('t0001@contoso.edu').find((e) => e.iCalUId === event.iCalUId)!;
    expect(organizer.body.content).toContain('https://vmr.contoso.edu/7001');
    const second = await runCli(['agent', '-c', workspace.configPath]);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/vmr-scheduling@contoso.edu: (unchanged \d+|nothing new)\n$/);
  });

  it('refuses an agent section with a mistake, naming the mailbox and the field (exit 2)', async () => {
    const path = join(workspace.dir, 'bad.config.json');
    writeFileSync(path, JSON.stringify({ ...workspace.rawConfig, agent: agentSection({ html: '<p>{alias} {room}</p>', text: '{alias}' }) }));
    const result = await runCli(['agent', '-c', path]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`agent.mailboxes.${VMR}.vmr.template.html: unknown placeholder {room}`);
  });

  it('--watch answers on a cadence and stops within a few seconds of SIGTERM', async () => {
    const { child, done } = startCli(['agent', '-c', workspace.configPath, '--watch', '--interval', '5', '--json']);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const until = async (seen: () => boolean, what: string) => {
      for (let waited = 0; !seen(); waited += 50) {
        if (waited > 60_000) throw new Error(`no ${what}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    await until(() => stdout.includes('\n'), 'first pass');
    // Booked while the loop waits: answered by a later pass.
    sandbox.outlook('t0002@contoso.edu').createEvent({
      subject: 'Watched video call',
      body: { contentType: 'html', content: '<p>agenda</p>' },
      start: { dateTime: inThreeDays(13), timeZone: 'UTC' },
      end: { dateTime: inThreeDays(14), timeZone: 'UTC' },
      attendees: [{ emailAddress: { address: VMR }, type: 'resource' }],
    });
    await until(() => stdout.includes('Watched video call'), 'answer to the new booking');
    const passes = stdout.trim().split('\n').map((line) => JSON.parse(line) as { outcomes: Array<{ subject: string; outcome: string }> });
    expect(passes.flatMap((p) => p.outcomes).find((o) => o.subject === 'Watched video call')?.outcome).toBe('accepted');
    const stoppedAt = performance.now();
    child.kill('SIGTERM');
    const result = await done;
    expect(performance.now() - stoppedAt).toBeLessThan(5_000);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('calpush agent: watching, a pass every 5 s');
    expect(result.stderr).toContain('calpush agent: SIGTERM, stopping');
    expect(result.stderr).toContain('calpush agent: stopped');
  }, 120_000);
});
