// The resource agent under `calpush serve` (a config with an `agent` section): a pass when serve starts, then one
// per interval — the cadence driven here by an injected wait and clock — through the target's scheduler, with the
// rooms of a room list; serve's close() stops the loop. A pass that fails is logged and the next comes at its time.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentRun } from '../../src/app/agent.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { createWorkspace, workspaceAt, type Workspace } from '../e2e/harness.ts';
import { NOW, TEMPLATE, VMR } from './harness.ts';

const clock = fixedClock(NOW);
const tenant = defaultTenantSeed();
const ROOM_LIST = 'rooms-sci@contoso.edu';
const listed = tenant.roomLists!.find((l) => l.address === ROOM_LIST)!.members;
let sandbox: SandboxInternals;
let workspace: Workspace;

beforeAll(async () => {
  sandbox = await startSandbox({ clock, tenant });
  for (const mailbox of [VMR, ...listed]) sandbox.meetings.setProcessing(mailbox, { automateProcessing: 'AutoUpdate' });
  const base = createWorkspace(sandbox);
  writeFileSync(join(base.dir, 'agent-secret.txt'), AGENT_CLIENT_SECRET, { mode: 0o600 });
  const target = { ...(base.rawConfig['target'] as Record<string, unknown>), clientId: AGENT_CLIENT_ID, credential: { kind: 'secret', secret: { file: 'agent-secret.txt' } } };
  const agent = {
    intervalSeconds: 30,
    mailboxes: { [VMR]: { kind: 'vmr', vmr: { alias: { range: { from: 4001, to: 4099 } }, template: TEMPLATE } } },
    roomLists: { [ROOM_LIST]: { kind: 'room' } },
  };
  workspace = workspaceAt(base.dir, { ...base.rawConfig, target, agent });
});
afterAll(async () => {
  await sandbox?.close();
});

/** Waits the loop asks for: released one at a time by the test, moving the clock by what was asked. */
function cadence() {
  const asked: number[] = [];
  const releases: Array<() => void> = [];
  return {
    asked,
    wait: (ms: number, signal: AbortSignal) =>
      new Promise<void>((resolve) => {
        asked.push(ms);
        signal.addEventListener('abort', () => resolve(), { once: true });
        releases.push(() => {
          clock.advance(ms);
          resolve();
        });
      }),
    next: () => releases.shift()?.(),
  };
}

function booking(organizer: string, subject: string, resource: string, hour: number) {
  return sandbox.outlook(organizer).createEvent({
    subject,
    body: { contentType: 'html', content: '<p>agenda</p>' },
    start: { dateTime: `2026-09-08T${hour}:00:00`, timeZone: 'UTC' },
    end: { dateTime: `2026-09-08T${hour + 1}:00:00`, timeZone: 'UTC' },
    attendees: [{ emailAddress: { address: resource }, type: 'resource' }],
  });
}

describe('the agent under calpush serve', () => {
  it('passes on its cadence, answers VMR and room-list bookings, and stops with serve', async () => {
    const time = cadence();
    const runs: AgentRun[] = [];
    const passed = async (n: number) => {
      for (let i = 0; runs.length < n; i++) {
        if (i > 600) throw new Error(`only ${runs.length} passes`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    let running: RunningServer | null = null;
    try {
      running = await startServer({ config: workspace.config, server: parseServerConfig({ port: 0 }), feeds: undefined, baseDir: workspace.dir, deliver: false, clock, cadenceWait: time.wait, onAgentPass: (run) => runs.push(run) });
      await passed(1);
      expect(runs[0]!.mailboxes.map((m) => m.mailbox).sort()).toEqual([VMR, ...listed].sort());
      expect(runs[0]!.roomLists).toEqual([]);
      expect(time.asked).toEqual([30_000]);

      const call = booking('t0001@contoso.edu', 'Serve video call', VMR, 10);
      const room = booking('t0002@contoso.edu', 'Serve seminar', listed[0]!, 11);
      time.next();
      await passed(2);
      const answered = runs[1]!.outcomes.filter((o) => o.outcome !== 'unchanged').map((o) => [o.subject, o.outcome]);
      expect(answered.sort()).toEqual([['Serve seminar', 'accepted'], ['Serve video call', 'accepted']]);
      const organizerCopy = sandbox.listEvents('t0001@contoso.edu').find((e) => e.iCalUId === call.iCalUId)!;
      expect(JSON.stringify(organizerCopy.attendees)).toContain('accepted');
      expect(sandbox.listEvents('t0002@contoso.edu').find((e) => e.iCalUId === room.iCalUId)).toBeDefined();
      expect(running.agent!.status()).toMatchObject({ state: 'running', passes: 2 });
    } finally {
      await running?.close();
    }
    expect(running!.agent!.status().state).toBe('stopped');
    // Every read and answer was charged to its mailbox in the store's request ledger (agent/ledger.ts), where other
    // workers' deliveries and agents count it in Outlook's per-mailbox budget.
    const store = new SqliteStore(join(workspace.dir, 'state/calpush.sqlite'), { clock });
    try {
      const spent = async (mailbox: string) => (await store.requestsSpentByOthers(mailbox, 'another-worker', 600_000)).reduce((sum, s) => sum + s.cost, 0);
      expect(await spent(VMR)).toBeGreaterThanOrEqual(3); // two passes' reads and the answer (a VMR allows conflicts: no lookup)
    } finally {
      await store.close();
    }
    const after = runs.length;
    time.next();
    await new Promise((r) => setTimeout(r, 100));
    expect(runs.length).toBe(after);
  }, 120_000);

  it('an agent target serve does not run is refused before it listens', async () => {
    const bad = workspaceAt(workspace.dir, { ...workspace.rawConfig, agent: { ...(workspace.rawConfig['agent'] as object), target: 'default' } });
    const error = await startServer({ config: { ...bad.config, agent: { ...bad.config.agent!, target: 'elsewhere' } }, server: parseServerConfig({ port: 0 }), feeds: undefined, baseDir: bad.dir, deliver: false }).catch((e: unknown) => e);
    expect((error as Error).message).toContain('agent.target "elsewhere"');
  });
});
