// A pass over agent mailboxes as several workers run it (each `calpush serve` runs the agent): a mailbox is answered
// by the one pass holding its lease, and every mailbox's pass ends before the pass does, whatever fails.
import { describe, expect, it, vi } from 'vitest';
import { policyOf } from '../../src/agent/config.ts';
import { agentLeaseOwner, runAgentPass, type AgentPassOptions } from '../../src/agent/run.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { MeetingChanges, MeetingDesk, MeetingRequest } from '../../src/targets/meetings.ts';
import { agentConfig, NOW, ROOM, VMR } from './harness.ts';

const config = agentConfig('limited');

function request(uid: string): MeetingRequest {
  return {
    uid, itemId: `item-${uid}`, changeKey: null, state: 'pending', informational: false, subject: `Meeting ${uid}`, organizer: 't0001@contoso.edu',
    start: Date.parse('2026-09-07T08:00:00Z'), end: Date.parse('2026-09-07T08:45:00Z'), isAllDay: false, recurrence: null, attendees: [], location: '',
  };
}

/** A desk whose `changes` answers each mailbox by `changes` (one page), and records every answer sent. */
function fakeDesk(changes: (mailbox: string) => Promise<MeetingChanges>) {
  const answers: Array<{ mailbox: string; uid: string; reply: string }> = [];
  const reads: string[] = [];
  const desk: MeetingDesk = {
    kind: 'graph',
    changes: (mailbox) => {
      reads.push(mailbox);
      return changes(mailbox);
    },
    bookings: async () => ({ bookings: [], next: null }),
    respond: async (mailbox, req, reply) => void answers.push({ mailbox, uid: req.uid, reply }),
    organizerMeeting: async () => null,
    updateOrganizerBody: async () => {
      throw new Error('not used');
    },
  };
  return { desk, answers, reads };
}

function passOptions(store: SqliteStore, desk: MeetingDesk, addresses: string[], extra: Partial<AgentPassOptions> = {}): AgentPassOptions {
  const clock = fixedClock(NOW);
  return {
    instance: 'agent-test', desk, store, clock,
    scheduler: new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 }),
    mailboxes: addresses.map((address) => ({ address, config: config.mailboxes[address]!, policy: policyOf(config.mailboxes[address]!) })),
    ...extra,
  };
}

describe('the agent on several workers sharing a store', () => {
  it('answers a request once when two workers pass over the mailbox at the same time', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const { desk, answers } = fakeDesk(async () => {
      await gate;
      return { requests: [request('m1')], cursor: 'c1', more: false };
    });
    const passes = ['worker-a', 'worker-b'].map((worker) => runAgentPass(passOptions(store, desk, [ROOM], { leases: { store, owner: agentLeaseOwner(worker) } })));
    await new Promise((resolve) => setTimeout(resolve, 20));
    release();
    const [a, b] = await Promise.all(passes);
    expect(answers).toEqual([{ mailbox: ROOM, uid: 'm1', reply: 'accept' }]);
    expect([a!.mailboxes[0]!.busy, b!.mailboxes[0]!.busy].filter(Boolean)).toHaveLength(1);
    // The lease is given back at the end of the pass: the next pass (of either worker) reads the mailbox.
    expect(await store.leaseHolder(ROOM)).toBeNull();
    await store.close();
  });

  it('leaves a mailbox whose lease delivery (or another worker) holds to the next pass, without an error', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    await store.claimMailbox(ROOM, 'worker-b', 60_000);
    const { desk, answers, reads } = fakeDesk(async () => ({ requests: [request('m1')], cursor: 'c1', more: false }));
    const run = await runAgentPass(passOptions(store, desk, [ROOM], { leases: { store, owner: agentLeaseOwner('worker-a') } }));
    expect(run.mailboxes).toEqual([{ mailbox: ROOM, counts: expect.any(Object), busy: true }]);
    expect(reads).toEqual([]);
    expect(answers).toEqual([]);
    await store.close();
  });
});

describe('a worker that lost its lease mid-pass (paused past the lease, another worker took over)', () => {
  it('writes nothing more: its record and cursor are refused with LeaseLost, the holder’s state stands', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    const { desk } = fakeDesk(async () => {
      // The pause: between the pass's lease check and its writes, the lease expired and worker-b took the mailbox.
      await store.takeOverMailbox(ROOM, agentLeaseOwner('worker-a'), agentLeaseOwner('worker-b'), 60_000);
      return { requests: [request('m1')], cursor: 'c-stale', more: false };
    });
    const run = await runAgentPass(passOptions(store, desk, [ROOM], { leases: { store, owner: agentLeaseOwner('worker-a') } }));
    expect(run.mailboxes[0]!.error).toMatchObject({ code: 'LeaseLost' });
    expect(await store.agentCursor(ROOM)).toBeNull();
    expect(await store.agentMeeting(ROOM, 'm1')).toBeNull();
    expect(await store.leaseHolder(ROOM)).toBe(agentLeaseOwner('worker-b'));
    await store.close();
  });
});

describe('a mailbox whose pass fails with something other than a service error', () => {
  it('is that mailbox’s InternalError; the pass ends only when every other mailbox’s pass has', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    const { desk, answers } = fakeDesk(async (mailbox) => {
      if (mailbox === VMR) throw new TypeError('value.map is not a function');
      await new Promise((resolve) => setTimeout(resolve, 20));
      return { requests: [request('m1')], cursor: 'c1', more: false };
    });
    const run = await runAgentPass(passOptions(store, desk, [VMR, ROOM]));
    expect(run.mailboxes.find((m) => m.mailbox === VMR)!.error).toMatchObject({ code: 'InternalError', message: expect.stringContaining('value.map is not a function') });
    expect(run.mailboxes.find((m) => m.mailbox === ROOM)!.error).toBeUndefined();
    expect(answers).toEqual([{ mailbox: ROOM, uid: 'm1', reply: 'accept' }]);
    expect(await store.agentCursor(ROOM)).toBe('c1');
    await store.close();
  });
});

describe('a VMR meeting’s alias number', () => {
  it('is held until the meeting ends; a series until its last occurrence’s end where the service says it, else until released', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    const allocate = vi.spyOn(store, 'allocateAlias');
    const single = request('single');
    const series = { ...request('series'), recurrence: { occurrences: 3, until: Date.parse('2026-09-21T00:00:00Z') } };
    const endless = { ...request('endless'), recurrence: { occurrences: null } };
    const { desk } = fakeDesk(async () => ({ requests: [single, series, endless], cursor: 'c1', more: false }));
    await runAgentPass(passOptions(store, desk, [VMR]));
    expect(allocate.mock.calls.map(([, uid, , heldUntil]) => [uid, heldUntil])).toEqual([
      ['single', single.end],
      ['series', Date.parse('2026-09-21T00:00:00Z') + (single.end - single.start)],
      ['endless', null],
    ]);
    await store.close();
  });
});

describe('the conflict lookup of a room', () => {
  function deskWithBookings(pages: Array<{ bookings: Array<{ uid: string; start: number; end: number }>; next: string | null }> | 'endless') {
    const asked: Array<string | null> = [];
    const { desk, answers } = fakeDesk(async () => ({ requests: [request('m1')], cursor: 'c1', more: false }));
    desk.bookings = async (_mailbox, _start, _end, next) => {
      asked.push(next ?? null);
      if (pages === 'endless') return { bookings: [], next: `page-${asked.length}` };
      return pages[next ? Number(next) : 0]!;
    };
    return { desk, answers, asked };
  }

  it('reads every page: a conflict on the second page declines', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    const m = request('m1');
    const { desk, answers, asked } = deskWithBookings([
      { bookings: [], next: '1' },
      { bookings: [{ uid: 'other', start: m.start, end: m.end }], next: null },
    ]);
    await runAgentPass(passOptions(store, desk, [ROOM]));
    expect(asked).toEqual([null, '1']);
    expect(answers).toEqual([{ mailbox: ROOM, uid: 'm1', reply: 'decline' }]);
    await store.close();
  });

  it('answers tentatively, with the reason, when the pages do not end within the bound', async () => {
    const store = new SqliteStore(':memory:', { clock: fixedClock(NOW) });
    const { desk, answers, asked } = deskWithBookings('endless');
    const run = await runAgentPass(passOptions(store, desk, [ROOM]));
    expect(asked).toHaveLength(10);
    expect(answers).toEqual([{ mailbox: ROOM, uid: 'm1', reply: 'tentative' }]);
    expect(run.outcomes[0]).toMatchObject({ outcome: 'tentative', rule: 'conflict', reason: expect.stringContaining('more bookings') });
    await store.close();
  });
});
