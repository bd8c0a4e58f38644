// A stored agent cursor that cannot be used — refused by the service (Graph 400 on its delta link), not a link of
// this Graph at all, not a SyncState — starts a new round once, said in the summary, instead of failing the mailbox
// on every pass; a service that refuses the fresh round too is the mailbox's error, after one new round, not a loop.
import { afterEach, describe, expect, it } from 'vitest';
import { policyOf } from '../../src/agent/config.ts';
import { runAgentPass } from '../../src/agent/run.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { EwsMeetingDesk, type EwsConnection } from '../../src/targets/ews/meetings.ts';
import { GraphMeetingDesk, type GraphConnection } from '../../src/targets/graph/meetings.ts';
import { CURSOR_REFUSED, type MeetingDesk, type MeetingRequest } from '../../src/targets/meetings.ts';
import { TargetError } from '../../src/targets/target.ts';
import { agentConfig, meeting, NOW, organizerView, ROOM, startWorld, VMR, type AgentWorld, type Protocol } from './harness.ts';

const BASE = 'https://graph.example/v1.0';
const WINDOW = { start: Date.parse('2026-09-01T00:00:00Z'), end: Date.parse('2026-12-01T00:00:00Z') };

function graphAnswering(status: number, sent: string[]): GraphConnection {
  return {
    base: BASE,
    mailboxPath: (m: string) => `/users/${encodeURIComponent(m)}`,
    send: async (_mailbox: string, _method: string, url: string) => {
      sent.push(url);
      if (status !== 200) throw new TargetError('item', 'ErrorInvalidRequest', `HTTP ${status}`, { status });
      return { status: 200, headers: {}, body: JSON.stringify({ value: [], '@odata.deltaLink': `${BASE}/users/x/calendarView/delta?$deltatoken=2` }) };
    },
  } as unknown as GraphConnection;
}

async function codeOf(call: () => Promise<unknown>): Promise<string | null> {
  try {
    await call();
    return null;
  } catch (error) {
    expect(error).toBeInstanceOf(TargetError);
    return (error as TargetError).code;
  }
}

describe('the desks refuse a cursor they cannot use as CursorRefused', () => {
  it('Graph: a stored value that is no delta link of this Graph is never sent (it would carry the app’s token elsewhere)', async () => {
    const sent: string[] = [];
    const desk = new GraphMeetingDesk(graphAnswering(200, sent));
    for (const cursor of ['not a url', 'https://evil.example/v1.0/users/x/calendarView/delta?$deltatoken=1', `${BASE}/users/x/messages`, `${BASE}/users/x/calendarView/delta?$deltatoken=${'a'.repeat(70_000)}`]) {
      expect(await codeOf(() => desk.changes(VMR, cursor, WINDOW))).toBe(CURSOR_REFUSED);
    }
    expect(sent).toEqual([]);
    expect(await codeOf(() => desk.changes(VMR, `${BASE}/users/x/calendarView/delta?$deltatoken=1`, WINDOW))).toBeNull();
  });

  it('Graph: 400 on the stored delta link is CursorRefused; 400 on a fresh round is not', async () => {
    const desk = new GraphMeetingDesk(graphAnswering(400, []));
    expect(await codeOf(() => desk.changes(VMR, `${BASE}/users/x/calendarView/delta?$deltatoken=garbled`, WINDOW))).toBe(CURSOR_REFUSED);
    expect(await codeOf(() => desk.changes(VMR, null, WINDOW))).toBe('ErrorInvalidRequest');
  });

  it('EWS: a stored value that is no SyncState (not base64, too long) is never sent', async () => {
    const calls: string[] = [];
    const ews = { context: (mailbox: string) => ({ mailbox, access: 'impersonation' }), laneFor: () => null, call: async (_m: string, operation: string) => void calls.push(operation) } as unknown as EwsConnection;
    const desk = new EwsMeetingDesk(ews);
    for (const cursor of ['%%% not base64 %%%', '<SyncState/>', 'A'.repeat(1_048_577)]) expect(await codeOf(() => desk.changes(VMR, cursor))).toBe(CURSOR_REFUSED);
    expect(calls).toEqual([]);
  });
});

describe('a pass over a mailbox whose cursor is refused', () => {
  const request: MeetingRequest = {
    uid: 'm1', itemId: 'item-m1', changeKey: null, state: 'pending', informational: false, subject: 'Meeting m1', organizer: 't0001@contoso.edu',
    start: Date.parse('2026-09-07T08:00:00Z'), end: Date.parse('2026-09-07T08:45:00Z'), isAllDay: false, recurrence: null, attendees: [], location: '',
  };

  async function passWith(changes: MeetingDesk['changes']) {
    const clock = fixedClock(NOW);
    const store = new SqliteStore(':memory:', { clock });
    await store.saveAgentCursor(ROOM, 'garbled');
    const answers: string[] = [];
    const desk: MeetingDesk = {
      kind: 'graph',
      changes,
      bookings: async () => ({ bookings: [], next: null }),
      respond: async (_mailbox, req) => void answers.push(req.uid),
      organizerMeeting: async () => null,
      updateOrganizerBody: async () => {
        throw new Error('not used');
      },
    };
    const config = agentConfig('limited').mailboxes[ROOM]!;
    const run = await runAgentPass({ instance: 'agent-test', desk, store, clock, scheduler: new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 }), mailboxes: [{ address: ROOM, config, policy: policyOf(config) }] });
    const cursor = await store.agentCursor(ROOM);
    await store.close();
    return { run, answers, cursor };
  }

  it('starts a new round once, says so, and answers what the new round reads', async () => {
    const { run, answers, cursor } = await passWith(async (_mailbox, cursor) => {
      if (cursor !== null) throw new TargetError('item', CURSOR_REFUSED, 'the stored cursor is not a delta link');
      return { requests: [request], cursor: 'fresh', more: false };
    });
    expect(run.mailboxes[0]).toMatchObject({ newRound: { code: CURSOR_REFUSED, message: 'the stored cursor is not a delta link' } });
    expect(run.mailboxes[0]!.error).toBeUndefined();
    expect(answers).toEqual(['m1']);
    expect(cursor).toBe('fresh');
  });

  it('a service that refuses the fresh round too is the mailbox’s error after one new round, not a loop', async () => {
    const asked: Array<string | null> = [];
    const { run, answers, cursor } = await passWith(async (_mailbox, cursor) => {
      asked.push(cursor);
      throw new TargetError('item', CURSOR_REFUSED, 'refused');
    });
    expect(asked).toEqual(['garbled', null]);
    expect(run.mailboxes[0]).toMatchObject({ newRound: { code: CURSOR_REFUSED }, error: { code: CURSOR_REFUSED } });
    expect(answers).toEqual([]);
    expect(cursor).toBeNull();
  });
});

describe.each<Protocol>(['graph', 'ews'])('over %s, a garbled cursor in the store', (protocol) => {
  let world: AgentWorld | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  it('starts a new round and the booking is answered, pass after pass', async () => {
    world = await startWorld(protocol);
    await world.pass();
    await world.store.saveAgentCursor(VMR, protocol === 'graph' ? 'https://graph.microsoft.com.evil.example/delta' : '%%garbled%%');
    const booked = world.sandbox.outlook('t0001@contoso.edu').createEvent(meeting('After a garbled cursor', [[VMR, 'resource']]));
    const run = await world.pass();
    const vmr = run.mailboxes.find((m) => m.mailbox === VMR)!;
    expect(vmr).toMatchObject({ newRound: { code: CURSOR_REFUSED } });
    expect(vmr.error).toBeUndefined();
    expect(run.outcomes.filter((o) => o.subject === 'After a garbled cursor')).toMatchObject([{ outcome: 'accepted' }]);
    expect(organizerView(world, 't0001@contoso.edu', booked.iCalUId, VMR).response).toBe('accepted');
    const next = await world.pass();
    expect(next.mailboxes.find((m) => m.mailbox === VMR)!.newRound).toBeUndefined();
  });
});
