// A cancellation takes a meeting off the agent mailbox's calendar only when this agent put it there (accepted or
// tentatively accepted, as its store records): the agent changes only what it added. A meeting someone answered by
// hand, or one from before the agent's store (a lost database), is left as it is.
import { describe, expect, it } from 'vitest';
import { policyOf } from '../../src/agent/config.ts';
import { runAgentPass } from '../../src/agent/run.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { MeetingDesk, MeetingRequest } from '../../src/targets/meetings.ts';
import { agentConfig, NOW, ROOM } from './harness.ts';

const clock = fixedClock(NOW);
const start = Date.parse(NOW) + 2 * 86_400_000 + 3_600_000;

function request(state: MeetingRequest['state']): MeetingRequest {
  return { uid: 'uid-1', itemId: `item-${state}`, changeKey: null, state, informational: false, subject: 'Planning', organizer: 't0001@contoso.edu', start, end: start + 3_600_000, isAllDay: false, recurrence: null, attendees: [{ address: ROOM, type: 'resource' }], location: '' };
}

/** A desk that hands out the given pages one pass at a time and records what it was asked to remove. */
function deskOf(pages: MeetingRequest[][]): MeetingDesk & { removed: string[] } {
  let pass = 0;
  const removed: string[] = [];
  return {
    kind: 'ews',
    removed,
    changes: async () => ({ requests: pages[pass++] ?? [], cursor: `c${pass}`, more: false }),
    bookings: async () => ({ bookings: [], next: null }),
    respond: async () => {},
    removeCancelled: async (_mailbox, r) => {
      removed.push(r.itemId);
    },
    organizerMeeting: async () => null,
    updateOrganizerBody: async (_o, meeting) => meeting,
  };
}

async function passes(pages: MeetingRequest[][]) {
  const store = new SqliteStore(':memory:', { clock });
  const desk = deskOf(pages);
  const config = agentConfig().mailboxes[ROOM]!;
  const mailboxes = [{ address: ROOM, config, policy: policyOf(config) }];
  const scheduler = new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 });
  for (let n = 0; n < pages.length; n++) await runAgentPass({ instance: 'agent-test', desk, scheduler, store, mailboxes, clock });
  await store.close();
  return desk.removed;
}

describe('a cancelled meeting on the agent mailbox', () => {
  it('is taken off the calendar when the agent had accepted it', async () => {
    expect(await passes([[request('pending')], [request('cancelled')]])).toEqual(['item-cancelled']);
  });

  it('is left alone when the agent never answered it (answered by hand, or before a lost store)', async () => {
    expect(await passes([[request('cancelled')]])).toEqual([]);
  });

  /** Three passes; the second's removal "dies" (a throw no handler expects) after or before taking the meeting off. */
  async function crashing(when: 'after' | 'before', pages: MeetingRequest[][]) {
    const store = new SqliteStore(':memory:', { clock });
    const desk = deskOf(pages);
    const remove = desk.removeCancelled!.bind(desk);
    let crashes = 1;
    desk.removeCancelled = async (mailbox, r) => {
      if (crashes-- > 0) {
        if (when === 'after') await remove(mailbox, r);
        throw new Error('the process died here');
      }
      await remove(mailbox, r);
    };
    const config = agentConfig().mailboxes[ROOM]!;
    const mailboxes = [{ address: ROOM, config, policy: policyOf(config) }];
    const scheduler = new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 });
    for (let n = 0; n < pages.length; n++) await runAgentPass({ instance: 'agent-test', desk, scheduler, store, mailboxes, clock });
    const row = await store.agentMeeting(ROOM, 'uid-1');
    const unsettled = await store.unsettledAgentMeetings(ROOM);
    await store.close();
    return { removed: desk.removed, row, unsettled };
  }

  it('a crash between taking it off the calendar and its record is completed by the next pass: the record says cancelled', async () => {
    // The removal took the cancellation out of the inbox too (EWS RemoveItem): the next pass does not see it again.
    const { removed, row, unsettled } = await crashing('after', [[request('pending')], [request('cancelled')], []]);
    expect(removed).toEqual(['item-cancelled']);
    expect(row).toMatchObject({ answer: 'cancelled', settled: true, alias: null });
    expect(unsettled).toEqual([]);
  });

  it('a crash before it was taken off: the cancellation read again takes it off, once', async () => {
    const { removed, row } = await crashing('before', [[request('pending')], [request('cancelled')], [request('cancelled')], [request('cancelled')]]);
    expect(removed).toEqual(['item-cancelled']);
    expect(row).toMatchObject({ answer: 'cancelled', settled: true });
  });
});
