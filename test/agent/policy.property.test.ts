// The resource agent's pure policy (src/agent/policy.ts) and the joining-instructions block (src/agent/instructions.ts),
// by properties: every rule declines exactly what breaks it, widening a policy never turns an accept into a
// decline, conflicts allowed never decline a clash, and the block never changes a byte of the body outside it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decide, ROOM_DEFAULTS, VMR_DEFAULTS, withinWorkingHours, type AgentPolicy, type BookingRequest, type CalendarView, type Rule } from '../../src/agent/policy.ts';
import { block, findBlock, withInstructions, withoutInstructions, type Body } from '../../src/agent/instructions.ts';

const NOW = Date.parse('2026-09-01T08:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A request that no rule of `lenient` refuses: a weekday 10:00–11:00 in Amsterdam, within a week. */
function good(overrides: Partial<BookingRequest> = {}): BookingRequest {
  return { uid: 'u1', organizer: 'ann@contoso.edu', start: Date.parse('2026-09-02T08:00:00Z'), end: Date.parse('2026-09-02T09:00:00Z'), isAllDay: false, recurrence: null, attendeeCount: 4, ...overrides };
}
const strict: AgentPolicy = {
  bookingWindowDays: 30,
  maximumDurationMinutes: 120,
  workingHours: { timeZone: 'Europe/Amsterdam', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' },
  recurring: { allowed: true, maxOccurrences: 10 },
  organizers: { addresses: ['guest@example.org'], domains: ['contoso.edu'], groups: [] },
  conflicts: 'decline',
  capacity: { seats: 8, over: 'decline' },
};
const empty: CalendarView = { now: NOW, busy: [] };

describe('decide: each rule declines what breaks it, and names itself', () => {
  const cases: Array<[Rule, Partial<BookingRequest>, Partial<AgentPolicy>?, CalendarView?]> = [
    ['organizer', { organizer: 'eve@example.com' }],
    ['past', { start: NOW - 2 * HOUR, end: NOW - HOUR }],
    ['bookingWindow', { start: NOW + 40 * DAY + 2 * HOUR, end: NOW + 40 * DAY + 3 * HOUR }],
    ['maximumDuration', { end: Date.parse('2026-09-02T11:00:00Z') }],
    ['workingHours', { start: Date.parse('2026-09-02T17:00:00Z'), end: Date.parse('2026-09-02T17:30:00Z') }],
    ['workingHours', { start: Date.parse('2026-09-05T08:00:00Z'), end: Date.parse('2026-09-05T09:00:00Z') }], // a Saturday
    ['workingHours', { isAllDay: true }],
    ['recurring', { recurrence: { occurrences: 3 } }, { recurring: { allowed: false, maxOccurrences: null } }],
    ['occurrences', { recurrence: { occurrences: 11 } }],
    ['occurrences', { recurrence: { occurrences: null } }],
    ['capacity', { attendeeCount: 9 }],
    ['conflict', {}, {}, { now: NOW, busy: [{ uid: 'other', start: Date.parse('2026-09-02T08:30:00Z'), end: Date.parse('2026-09-02T10:00:00Z') }] }],
  ];
  for (const [rule, request, policy, calendar] of cases) {
    it(`${rule}: ${JSON.stringify(request)}`, () => {
      const decision = decide(good(request), { ...strict, ...policy }, calendar ?? empty);
      expect(decision).toMatchObject({ answer: 'decline', rule });
      expect(decision.reason.length).toBeGreaterThan(10);
    });
  }

  it('accepts what breaks none, the guest named by address too', () => {
    expect(decide(good(), strict, empty)).toEqual({ answer: 'accept', reason: 'Your request was accepted.' });
    expect(decide(good({ organizer: 'Guest@Example.org' }), strict, empty).answer).toBe('accept');
    expect(decide(good({ recurrence: { occurrences: 10 } }), strict, empty).answer).toBe('accept');
  });

  it('a capacity set to tentative answers tentatively, with the reason', () => {
    const decision = decide(good({ attendeeCount: 12 }), { ...strict, capacity: { seats: 8, over: 'tentative' } }, empty);
    expect(decision).toMatchObject({ answer: 'tentative', rule: 'capacity' });
    expect(decision.reason).toMatch(/12 attendees; this room seats 8/);
  });

  it('its own earlier booking is no clash; a meeting that ends when another starts is none either', () => {
    const busy = [{ uid: 'u1', start: good().start, end: good().end }, { uid: 'x', start: good().end, end: good().end + HOUR }];
    expect(decide(good(), strict, { now: NOW, busy }).answer).toBe('accept');
  });

  it('working hours are read in their zone, across a daylight-saving change', () => {
    const hours = { timeZone: 'Europe/Amsterdam', days: ['sun' as const], start: '01:00', end: '05:00' };
    // 25 Oct 2026: 03:00 CEST becomes 02:00 CET. 01:30 CEST = 23:30Z, 03:30 CET = 02:30Z.
    expect(withinWorkingHours({ start: Date.parse('2026-10-24T23:30:00Z'), end: Date.parse('2026-10-25T02:30:00Z'), isAllDay: false }, hours)).toBe(true);
    expect(withinWorkingHours({ start: Date.parse('2026-10-24T23:30:00Z'), end: Date.parse('2026-10-25T04:30:00Z'), isAllDay: false }, hours)).toBe(false);
    // Ending at midnight is the end of the day, not the next one.
    expect(withinWorkingHours({ start: Date.parse('2026-09-02T20:00:00Z'), end: Date.parse('2026-09-02T22:00:00Z'), isAllDay: false }, { ...hours, days: ['wed'], start: '20:00', end: '24:00' })).toBe(true);
  });
});

// ---- properties ---------------------------------------------------------------------------------------------------

const arbRequest: fc.Arbitrary<BookingRequest> = fc.record({
  uid: fc.constantFrom('u1', 'u2', 'u3'),
  organizer: fc.constantFrom('ann@contoso.edu', 'bob@staff.contoso.edu', 'eve@example.com', 'guest@example.org'),
  start: fc.integer({ min: NOW - 2 * DAY, max: NOW + 400 * DAY }),
  duration: fc.integer({ min: 1, max: 3 * DAY }),
  isAllDay: fc.boolean(),
  recurrence: fc.option(fc.record({ occurrences: fc.option(fc.integer({ min: 1, max: 100 })) })),
  attendeeCount: fc.integer({ min: 0, max: 200 }),
}).map(({ duration, ...r }) => ({ ...r, end: r.start + duration }));

const arbPolicy: fc.Arbitrary<AgentPolicy> = fc.record({
  bookingWindowDays: fc.integer({ min: 0, max: 1080 }),
  maximumDurationMinutes: fc.integer({ min: 0, max: 1440 }),
  workingHours: fc.option(
    fc.record({
      timeZone: fc.constantFrom('Europe/Amsterdam', 'America/St_Johns', 'Asia/Kolkata', 'UTC', 'Pacific/Chatham'),
      days: fc.subarray(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const).map((d) => [...d]),
      start: fc.constantFrom('00:00', '07:30', '08:00', '12:00'),
      end: fc.constantFrom('12:00', '17:45', '18:00', '24:00'),
    }),
  ),
  recurring: fc.record({ allowed: fc.boolean(), maxOccurrences: fc.option(fc.integer({ min: 1, max: 50 })) }),
  organizers: fc.option(fc.record({ addresses: fc.subarray(['guest@example.org', 'eve@example.com']), domains: fc.subarray(['contoso.edu', 'staff.contoso.edu']), groups: fc.subarray(['staff@contoso.edu']) })),
  conflicts: fc.constantFrom('decline' as const, 'allow' as const),
  capacity: fc.option(fc.record({ seats: fc.integer({ min: 1, max: 120 }), over: fc.constantFrom('decline' as const, 'tentative' as const) })),
});

const arbCalendar: fc.Arbitrary<CalendarView> = fc.array(
  fc.record({ uid: fc.constantFrom('u1', 'u2', 'u3', 'v'), start: fc.integer({ min: NOW - DAY, max: NOW + 400 * DAY }), length: fc.integer({ min: 1, max: DAY }) }).map(({ length, ...b }) => ({ ...b, end: b.start + length })),
  { maxLength: 8 },
).map((busy) => ({ now: NOW, busy }));

/** The same policy with every limit lifted one notch wider. */
function widened(policy: AgentPolicy): AgentPolicy {
  return {
    bookingWindowDays: policy.bookingWindowDays === 0 ? 0 : policy.bookingWindowDays + 1,
    maximumDurationMinutes: policy.maximumDurationMinutes === 0 ? 0 : policy.maximumDurationMinutes + 1,
    workingHours: null,
    recurring: { allowed: true, maxOccurrences: null },
    organizers: null,
    conflicts: 'allow',
    capacity: policy.capacity ? { ...policy.capacity, seats: policy.capacity.seats + 1 } : null,
  };
}

describe('decide, by property', () => {
  it('always answers, with a reason; every refusal names its rule', () => {
    fc.assert(
      fc.property(arbRequest, arbPolicy, arbCalendar, (request, policy, calendar) => {
        const decision = decide(request, policy, calendar);
        expect(decision.reason).not.toBe('');
        if (decision.answer !== 'accept') expect(decision.rule).toBeTruthy();
        if (decision.answer === 'tentative') expect(decision.rule).toBe('capacity');
        expect(decide(request, policy, calendar)).toEqual(decision);
      }),
    );
  });

  it('widening a policy never turns an accept into a refusal', () => {
    fc.assert(
      fc.property(arbRequest, arbPolicy, arbCalendar, (request, policy, calendar) => {
        if (decide(request, policy, calendar).answer === 'accept') expect(decide(request, widened(policy), calendar).answer).toBe('accept');
      }),
    );
  });

  it('adding a member to an allowed group never turns an accept into a decline (the member is the organiser, or not)', () => {
    const people = ['ann@contoso.edu', 'bob@staff.contoso.edu', 'eve@example.com', 'guest@example.org'];
    fc.assert(
      fc.property(arbRequest, arbPolicy, arbCalendar, fc.subarray(people), fc.constantFrom(...people), (request, policy, calendar, members, added) => {
        const before = decide(request, policy, calendar, new Set(members));
        const after = decide(request, policy, calendar, new Set([...members, added]));
        if (before.answer === 'accept') expect(after.answer).toBe('accept');
        // And a member is allowed: the organiser rule never refuses someone in the set of a policy with groups.
        if (policy.organizers?.groups.length && members.includes(request.organizer) && after.answer !== 'accept') expect(after.rule).not.toBe('organizer');
      }),
    );
  });

  it('with conflicts allowed (the VMR mailbox) no clash is ever a reason; with decline every accept has no clash', () => {
    fc.assert(
      fc.property(arbRequest, arbPolicy, arbCalendar, (request, policy, calendar) => {
        const allowing = decide(request, { ...policy, conflicts: 'allow' }, calendar);
        if (allowing.answer !== 'accept') expect(allowing.rule).not.toBe('conflict');
        const declining = decide(request, { ...policy, conflicts: 'decline' }, calendar);
        if (declining.answer === 'accept') {
          expect(calendar.busy.some((b) => b.uid !== request.uid && b.start < request.end && request.start < b.end)).toBe(false);
        }
      }),
    );
  });

  it('the VMR defaults accept any future meeting of up to 1080 days ahead, whoever books and whatever clashes', () => {
    fc.assert(
      fc.property(arbRequest, arbCalendar, (request, calendar) => {
        const decision = decide(request, VMR_DEFAULTS, calendar);
        // A series is in the past only once its last occurrence has ended (unknown here: never).
        const lastEnd = request.recurrence ? Number.POSITIVE_INFINITY : request.end;
        const expected = lastEnd > NOW && request.start <= NOW + 1080 * DAY;
        expect(decision.answer === 'accept').toBe(expected);
      }),
    );
  });

  it('the room defaults decline a clash and nothing else a VMR mailbox accepts, but for length and window', () => {
    fc.assert(
      fc.property(arbRequest, arbCalendar, (request, calendar) => {
        const room = decide(request, ROOM_DEFAULTS, calendar);
        if (room.answer !== 'accept') expect(['conflict', 'bookingWindow', 'maximumDuration', 'past']).toContain(room.rule);
      }),
    );
  });
});

// ---- the joining-instructions block ------------------------------------------------------------------------------

const arbBody: fc.Arbitrary<Body> = fc.record({
  contentType: fc.constantFrom('html' as const, 'text' as const),
  content: fc.oneof(fc.string({ maxLength: 200 }), fc.constantFrom('<html><body><p>Agenda</p></body></html>', 'Agenda\r\n', '', '<!-- a comment --><p>x</p>')),
});
const arbInstructions = fc.record({ html: fc.string({ maxLength: 80 }), text: fc.string({ maxLength: 80 }) }).filter((i) => !i.html.includes('<!--') && !i.text.includes('-- '));

describe('the joining-instructions block, by property', () => {
  it('added then removed gives the body back byte for byte; the body outside the block never changes', () => {
    fc.assert(
      fc.property(arbBody, arbInstructions, arbInstructions, (body, first, second) => {
        const added = withInstructions(body, 'vmr', first);
        if (!added.changed) throw new Error('a body without our block must take it');
        expect(findBlock(added.body, 'vmr').state).toBe('ours');
        const replaced = withInstructions(added.body, 'vmr', second);
        const current = replaced.changed ? replaced.body : added.body;
        const removed = withoutInstructions(current, 'vmr');
        expect(removed.changed && removed.body.content).toBe(body.content);
        // Writing the same instructions again changes nothing.
        expect(withInstructions(current, 'vmr', replaced.changed ? second : first)).toEqual({ changed: false, why: 'same' });
      }),
    );
  });

  it('a block someone edited is left alone, and so is another instance’s', () => {
    const body: Body = { contentType: 'html', content: '<p>Agenda</p>' };
    const added = withInstructions(body, 'vmr', { html: '<b>VMR 1001</b>', text: 'VMR 1001' });
    if (!added.changed) throw new Error('expected a change');
    const edited = { ...added.body, content: added.body.content.replace('1001', '1002') };
    expect(withInstructions(edited, 'vmr', { html: 'new', text: 'new' })).toEqual({ changed: false, why: 'edited' });
    expect(withoutInstructions(edited, 'vmr')).toEqual({ changed: false, why: 'edited' });
    // Another deployment's block is not ours: ours is added beside it.
    const other = withInstructions(added.body, 'other', { html: 'x', text: 'x' });
    expect(other.changed && findBlock(other.body, 'vmr').state).toBe('ours');
  });

  it('re-serialised HTML (another spacing, tags) is still ours', () => {
    const inner = block('html', 'vmr', { html: '<p>Join  <b>VMR 1001</b></p>', text: '' });
    const reserialised = inner.replace('<div><p>Join  <b>VMR 1001</b></p></div>', '<div>\r\n<p>Join <b>VMR 1001</b></p>\r\n</div>');
    expect(findBlock({ contentType: 'html', content: `<html><body>${reserialised}</body></html>` }, 'vmr').state).toBe('ours');
  });

  it('goes before </body> in an HTML document', () => {
    const added = withInstructions({ contentType: 'html', content: '<html><body><p>A</p></body></html>' }, 'vmr', { html: 'J', text: 'J' });
    expect(added.changed && added.body.content).toMatch(/<p>A<\/p><!-- calpush-joining-instructions v1;vmr;[0-9a-f]{16} --><div>J<\/div><!-- \/calpush-joining-instructions --><\/body><\/html>$/);
  });
});
