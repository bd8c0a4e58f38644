// The agent's requests count in Outlook's per-mailbox budget across workers (agent/ledger.ts): each is charged to its
// mailbox in the store's request ledger, and what other workers spent on the mailbox holds the agent back as it
// holds delivery back (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits).
import { describe, expect, it } from 'vitest';
import { policyOf } from '../../src/agent/config.ts';
import { runAgentPass, type AgentPassOptions } from '../../src/agent/run.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { MeetingDesk, MeetingRequest } from '../../src/targets/meetings.ts';
import { agentConfig, NOW, ROOM, VMR } from './harness.ts';

const config = agentConfig('limited');
const WINDOW_MS = 600_000;

function request(uid: string): MeetingRequest {
  return {
    uid, itemId: `item-${uid}`, changeKey: null, state: 'pending', informational: false, subject: `Meeting ${uid}`, organizer: 't0001@contoso.edu',
    start: Date.parse('2026-09-07T08:00:00Z'), end: Date.parse('2026-09-07T08:45:00Z'), isAllDay: false, recurrence: null, attendees: [], location: '',
  };
}

/** A desk with one pending request in ROOM that notes when each of its calls came (ms after `started`). */
function timedDesk() {
  const calls: Array<{ call: string; atMs: number }> = [];
  const started = performance.now();
  const note = (call: string) => calls.push({ call, atMs: performance.now() - started });
  const desk: MeetingDesk = {
    kind: 'graph',
    changes: async () => (note('changes'), { requests: [request('m1')], cursor: 'c1', more: false }),
    bookings: async () => (note('bookings'), { bookings: [], next: null }),
    respond: async () => void note('respond'),
    organizerMeeting: async () => (note('organizerMeeting'), null),
    updateOrganizerBody: async () => {
      throw new Error('not used');
    },
  };
  return { desk, calls };
}

function passOptions(store: SqliteStore, desk: MeetingDesk, scheduler: Scheduler, extra: Partial<AgentPassOptions> = {}): AgentPassOptions {
  return {
    instance: 'agent-test', desk, store, clock: fixedClock(NOW), scheduler,
    mailboxes: [{ address: ROOM, config: config.mailboxes[ROOM]!, policy: policyOf(config.mailboxes[ROOM]!) }],
    ...extra,
  };
}

const spentOn = async (store: SqliteStore, mailbox: string) => (await store.requestsSpentByOthers(mailbox, 'nobody', WINDOW_MS)).reduce((sum, s) => sum + s.cost, 0);

describe('the agent in the request ledger', () => {
  it('charges every request it sends to the mailbox, under its own ledger name', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    const { desk, calls } = timedDesk();
    const clock = fixedClock(NOW);
    const summary = await runAgentPass(passOptions(store, desk, new Scheduler({ clock }), { ledger: { store, id: 'worker-a#agent' } }));
    expect(summary.mailboxes[0]!.counts.accepted).toBe(1);
    expect(calls.map((c) => c.call)).toEqual(['changes', 'bookings', 'respond']);
    expect(await spentOn(store, ROOM)).toBe(3);
    // Its own spend is not "spent elsewhere" for it, and is for everyone else (a delivery of the room, another worker).
    expect(await store.requestsSpentByOthers(ROOM, 'worker-a#agent', WINDOW_MS)).toEqual([]);
    await store.close();
  });

  it('charges what it reads of an organiser’s meeting (full mode) to the organiser’s mailbox', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    const { desk, calls } = timedDesk();
    const full = agentConfig('full');
    await runAgentPass({ ...passOptions(store, desk, new Scheduler({ clock: fixedClock(NOW) }), { ledger: { store, id: 'worker-a#agent' } }), mailboxes: [{ address: VMR, config: full.mailboxes[VMR]!, policy: policyOf(full.mailboxes[VMR]!) }] });
    expect(calls.map((c) => c.call)).toContain('organizerMeeting');
    expect(await spentOn(store, 't0001@contoso.edu')).toBe(calls.filter((c) => c.call === 'organizerMeeting').length);
    expect(await spentOn(store, VMR)).toBe(calls.filter((c) => c.call !== 'organizerMeeting').length);
    await store.close();
  });

  it('waits while other workers have spent the mailbox’s budget, and not without them', async () => {
    const budget = { requests: 3, windowMs: 600 };
    const firstCall = async (othersSpent: number) => {
      const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
      if (othersSpent) await store.chargeRequests(ROOM, 'worker-b#1', othersSpent);
      const { desk, calls } = timedDesk();
      await runAgentPass(passOptions(store, desk, new Scheduler({ clock: fixedClock(NOW), mailboxBudget: budget }), { ledger: { store, id: 'worker-a#agent' } }));
      await store.close();
      return calls[0]!.atMs;
    };
    expect(await firstCall(0)).toBeLessThan(300);
    // Worker b sent the room its whole budget just now: the agent's first read waits for the window to pass.
    expect(await firstCall(3)).toBeGreaterThanOrEqual(450);
  });
});
