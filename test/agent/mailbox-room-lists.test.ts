// The config's `mailboxes` naming room lists (issue #15, item 5): sync reads each list once through its target and
// takes records for the rooms it holds; a record for a room in no list is refused, and a list that cannot be read is
// named in that refusal while the rest goes through. calpush serve reads the lists when it starts (its API takes the
// rooms) and again on its cadence. The config refuses a list whose target cannot read room lists.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { runSync } from '../../src/app/sync.ts';
import { CalpushClient } from '../../src/client/index.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { createApiKey } from '../../src/server/auth.ts';
import { startServer } from '../../src/server/index.ts';
import { createWorkspace, workspaceAt, type Workspace } from '../e2e/harness.ts';
import { NOW } from './harness.ts';

const clock = fixedClock(NOW);
const tenant = defaultTenantSeed();
const members = (list: string) => tenant.roomLists!.find((l) => l.address === list)!.members;
const LIB = members('rooms-lib@contoso.edu');
const SCI = members('rooms-sci@contoso.edu');
let sandbox: SandboxInternals;
let workspace: Workspace;

beforeAll(async () => {
  sandbox = await startSandbox({ clock, tenant });
  const base = createWorkspace(sandbox);
  writeFileSync(join(base.dir, 'agent-secret.txt'), AGENT_CLIENT_SECRET, { mode: 0o600 });
  // The agent app holds Place.Read.All, which reading room lists over Graph needs.
  const target = { ...(base.rawConfig['target'] as Record<string, unknown>), clientId: AGENT_CLIENT_ID, credential: { kind: 'secret', secret: { file: 'agent-secret.txt' } } };
  workspace = workspaceAt(base.dir, { ...base.rawConfig, target, mailboxes: ['s0001@contoso.edu', { roomList: 'rooms-lib@contoso.edu' }, { roomList: 'rooms-nowhere@contoso.edu' }] });
});
afterAll(async () => {
  await sandbox?.close();
});

const lecture = (calendar: string, id: string) => ({ calendar, id, subject: `Lecture ${id}`, start: '2026-09-10T09:00', end: '2026-09-10T10:00', timeZone: 'Europe/Amsterdam' });

describe('mailboxes naming room lists', () => {
  it('sync takes the rooms of a readable list, refuses the others naming the list it could not read, and delivers the rest', async () => {
    const input = workspace.input('rooms.json', [lecture('s0001@contoso.edu', 'a'), lecture(LIB[0]!, 'b'), lecture(LIB[1]!, 'c'), lecture(SCI[0]!, 'd')]);
    const result = await runSync({ config: workspace.config, baseDir: workspace.dir, inputs: [input], clock });
    expect(result.input).toMatchObject({ accepted: 3, rejected: 1 });
    expect(result.input.errors).toHaveLength(1);
    expect(result.input.errors[0]).toMatchObject({ calendar: SCI[0], field: 'calendar' });
    expect(result.input.errors[0]!.message).toMatch(/^is not one of the mailboxes in the config; room list rooms-nowhere@contoso\.edu could not be read \(RoomListNotFound: /);
    expect(result.delivery.totals.created).toBe(3);
    expect(sandbox.listEvents(LIB[0]!).some((e) => e.subject === 'Lecture b')).toBe(true);
  });

  it('serve reads the lists at start: its API takes a room of a list and refuses a room of none; it reads them again on its cadence', async () => {
    const waits: number[] = [];
    const running = await startServer({
      config: workspace.config,
      server: parseServerConfig({ port: 0 }),
      feeds: undefined,
      baseDir: workspace.dir,
      deliver: false,
      clock,
      cadenceWait: (ms, signal) => new Promise<void>((resolve) => (waits.push(ms), signal.addEventListener('abort', () => resolve(), { once: true }))),
    });
    try {
      const { key } = await createApiKey(running.store, { scope: 'write' });
      const client = new CalpushClient({ baseUrl: running.url, apiKey: key });
      const event = { subject: 'Seminar', start: '2026-09-11T09:00', end: '2026-09-11T10:00', timeZone: 'Europe/Amsterdam' };
      await expect(client.putEvent(LIB[1]!, 'seminar-1', event)).resolves.toMatchObject({ result: 'added' });
      await expect(client.putEvent(SCI[1]!, 'seminar-2', event)).rejects.toThrow(/is not one of the calendars this deployment manages/);
      expect(waits).toEqual([60 * 60_000]);
    } finally {
      await running.close();
    }
  });

  it('the config refuses a room list whose target is not configured, naming the entry', () => {
    expect(() => parseConfig({ ...workspace.rawConfig, mailboxes: [{ roomList: 'rooms-lib@contoso.edu', target: 'onprem' }] })).toThrow(/mailboxes\.0\.target.*names target "onprem", which is not configured/);
    expect(() => parseConfig({ ...workspace.rawConfig, mailboxes: [{ list: 'rooms-lib@contoso.edu' }] })).toThrow(/each entry is a mailbox address, or \{"roomList"/);
  });
});
