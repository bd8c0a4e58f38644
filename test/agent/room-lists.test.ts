// Room lists as a source of mailboxes (issue #15, item 5): the rooms of a list read over Graph (place-list) and EWS
// (GetRooms) through the scheduler, kept for the resolver's refresh time, an unknown list named in the error, and the
// agent's `roomLists` policies applied to each room while a room the config names keeps its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { agentConfigSchema } from '../../src/agent/config.ts';
import { agentMailboxes } from '../../src/agent/mailboxes.ts';
import { RoomListResolver } from '../../src/engine/room-lists.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, defaultTenantSeed, EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { validateGraphBody } from '../../src/sandbox/graph/schema/validate.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { ROOM_LIST_NOT_FOUND, type RoomDirectory } from '../../src/targets/rooms.ts';
import { TargetError } from '../../src/targets/target.ts';
import { sandboxGraphOptions } from '../support/sandbox-graph.ts';
import { NOW } from './harness.ts';

let sandbox: SandboxInternals;
const clock = fixedClock(NOW);
/** 100 rooms: the list of all rooms comes in buckets of 75 (rooms-1@, rooms-2@), as the sandbox seeds it. */
const tenant = defaultTenantSeed({ rooms: 100 });

beforeAll(async () => {
  sandbox = await startSandbox({ clock, tenant });
});
afterAll(async () => {
  await sandbox?.close();
});

function directories(): Record<'graph' | 'ews', { directory: RoomDirectory; close(): Promise<void> }> {
  const graph = new GraphTarget({ ...sandboxGraphOptions(sandbox, 'rooms-test'), clientId: AGENT_CLIENT_ID, credential: { kind: 'secret', secret: AGENT_CLIENT_SECRET } });
  const ews = new EwsTarget({ instance: 'rooms-test', url: sandbox.ewsUrl, caPem: sandbox.caPem, access: 'impersonation', auth: 'basic', accounts: [{ username: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD }], serverVersion: 'Exchange2013_SP1', allDayTimeZone: 'Europe/Amsterdam' });
  return { graph: { directory: graph.rooms(), close: () => graph.close() }, ews: { directory: ews.rooms(), close: () => ews.close() } };
}

const listed = (address: string) => tenant.roomLists!.find((l) => l.address === address)!.members.map((m) => m.toLowerCase()).sort();

describe.each(['graph', 'ews'] as const)('room lists over %s', (protocol) => {
  it('reads every room of a list, as the service lists them, through the scheduler', async () => {
    const { directory, close } = directories()[protocol];
    try {
      const scheduler = new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 });
      const resolver = new RoomListResolver({ directory, scheduler, clock });
      const rooms = await resolver.rooms('Rooms-2@contoso.edu');
      expect(rooms.map((r) => r.address)).toEqual(listed('rooms-2@contoso.edu'));
      expect(rooms.length).toBe(25);
      expect(rooms[0]!.displayName).not.toBe('');
      expect(scheduler.stats().started).toBe(1);
    } finally {
      await close();
    }
  });

  it('an unknown list is RoomListNotFound, naming the list', async () => {
    const { directory, close } = directories()[protocol];
    try {
      const resolver = new RoomListResolver({ directory, scheduler: new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 }), clock });
      const error = await resolver.rooms('rooms-nowhere@contoso.edu').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TargetError);
      expect((error as TargetError).code).toBe(ROOM_LIST_NOT_FOUND);
      expect((error as TargetError).message).toContain('rooms-nowhere@contoso.edu');
      expect((error as TargetError).remedy).toMatch(/RoomList/);
    } finally {
      await close();
    }
  });
});

describe('the requests', () => {
  it('EWS GetRooms is valid against messages.xsd / types.xsd (the sandbox runs xmllint on each)', async () => {
    const before = sandbox.ews.stats();
    const { directory, close } = directories().ews;
    try {
      await directory.rooms('rooms-lib@contoso.edu', null);
      await directory.rooms('rooms-nowhere@contoso.edu', null).catch(() => {});
    } finally {
      await close();
    }
    const after = sandbox.ews.stats();
    expect(after.schemaRejected - before.schemaRejected).toBe(0);
    if (after.schemaValidationRuns > 0) expect(after.schemaValidationRuns).toBeGreaterThan(before.schemaValidationRuns);
    expect(after.soapActionMismatch).toBe(0);
  });

  it('Graph: what it selects of a room is what the v1.0 CSDL declares for room', () => {
    expect(validateGraphBody('room', { emailAddress: 'room-lib-101@contoso.edu', displayName: 'Library 101' }, 'response')).toBeNull();
    // The check can fail: a property the CSDL does not declare is refused.
    expect(validateGraphBody('room', { mailAddress: 'room-lib-101@contoso.edu' }, 'response')).not.toBeNull();
  });

  it('Graph: without Place.Read.All the refusal names the list and the permission', async () => {
    const graph = new GraphTarget({ ...sandboxGraphOptions(sandbox, 'rooms-test') });
    try {
      const error = await graph.rooms().rooms('rooms-lib@contoso.edu', null).catch((e: unknown) => e);
      expect((error as TargetError).message).toContain('rooms-lib@contoso.edu');
      expect((error as TargetError).remedy).toContain('Place.Read.All');
    } finally {
      await graph.close();
    }
  });
});

describe('the resolver', () => {
  const pages: Record<string, Array<{ rooms: string[]; next: string | null }>> = {
    'big@x.edu': [
      { rooms: ['b@x.edu', 'a@x.edu'], next: 'page2' },
      { rooms: ['c@x.edu', 'a@x.edu'], next: null },
    ],
  };
  function stub(): RoomDirectory & { calls: number } {
    return {
      kind: 'graph',
      calls: 0,
      async rooms(list: string, next: string | null) {
        this.calls++;
        const page = pages[list]![next === null ? 0 : 1]!;
        return { rooms: page.rooms.map((address) => ({ address, displayName: address })), next: page.next };
      },
    };
  }

  it('follows the pages, keeps each room once, and reads again only after refreshMs', async () => {
    const moving = fixedClock(NOW);
    const directory = stub();
    const resolver = new RoomListResolver({ directory, scheduler: new Scheduler({ clock: moving }), clock: moving, refreshMs: 3_600_000 });
    expect((await resolver.rooms('big@x.edu')).map((r) => r.address)).toEqual(['a@x.edu', 'b@x.edu', 'c@x.edu']);
    expect(directory.calls).toBe(2);
    moving.advance(3_599_000);
    await resolver.rooms('BIG@x.edu');
    expect(directory.calls).toBe(2);
    moving.advance(1_000);
    await resolver.rooms('big@x.edu');
    expect(directory.calls).toBe(4);
  });

  it('the agent: each room of a list gets the list’s policy, a room the config names keeps its own, a list that fails is reported by name', async () => {
    const { directory, close } = directories().graph;
    const lib = listed('rooms-lib@contoso.edu');
    const own = lib[0]!;
    try {
      const config = agentConfigSchema.parse({
        mailboxes: { [own]: { kind: 'room', maximumDurationMinutes: 60 } },
        roomLists: { 'rooms-lib@contoso.edu': { kind: 'room', maximumDurationMinutes: 240 }, 'rooms-nowhere@contoso.edu': { kind: 'room' } },
      });
      const resolver = new RoomListResolver({ directory, scheduler: new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 }), clock });
      const { mailboxes, problems, fromList } = await agentMailboxes(config, resolver);
      expect(mailboxes.map((m) => m.address).sort()).toEqual(lib);
      expect(mailboxes.find((m) => m.address === own)!.policy.maximumDurationMinutes).toBe(60);
      expect(mailboxes.filter((m) => m.address !== own).every((m) => m.policy.maximumDurationMinutes === 240)).toBe(true);
      expect(fromList.has(own)).toBe(false);
      expect(fromList.get(lib[1]!)).toBe('rooms-lib@contoso.edu');
      expect(problems).toEqual([{ roomList: 'rooms-nowhere@contoso.edu', error: expect.objectContaining({ code: ROOM_LIST_NOT_FOUND }) }]);
    } finally {
      await close();
    }
  });

  it('the config refuses a room list of kind vmr, naming the list and the field', () => {
    const result = agentConfigSchema.safeParse({ roomLists: { 'rooms-lib@contoso.edu': { kind: 'vmr', vmr: { alias: { fixed: 'x' }, template: { html: '', text: '' } } } } });
    expect(result.success).toBe(false);
    expect(result.error!.issues.map((i) => i.path.join('.'))).toContain('roomLists.rooms-lib@contoso.edu.kind');
  });
});
