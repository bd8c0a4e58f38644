// The resource agent end to end against the sandbox, over Graph and over EWS alike: Pexip's VMR flow (accepted with
// joining instructions in the organiser's meeting, its own alias per meeting, kept when the organiser moves it,
// released when cancelled), every policy rule on a room, the limited mode, and no answer twice across a restart.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findBlock } from '../../src/agent/instructions.ts';
import { agentConfig, copyOf, meeting, organizerView, responses, ROOM, startWorld, VMR, type AgentWorld, type Protocol } from './harness.ts';

const T1 = 't0001@contoso.edu';
const T2 = 't0002@contoso.edu';
const STUDENT = 's0040@contoso.edu';

const PROTOCOLS: Protocol[] = ['graph', 'ews'];

describe.each(PROTOCOLS)('the resource agent over %s', (protocol) => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startWorld(protocol);
  });
  afterAll(async () => {
    await world?.close();
  });

  const book = (organizer: string, body: Record<string, unknown>) => world.sandbox.outlook(organizer).createEvent(body);
  const outcomeOf = (summary: Awaited<ReturnType<AgentWorld['pass']>>, subject: string) => summary.outcomes.filter((o) => o.subject === subject || o.subject === `Canceled: ${subject}`);

  describe('the VMR equipment mailbox (full mode)', () => {
    let first: ReturnType<typeof book>;
    const firstBody = meeting('Project review', [[STUDENT, 'required'], [VMR, 'resource']]);

    it('accepts a booking and puts the joining instructions in the organiser’s meeting; the attendees get them', async () => {
      first = book(T1, firstBody);
      const summary = await world.pass();
      expect(outcomeOf(summary, 'Project review')).toMatchObject([{ outcome: 'accepted', alias: 'vmr1001', instructions: 'body' }]);
      const organizer = organizerView(world, T1, first.iCalUId, VMR);
      expect(organizer.response).toBe('accepted');
      expect(organizer.event!.body.content).toContain('<p>Project review: agenda</p>');
      expect(findBlock({ contentType: 'html', content: organizer.event!.body.content }, 'agent-test').state).toBe('ours');
      expect(organizer.event!.body.content).toContain('https://vmr.contoso.edu/vmr1001');
      expect(organizer.event!.body.content).toContain('dial +31 20 555 0100 and enter 1001');
      // The student's copy took the organiser's update.
      expect(copyOf(world, STUDENT, first.iCalUId)!.body.content).toContain('vmr1001');
      expect(responses(world, T1, 'Project review').map((m) => m.type)).toEqual(['meetingAccepted']);
    });

    it('a second meeting at the same time is accepted too (AllowConflicts), with its own alias', async () => {
      const second = book(T2, { ...meeting('Parallel call', [[VMR, 'resource']]), start: firstBody['start'], end: firstBody['end'] });
      const summary = await world.pass();
      expect(outcomeOf(summary, 'Parallel call')).toMatchObject([{ outcome: 'accepted', alias: 'vmr1002' }]);
      expect(organizerView(world, T2, second.iCalUId, VMR).event!.body.content).toContain('vmr1002');
    });

    it('the organiser moves the meeting: still accepted, the instructions still there, the same alias', async () => {
      world.sandbox.outlook(T1).updateEvent(first.id, { start: { dateTime: '2026-09-24T13:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-24T14:00:00', timeZone: 'UTC' } });
      const summary = await world.pass();
      expect(outcomeOf(summary, 'Project review')).toMatchObject([{ outcome: 'accepted', alias: 'vmr1001', instructions: 'body' }]);
      const organizer = organizerView(world, T1, first.iCalUId, VMR);
      expect(organizer.response).toBe('accepted');
      expect(organizer.event!.body.content.match(/calpush-joining-instructions v1/g)).toHaveLength(1);
      expect(organizer.event!.body.content).toContain('vmr1001');
      expect((await world.store.agentMeeting(VMR, first.iCalUId))!.startMs).toBe(Date.parse('2026-09-24T13:00:00Z'));
    });

    it('an organiser’s own edit outside the block stays; our block is never duplicated', async () => {
      const current = organizerView(world, T1, first.iCalUId, VMR).event!;
      world.sandbox.outlook(T1).updateEvent(first.id, { body: { contentType: 'html', content: current.body.content.replace('agenda', 'agenda (updated)') } });
      await world.pass();
      const after = organizerView(world, T1, first.iCalUId, VMR);
      expect(after.event!.body.content).toContain('agenda (updated)');
      expect(after.event!.body.content.match(/calpush-joining-instructions v1/g)).toHaveLength(1);
      expect(after.response).toBe('accepted');
    });

    it('cancelled: recorded, and its alias goes to the next meeting', async () => {
      world.sandbox.outlook(T1).cancel(first.id, 'Not needed');
      const summary = await world.pass();
      expect(outcomeOf(summary, 'Project review').map((o) => o.outcome)).toContain('cancelled');
      expect((await world.store.agentMeeting(VMR, first.iCalUId))!.answer).toBe('cancelled');
      const next = book(T2, meeting('Next call', [[VMR, 'resource']]));
      const again = await world.pass();
      expect(outcomeOf(again, 'Next call')).toMatchObject([{ outcome: 'accepted', alias: 'vmr1001' }]);
      expect(organizerView(world, T2, next.iCalUId, VMR).response).toBe('accepted');
    });

    it('every request was valid: EWS requests against messages.xsd / types.xsd (the sandbox runs xmllint on each), Graph bodies against the CSDL', () => {
      const ews = world.sandbox.ews.stats();
      expect(ews.schemaRejected).toBe(0);
      if (protocol === 'ews') expect(ews.schemaValidationRuns).toBeGreaterThan(10);
      expect(world.sandbox.stats().withoutClientRequestId).toBe(0);
    });

    it('a pass with nothing new answers nothing: no second response, no second update', async () => {
      const before = world.sandbox.listMessages(T2).length;
      const summary = await world.pass();
      expect(summary.outcomes.filter((o) => o.outcome !== 'unchanged')).toEqual([]);
      expect(world.sandbox.listMessages(T2).length).toBe(before);
    });
  });

  describe('a room: every rule of its policy', () => {
    const decline = async (subject: string, organizer: string, body: Record<string, unknown>, reason: RegExp, rule: string) => {
      const event = book(organizer, body);
      const summary = await world.pass();
      expect(outcomeOf(summary, subject)).toMatchObject([{ outcome: 'declined', rule }]);
      expect(organizerView(world, organizer, event.iCalUId, ROOM).response).toBe('declined');
      const [answer] = responses(world, organizer, subject);
      expect(answer).toMatchObject({ type: 'meetingDeclined' });
      expect(answer!.body).toMatch(reason);
      expect(copyOf(world, ROOM, event.iCalUId)).toBeUndefined();
    };

    it('accepts a booking within every rule, and declines a clash with it', async () => {
      const body = meeting('Room booking', [[STUDENT, 'required'], [ROOM, 'resource']]);
      const booked = book(T1, body);
      const summary = await world.pass();
      expect(outcomeOf(summary, 'Room booking')).toMatchObject([{ outcome: 'accepted' }]);
      expect(organizerView(world, T1, booked.iCalUId, ROOM).response).toBe('accepted');
      expect(copyOf(world, ROOM, booked.iCalUId)!.showAs).toBe('busy');
      const clash = { ...meeting('Clashing booking', [[ROOM, 'resource']]), start: body['start'], end: body['end'] };
      await decline('Clashing booking', T2, clash, /already booked/, 'conflict');
    });

    it('declines an organiser not allowed to book it', () => decline('Student booking', STUDENT, meeting('Student booking', [[ROOM, 'resource']]), /s0040@contoso.edu is not allowed/, 'organizer'));

    it('declines beyond the booking window', () =>
      decline('Far ahead', T1, { ...meeting('Far ahead', [[ROOM, 'resource']]), start: { dateTime: '2026-12-01T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-12-01T10:00:00', timeZone: 'UTC' } }, /more than 60 days ahead/, 'bookingWindow'));

    it('declines a meeting longer than the maximum', () =>
      decline('Long one', T1, { ...meeting('Long one', [[ROOM, 'resource']]), start: { dateTime: '2026-09-16T06:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-16T11:00:00', timeZone: 'UTC' } }, /longer than 240 minutes/, 'maximumDuration'));

    it('declines outside working hours (Amsterdam time)', () =>
      decline('Evening', T1, { ...meeting('Evening', [[ROOM, 'resource']]), start: { dateTime: '2026-09-16T16:30:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-16T17:00:00', timeZone: 'UTC' } }, /outside this resource's working hours/, 'workingHours'));

    it('declines more attendees than seats', () =>
      decline('Crowded', T1, meeting('Crowded', [['s0041@contoso.edu', 'required'], ['s0042@contoso.edu', 'required'], ['s0043@contoso.edu', 'optional'], ['s0044@contoso.edu', 'required'], [ROOM, 'resource']]), /4 attendees; this room seats 3/, 'capacity'));

    it('declines a meeting in the past', () =>
      decline('Yesterday', T1, { ...meeting('Yesterday', [[ROOM, 'resource']]), start: { dateTime: '2026-08-31T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-08-31T10:00:00', timeZone: 'UTC' } }, /in the past/, 'past'));

    it('an accepted booking the organiser moves into a clash is declined; the room is free again', async () => {
      const first = book(T1, meeting('Stays', [[ROOM, 'resource']]));
      const movingBody = meeting('Moves', [[ROOM, 'resource']]);
      const moving = book(T2, movingBody);
      await world.pass();
      expect(organizerView(world, T2, moving.iCalUId, ROOM).response).toBe('accepted');
      const stays = copyOf(world, ROOM, first.iCalUId)!;
      world.sandbox.outlook(T2).updateEvent(moving.id, { start: { dateTime: stays.start.dateTime.slice(0, 19), timeZone: 'UTC' }, end: { dateTime: stays.end.dateTime.slice(0, 19), timeZone: 'UTC' } });
      const summary = await world.pass();
      expect(outcomeOf(summary, 'Moves')).toMatchObject([{ outcome: 'declined', rule: 'conflict' }]);
      expect(organizerView(world, T2, moving.iCalUId, ROOM).response).toBe('declined');
      expect(organizerView(world, T1, first.iCalUId, ROOM).response).toBe('accepted');
    });
  });
});

describe.each(PROTOCOLS)('limited mode and restarts over %s', (protocol) => {
  let world: AgentWorld;
  beforeAll(async () => {
    world = await startWorld(protocol, agentConfig('limited'));
  });
  afterAll(async () => {
    await world?.close();
  });

  it('limited mode: the instructions travel in the acceptance; the organiser’s meeting is not touched', async () => {
    const body = meeting('Limited call', [[VMR, 'resource']]);
    const event = world.sandbox.outlook(T1).createEvent(body);
    const summary = await world.pass();
    expect(summary.outcomes).toMatchObject([{ subject: 'Limited call', outcome: 'accepted', alias: 'vmr1001', instructions: 'comment' }]);
    const [accepted] = responses(world, T1, 'Limited call');
    expect(accepted!.body).toContain('https://vmr.contoso.edu/vmr1001');
    expect(accepted!.body).toContain('Your request was accepted.');
    expect(organizerView(world, T1, event.iCalUId, VMR).event!.body.content).toBe(body['body'] && (body['body'] as { content: string }).content);
  });

  it('a forgotten cursor starts a new round without answering anything twice', async () => {
    world.sandbox.faults.expireSyncStates();
    const before = world.sandbox.listMessages(T1).length;
    const summary = await world.pass();
    expect(summary.mailboxes.every((m) => m.error === undefined)).toBe(true);
    expect(summary.outcomes.filter((o) => o.outcome !== 'unchanged')).toEqual([]);
    expect(world.sandbox.listMessages(T1).length).toBe(before);
  });

  it('a store that lost the cursor reads from the start and answers nothing twice (the copies are answered already)', async () => {
    world.sandbox.outlook(T2).createEvent(meeting('After restart', [[VMR, 'resource']]));
    await world.pass();
    await world.store.saveAgentCursor(VMR, null);
    const again = await world.pass();
    expect(again.outcomes.filter((o) => o.outcome !== 'unchanged')).toEqual([]);
    expect(responses(world, T2, 'After restart')).toHaveLength(1);
  });
});
