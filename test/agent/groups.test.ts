// Allowed organisers by group (issue #15 item 3): the members of a mail-enabled group read over Graph (group by mail,
// transitiveMembers) and EWS (ExpandDL, nested groups expanded in turn) through the scheduler; an organiser in the
// group — directly or through the nested group — accepted, one outside declined with the reason; an unknown group
// reported by the mailbox's pass, naming the group, while addresses and domains still decide.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { GroupResolver, MAX_GROUP_DEPTH } from '../../src/engine/groups.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { GROUP_NOT_FOUND, type GroupDirectory } from '../../src/targets/groups.ts';
import { TargetError } from '../../src/targets/target.ts';
import { sandboxGraphOptions } from '../support/sandbox-graph.ts';
import { agentConfig, meeting, NOW, organizerView, ROOM, startWorld, type AgentWorld } from './harness.ts';

const STAFF = 'staff@contoso.edu';
const T1 = 't0001@contoso.edu';
const T3 = 't0003@contoso.edu'; // in lab-staff@, which is in staff@
const T4 = 't0004@contoso.edu'; // in no group
const clock = fixedClock(NOW);
let sandbox: SandboxInternals;

beforeAll(async () => {
  sandbox = await startSandbox({ clock });
});
afterAll(async () => {
  await sandbox?.close();
});

function directory(protocol: 'graph' | 'ews', app: 'agent' | 'calendars' = 'agent'): { directory: GroupDirectory; close(): Promise<void> } {
  if (protocol === 'graph') {
    const graph = new GraphTarget({ ...sandboxGraphOptions(sandbox, 'groups-test'), ...(app === 'agent' ? { clientId: AGENT_CLIENT_ID, credential: { kind: 'secret' as const, secret: AGENT_CLIENT_SECRET } } : {}) });
    return { directory: graph.groups(), close: () => graph.close() };
  }
  const ews = new EwsTarget({ instance: 'groups-test', url: sandbox.ewsUrl, caPem: sandbox.caPem, access: 'impersonation', auth: 'basic', accounts: [{ username: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD }], serverVersion: 'Exchange2013_SP1', allDayTimeZone: 'Europe/Amsterdam' });
  return { directory: ews.groups(), close: () => ews.close() };
}

describe.each(['graph', 'ews'] as const)('groups over %s', (protocol) => {
  it('reads the members of a group, the nested group’s included, through the scheduler', async () => {
    const { directory: dir, close } = directory(protocol);
    try {
      const scheduler = new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 });
      const members = await new GroupResolver({ directory: dir, scheduler, clock }).members('Staff@contoso.edu');
      expect([...members].sort()).toEqual(['t0001@contoso.edu', 't0002@contoso.edu', 't0003@contoso.edu']);
      // Graph: the lookup and one page of transitiveMembers; EWS: ExpandDL of staff@ and of lab-staff@.
      expect(scheduler.stats().started).toBe(2);
    } finally {
      await close();
    }
  });

  it('an unknown group is GroupNotFound, naming the group', async () => {
    const { directory: dir, close } = directory(protocol);
    try {
      const error = await new GroupResolver({ directory: dir, scheduler: new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 }), clock }).members('nobody@contoso.edu').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TargetError);
      expect((error as TargetError).code).toBe(GROUP_NOT_FOUND);
      expect((error as TargetError).message).toContain('nobody@contoso.edu');
    } finally {
      await close();
    }
  });
});

describe('the requests', () => {
  it('EWS ExpandDL is valid against messages.xsd / types.xsd (the sandbox runs xmllint on each)', async () => {
    const before = sandbox.ews.stats();
    const { directory: dir, close } = directory('ews');
    try {
      expect((await dir.members(STAFF, null)).groups).toEqual(['lab-staff@contoso.edu']);
      await dir.members('nobody@contoso.edu', null).catch(() => {});
    } finally {
      await close();
    }
    const after = sandbox.ews.stats();
    expect(after.schemaRejected - before.schemaRejected).toBe(0);
    if (after.schemaValidationRuns > 0) expect(after.schemaValidationRuns).toBeGreaterThan(before.schemaValidationRuns);
    expect(after.soapActionMismatch).toBe(0);
  });

  it('Graph: without GroupMember.Read.All the refusal names the group and the permission', async () => {
    const { directory: dir, close } = directory('graph', 'calendars');
    try {
      const error = await dir.members(STAFF, null).catch((e: unknown) => e);
      expect((error as TargetError).message).toContain(STAFF);
      expect((error as TargetError).remedy).toContain('GroupMember.Read.All');
    } finally {
      await close();
    }
  });
});

describe('the resolver', () => {
  it('bounds the depth of nested groups (a cycle is read once)', async () => {
    const chain: GroupDirectory = { kind: 'ews', members: async (group) => ({ members: [`m-${group}`], groups: [`g${Number(group.slice(1, group.indexOf('@'))) + 1}@x.edu`], next: null }) };
    const error = await new GroupResolver({ directory: chain, scheduler: new Scheduler({ clock }), clock }).members('g0@x.edu').catch((e: unknown) => e);
    expect((error as TargetError).code).toBe('GroupTooDeep');
    expect((error as TargetError).message).toContain(`${MAX_GROUP_DEPTH} deep`);
    const cycle: GroupDirectory = { kind: 'ews', members: async (group) => ({ members: [`m-${group}`], groups: [group === 'a@x.edu' ? 'b@x.edu' : 'a@x.edu'], next: null }) };
    expect([...(await new GroupResolver({ directory: cycle, scheduler: new Scheduler({ clock }), clock }).members('a@x.edu'))].sort()).toEqual(['m-a@x.edu', 'm-b@x.edu']);
  });
});

describe.each(['graph', 'ews'] as const)('the agent allows organisers by group over %s', (protocol) => {
  let world: AgentWorld;
  afterEach(async () => {
    await world?.close();
  });
  const book = (organizer: string, subject: string) => world.sandbox.outlook(organizer).createEvent(meeting(subject, [[ROOM, 'resource']]));

  it('accepts a member (directly and through the nested group), declines one outside with the reason', async () => {
    world = await startWorld(protocol, agentConfig('full', { organizers: { addresses: [], domains: [], groups: [STAFF] } }), { sandbox });
    const direct = book(T1, 'Group member');
    const nested = book(T3, 'Nested member');
    const outside = book(T4, 'Not a member');
    const summary = await world.pass();
    expect(summary.mailboxes.find((m) => m.mailbox === ROOM)!.error).toBeUndefined();
    expect(organizerView(world, T1, direct.iCalUId, ROOM).response).toBe('accepted');
    expect(organizerView(world, T3, nested.iCalUId, ROOM).response).toBe('accepted');
    expect(organizerView(world, T4, outside.iCalUId, ROOM).response).toBe('declined');
    const declined = summary.outcomes.find((o) => o.uid === outside.iCalUId)!;
    expect(declined).toMatchObject({ outcome: 'declined', rule: 'organizer' });
    expect(declined.reason).toMatch(/t0004@contoso.edu is not allowed/);
  });

  it('an unknown group is reported by the mailbox’s pass, naming it; addresses still decide', async () => {
    world = await startWorld(protocol, agentConfig('full', { organizers: { addresses: [T4], domains: [], groups: ['no-such-group@contoso.edu'] } }), { sandbox });
    const listed = book(T4, 'Listed address');
    const summary = await world.pass();
    const room = summary.mailboxes.find((m) => m.mailbox === ROOM)!;
    expect(room.error).toMatchObject({ code: GROUP_NOT_FOUND });
    expect(room.error!.message).toContain('no-such-group@contoso.edu');
    expect(organizerView(world, T4, listed.iCalUId, ROOM).response).toBe('accepted');
  });
});
