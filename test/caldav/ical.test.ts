// The CalDAV target's pure parts: iCalendar generation, the VTIMEZONE from Intl, the tag, templates, error
// classification and the config schema. No server needed.
import fc from 'fast-check';
import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import { validateEvent, type EventInput } from '../../src/model/event.ts';
import { utcMsToZoned, zonedToUtcMs } from '../../src/model/time.ts';
import { caldavTargetSchema, createCalDavTarget } from '../../src/targets/caldav/config.ts';
import { classifyFailure } from '../../src/targets/caldav/dav.ts';
import { findTag, htmlToText, iCalendarFor, resourceNameFor, uidFor } from '../../src/targets/caldav/ical.ts';
import { CalDavTarget, canonicalPath, expandTemplate } from '../../src/targets/caldav/target.ts';
import { offsetAt, vtimezone } from '../../src/targets/caldav/vtimezone.ts';

function desired(input: Partial<EventInput> = {}) {
  const result = validateEvent({ calendar: 'alice@example.edu', id: 'ev-1', subject: 'Lecture', start: '2026-12-01T09:00', end: '2026-12-01T10:30', timeZone: 'Europe/Amsterdam', ...input });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.desired;
}

function parse(text: string) {
  const root = new ICAL.Component(ICAL.parse(text) as unknown[]);
  const vevent = root.getFirstSubcomponent('vevent')!;
  return { root, vevent };
}

/** The UTC instant ical.js computes for a DTSTART/DTEND, using only the VTIMEZONE in the object. */
function instantOf(root: ICAL.Component, vevent: ICAL.Component, name: 'dtstart' | 'dtend'): number {
  const property = vevent.getFirstProperty(name)!;
  const tzid = property.getParameter('tzid');
  const value = property.getFirstValue() as ICAL.Time;
  if (typeof tzid === 'string') {
    const component = root.getAllSubcomponents('vtimezone').find((c) => c.getFirstPropertyValue('tzid') === tzid)!;
    const zone = new ICAL.Timezone({ component, tzid });
    const local = ICAL.Time.fromData({ year: value.year, month: value.month, day: value.day, hour: value.hour, minute: value.minute, second: value.second }, zone);
    return local.toUnixTime() * 1000;
  }
  return value.toUnixTime() * 1000;
}

describe('iCalendar for an event', () => {
  it('carries our UID, the tag, and every field of the canonical event', () => {
    const d = desired({
      subject: 'Algebra; week 1, part 2',
      body: { contentType: 'html', content: '<p>Bring <b>pen</b> &amp; paper</p><ul><li>Chapter 1</li></ul>' },
      location: 'Room 1.23',
      categories: ['Timetable', 'Maths, first year'],
      showAs: 'free',
      sensitivity: 'confidential',
      reminderMinutes: 15,
    });
    const text = iCalendarFor(d, { instance: 'prod', now: new Date('2026-11-20T08:00:00Z') });
    expect(text.endsWith('END:VCALENDAR\r\n')).toBe(true);
    expect(text.split('\r\n').every((line) => Buffer.byteLength(line) <= 75)).toBe(true);
    const { vevent } = parse(text);
    expect(vevent.getFirstPropertyValue('uid')).toBe(`${d.key}@calpush.prod`);
    expect(uidFor('prod', d.key)).toBe(`${d.key}@calpush.prod`);
    expect(text.replace(/\r\n /g, '')).toContain(`X-CALPUSH-KEY:v1\\;prod\\;${d.key}\\;${d.contentHash}\r\n`);
    expect(findTag(text)).toEqual({ instance: 'prod', key: d.key, contentHash: d.contentHash, uid: `${d.key}@calpush.prod` });
    expect(vevent.getFirstPropertyValue('summary')).toBe('Algebra; week 1, part 2');
    expect(vevent.getFirstPropertyValue('description')).toBe('Bring pen & paper\n\n• Chapter 1');
    const alt = vevent.getFirstProperty('x-alt-desc')!;
    expect(alt.getParameter('fmttype')).toBe('text/html');
    expect(text.replace(/\r\n /g, '')).toContain('X-ALT-DESC;FMTTYPE=text/html:<p>Bring <b>pen</b> &amp\\; paper</p>');
    expect(vevent.getFirstPropertyValue('location')).toBe('Room 1.23');
    expect(vevent.getFirstProperty('categories')!.getValues()).toEqual(['Timetable', 'Maths, first year']);
    expect(vevent.getFirstPropertyValue('transp')).toBe('TRANSPARENT');
    expect(vevent.getFirstPropertyValue('class')).toBe('CONFIDENTIAL');
    expect(String(vevent.getFirstPropertyValue('dtstamp'))).toBe('2026-11-20T08:00:00Z');
    const alarm = vevent.getFirstSubcomponent('valarm')!;
    expect(alarm.getFirstPropertyValue('action')).toBe('DISPLAY');
    expect(String(alarm.getFirstPropertyValue('trigger'))).toBe('-PT15M');
    expect(alarm.getFirstPropertyValue('description')).toBe('Algebra; week 1, part 2');
    expect(text).toContain('DTSTART;TZID=Europe/Amsterdam:20261201T090000\r\n');
    expect(text).toContain('DTEND;TZID=Europe/Amsterdam:20261201T103000\r\n');
  });

  it('writes all-day events as DATE values, UTC events with Z, and leaves out what is empty', () => {
    const allDay = iCalendarFor(desired({ start: '2026-12-24', end: '2026-12-27', allDay: true, timeZone: undefined }), { instance: 'i' });
    expect(allDay).toContain('DTSTART;VALUE=DATE:20261224\r\n');
    expect(allDay).toContain('DTEND;VALUE=DATE:20261227\r\n');
    expect(allDay).not.toContain('VTIMEZONE');
    for (const absent of ['DESCRIPTION', 'LOCATION', 'CATEGORIES', 'VALARM', 'X-ALT-DESC']) expect(allDay).not.toContain(absent);
    expect(allDay).toContain('TRANSP:OPAQUE');
    expect(allDay).toContain('CLASS:PUBLIC');

    const utc = iCalendarFor(desired({ timeZone: 'UTC', body: 'plain; text', reminderMinutes: 0 }), { instance: 'i' });
    expect(utc).toContain('DTSTART:20261201T090000Z\r\n');
    expect(utc).not.toContain('VTIMEZONE');
    expect(utc).toContain('DESCRIPTION:plain\\; text\r\n');
    expect(utc).toContain('TRIGGER:PT0S\r\n');
    expect(utc).not.toContain('X-ALT-DESC');
  });

  it('maps sensitivity to CLASS and showAs to TRANSP', () => {
    const cls = (sensitivity: 'normal' | 'personal' | 'private' | 'confidential') => /CLASS:(\w+)/.exec(iCalendarFor(desired({ sensitivity }), { instance: 'i' }))![1];
    expect([cls('normal'), cls('personal'), cls('private'), cls('confidential')]).toEqual(['PUBLIC', 'PRIVATE', 'PRIVATE', 'CONFIDENTIAL']);
    const transp = (showAs: 'free' | 'busy' | 'tentative' | 'oof') => /TRANSP:(\w+)/.exec(iCalendarFor(desired({ showAs }), { instance: 'i' }))![1];
    expect([transp('free'), transp('busy'), transp('tentative'), transp('oof')]).toEqual(['TRANSPARENT', 'OPAQUE', 'OPAQUE', 'OPAQUE']);
    expect(iCalendarFor(desired({ showAs: 'tentative' }), { instance: 'i' })).toContain('STATUS:TENTATIVE');
  });

  it('reads the tag back escaped (as servers re-serialise it), raw, folded, or not at all', () => {
    const key = '0123456789abcdef0123456789abcdef';
    const hash = 'fedcba9876543210fedcba9876543210';
    const wrap = (line: string) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x\r\n${line}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n`;
    expect(findTag(wrap(`X-CALPUSH-KEY:v1\\;inst\\;${key}\\;${hash.slice(0, 10)}\r\n ${hash.slice(10)}`))).toMatchObject({ instance: 'inst', key, contentHash: hash });
    expect(findTag(wrap(`X-CALPUSH-KEY:v1;inst;${key};${hash}`))).toMatchObject({ instance: 'inst', key });
    expect(findTag(wrap(`x-calpush-key:v1\\;inst\\;${key}\\;${hash}`))).toMatchObject({ instance: 'inst' });
    expect(findTag(wrap(`X-CALPUSH-KEY:v2;inst;${key};${hash}`))).toBeNull();
    expect(findTag(wrap(`X-CALPUSH-KEY:v1;inst;not-a-key;${hash}`))).toBeNull();
    expect(findTag(wrap('SUMMARY:no tag'))).toBeNull();
    expect(findTag('X-CALPUSH-KEY but not iCalendar at all')).toBeNull();
  });

  it('names resources by instance and key only', () => {
    expect(resourceNameFor('prod', 'ab'.repeat(16))).toBe(`calpush-prod-${'ab'.repeat(16)}.ics`);
  });

  it('turns an HTML body into readable text', () => {
    expect(htmlToText('<div>Line 1<br>Line 2</div><script>x()</script><p>&lt;tag&gt; &#233;&#x20AC; &nbsp;ok</p>')).toBe('Line 1\nLine 2\n<tag> é€  ok');
  });
});

/**
 * Whether a local date-time ("2004-10-31T02:00") is on the clocks exactly once in `zone`: not skipped by a
 * spring-forward and not shown twice by a fall-back. Two instants with the same wall clock differ by the offset
 * change, at most two hours in these zones (Lord Howe's is half an hour).
 */
function existsOnce(local: string, zone: string): boolean {
  const at = zonedToUtcMs(local, zone);
  if (utcMsToZoned(at, zone).slice(0, 16) !== local) return false;
  return [-120, -60, -30, 30, 60, 120].every((minutes) => utcMsToZoned(at + minutes * 60_000, zone).slice(0, 16) !== local);
}

describe('VTIMEZONE from Intl', () => {
  const zones = ['Europe/Amsterdam', 'America/New_York', 'America/Sao_Paulo', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Pacific/Chatham', 'Africa/Casablanca', 'America/St_Johns', 'Pacific/Kiritimati', 'Europe/Dublin', 'Asia/Tehran', 'America/Santiago'];

  it('describes Amsterdam 2026 as the EU rules say', () => {
    const text = vtimezone('Europe/Amsterdam', 2026, 2026).toString();
    expect(text).toContain('BEGIN:DAYLIGHT\r\nDTSTART:20260329T020000\r\nTZOFFSETFROM:+0100\r\nTZOFFSETTO:+0200\r\nEND:DAYLIGHT');
    expect(text).toContain('BEGIN:STANDARD\r\nDTSTART:20261025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD');
    expect(vtimezone('Asia/Kolkata', 2026, 2026).getAllSubcomponents().map((c) => c.name)).toEqual(['standard']);
  });

  it('gives every local time the same UTC instant as calpush computes (ical.js reading only our VTIMEZONE)', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...zones),
        fc.integer({ min: Date.UTC(1995, 0, 1), max: Date.UTC(2037, 11, 31) }),
        fc.integer({ min: 15, max: 60 * 24 * 3 }),
        (zone, utcMs, minutes) => {
          // Local times that exist exactly once (DST gaps and overlaps are resolved by convention: tested below).
          // The start comes from an instant and the end from an instant too, so either may be a wall-clock time
          // a fall-back shows twice (02:00 on 31 October 2004 in Amsterdam): those are left to the test below.
          const start = utcMsToZoned(Math.floor(utcMs / 60_000) * 60_000, zone).slice(0, 16);
          const end = utcMsToZoned(zonedToUtcMs(start, zone) + minutes * 60_000, zone).slice(0, 16);
          fc.pre(existsOnce(start, zone) && existsOnce(end, zone));
          const d = desired({ start, end, timeZone: zone });
          const { root, vevent } = parse(iCalendarFor(d, { instance: 'i' }));
          expect(instantOf(root, vevent, 'dtstart')).toBe(d.startsAtMs);
          expect(instantOf(root, vevent, 'dtend')).toBe(zonedToUtcMs(d.event.timing.allDay ? '' : d.event.timing.end, zone));
        },
      ),
      // Found by the clock matrix (fast-check seeds itself from the clock): an end 20 minutes after 01:40 CEST on
      // the night Amsterdam falls back is 02:00, which the clocks show twice.
      { numRuns: 300, examples: [['Europe/Amsterdam', Date.UTC(2004, 9, 30, 23, 40), 20], ['America/St_Johns', 1256885040000, 2567]] },
    );
  });

  it('agrees on the instants around transitions, including times that do not exist or exist twice', () => {
    for (const zone of zones) {
      const year = 2027;
      const component = vtimezone(zone, year, year);
      const transitions = component.getAllSubcomponents().slice(1);
      for (const observance of transitions) {
        const onset = observance.getFirstPropertyValue('dtstart') as ICAL.Time;
        for (const deltaMinutes of [-90, -60, -30, -1, 0, 1, 30, 59, 60, 61, 90]) {
          const local = new Date(Date.UTC(onset.year, onset.month - 1, onset.day, onset.hour, onset.minute + deltaMinutes)).toISOString().slice(0, 16);
          const d = desired({ start: local, end: `${String(year + 1)}-01-01T00:00`, timeZone: zone });
          const { root, vevent } = parse(iCalendarFor(d, { instance: 'i' }));
          const at = instantOf(root, vevent, 'dtstart');
          const from = (observance.getFirstPropertyValue('tzoffsetfrom') as ICAL.UtcOffset).toSeconds() * 1000;
          if (utcMsToZoned(d.startsAtMs, zone).slice(0, 16) !== local) {
            // Skipped by the clocks: RFC 5545 §3.3.5 reads it with the offset before the transition, and calpush
            // sends the wall-clock time that instant has (ical.js alone would use the offset after it and land an
            // offset-step earlier), so the server sees the RFC's instant.
            expect(d.startsAtMs).toBe(Date.parse(`${local}:00Z`) - from);
            expect(!d.event.timing.allDay && d.event.timing.start.slice(0, 16)).toBe(utcMsToZoned(d.startsAtMs, zone).slice(0, 16));
            expect(at).toBe(d.startsAtMs);
            continue;
          }
          const to = (observance.getFirstPropertyValue('tzoffsetto') as ICAL.UtcOffset).toSeconds() * 1000;
          const later = d.startsAtMs + (from - to);
          if (from > to && utcMsToZoned(later, zone).slice(0, 16) === local) {
            // Shown twice by the clocks: RFC 5545 §3.3.5 means the first occurrence, as calpush does; ical.js
            // takes the second. Both are the instants the VTIMEZONE gives this wall-clock time.
            expect([d.startsAtMs, later]).toContain(at);
            continue;
          }
          expect({ zone, local, at }).toEqual({ zone, local, at: d.startsAtMs });
        }
      }
    }
  });

  it('computes offsets to the second', () => {
    expect(offsetAt('Asia/Kolkata', Date.UTC(2026, 0, 1))).toBe(5.5 * 3_600_000);
    expect(offsetAt('America/St_Johns', Date.UTC(2026, 0, 1))).toBe(-3.5 * 3_600_000);
  });
});

describe('collection URLs', () => {
  it('expands {address}, {localpart} and {domain} as path segments', () => {
    expect(expandTemplate('https://dav.example.edu/calendars/{localpart}/timetable/', 'Alice.Smith@Example.edu')).toBe('https://dav.example.edu/calendars/alice.smith/timetable/');
    expect(expandTemplate('https://dav.example.edu/{address}/cal/', 'alice@example.edu')).toBe('https://dav.example.edu/alice@example.edu/cal/');
    expect(expandTemplate('/{domain}/{localpart}/', "o'brien+x@example.edu")).toBe("/example.edu/o'brien+x/");
  });

  it('refuses an address whose placeholder would be a dot segment or split a segment, and names it', () => {
    const template = 'https://dav.example.edu/calendars/{localpart}/timetable/';
    for (const [calendar, why] of [
      ['.@example.edu', /\{localpart\} would be the path segment "\."/],
      ['..@example.edu', /\{localpart\} would be the path segment "\.\."/],
      ['a/b@example.edu', /\{localpart\} contains "\/"/],
      ['../b@example.edu', /contains "\/"/],
      ['a\\b@example.edu', /contains "\\"/],
    ] as const) {
      let error: unknown;
      try {
        expandTemplate(template, calendar);
      } catch (e) {
        error = e;
      }
      expect(error, calendar).toMatchObject({ name: 'TargetError', scope: 'mailbox', code: 'UnsafeCalendarAddress' });
      expect((error as Error).message, calendar).toMatch(why);
      expect((error as Error).message).toContain(calendar);
    }
    expect(() => expandTemplate('https://dav.example.edu/{domain}/cal/', 'a@..')).toThrow(/\{domain\} would be the path segment "\.\."/);
    // Dots inside a segment, and percent signs, are just characters.
    expect(expandTemplate(template, '...@example.edu')).toBe('https://dav.example.edu/calendars/.../timetable/');
    expect(expandTemplate(template, '%2e%2e@example.edu')).toBe('https://dav.example.edu/calendars/%252e%252e/timetable/');
    expect(expandTemplate('https://dav.example.edu/{address}/', '..@example.edu')).toBe('https://dav.example.edu/..@example.edu/');
  });

  it('a refused address fails its mailbox only, before any request', async () => {
    let requests = 0;
    const target = new CalDavTarget({
      instance: 'i',
      baseUrl: 'https://dav.example.edu/',
      calendarUrlTemplate: 'calendars/{localpart}/timetable/',
      auth: { kind: 'basic', username: 'calpush', password: 'x' },
      allDayTimeZone: 'UTC',
      fetch: (async () => {
        requests++;
        return new Response('', { status: 500 });
      }) as typeof fetch,
    });
    await expect(target.listOwned('..@example.edu')).rejects.toMatchObject({ scope: 'mailbox', code: 'UnsafeCalendarAddress' });
    expect(requests).toBe(0);
    expect(target.collectionUrl('alice@example.edu').href).toBe('https://dav.example.edu/calendars/alice/timetable/');
  });

  it('templates name servers and collections: no placeholder in the host, no query', () => {
    const base = { kind: 'caldav', baseUrl: 'https://dav.example.edu/', auth: { kind: 'basic', username: 'u', password: { env: 'X' } } };
    expect(caldavTargetSchema.safeParse({ ...base, calendarUrlTemplate: 'https://{domain}/dav/{localpart}/' }).error?.issues[0]?.message).toMatch(/only in the path/);
    expect(caldavTargetSchema.safeParse({ ...base, calendarUrlTemplate: 'https://dav.example.edu/x?u={localpart}' }).error?.issues[0]?.message).toMatch(/query/);
    expect(caldavTargetSchema.safeParse({ ...base, calendarUrlTemplate: 'https://dav.example.edu/{domain}/{localpart}/' }).success).toBe(true);
  });

  it('spells every path one way, however the server encodes its hrefs', () => {
    expect(canonicalPath('/alice%40example.edu/cal/x.ics')).toBe('/alice@example.edu/cal/x.ics');
    expect(canonicalPath('/alice@example.edu/cal/x.ics')).toBe('/alice@example.edu/cal/x.ics');
    expect(canonicalPath('/a%20b/%7Euser/')).toBe('/a%20b/~user/');
  });
});

describe('CalDAV answers as TargetErrors', () => {
  const base = { headers: new Headers(), body: '', method: 'PUT', url: 'https://dav.example.edu/alice/cal/x.ics', operation: 'create' as const, calendar: 'alice@example.edu', soleAccount: true, accountLabel: 'CalDAV user calpush' };

  it('maps statuses to scopes', () => {
    const scope = (status: number, extra: Partial<typeof base> = {}) => {
      const e = classifyFailure({ ...base, status, ...extra });
      return `${e.scope}:${e.code}`;
    };
    expect(scope(401)).toBe('fatal:Unauthorized');
    expect(scope(401, { soleAccount: false })).toBe('mailbox:Unauthorized');
    expect(scope(403)).toBe('mailbox:Forbidden');
    expect(scope(403, { body: '<D:error xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><C:valid-calendar-data/></D:error>' })).toBe('item:EventRefused');
    expect(scope(409, { body: '<error><C:no-uid-conflict/></error>' })).toBe('item:UidConflict');
    expect(scope(404)).toBe('mailbox:CalendarNotFound');
    expect(scope(409)).toBe('mailbox:CalendarNotFound');
    expect(scope(400)).toBe('item:Http400');
    expect(scope(415)).toBe('item:Http415');
    expect(scope(413)).toBe('item:Http413');
    expect(scope(507)).toBe('item:InsufficientStorage');
    expect(scope(500)).toBe('transient:Http500');
    expect(scope(502)).toBe('transient:Http502');
  });

  it('keeps Retry-After for 429 and 503', () => {
    const e = classifyFailure({ ...base, status: 429, headers: new Headers({ 'retry-after': '7' }) });
    expect(e).toMatchObject({ scope: 'transient', code: 'TooManyRequests', retryAfterMs: 7000, status: 429 });
    const d = classifyFailure({ ...base, status: 503, headers: new Headers({ 'retry-after': new Date(Date.now() + 30_000).toUTCString() }) });
    expect(d.scope).toBe('transient');
    expect(d.retryAfterMs).toBeGreaterThan(25_000);
    expect(classifyFailure({ ...base, status: 503, headers: new Headers({ 'retry-after': 'soon' }) }).retryAfterMs).toBeUndefined();
  });
});

describe('the config section', () => {
  const valid = {
    kind: 'caldav',
    baseUrl: 'https://dav.example.edu/',
    calendarUrlTemplate: 'calendars/{localpart}/timetable/',
    auth: { kind: 'basic', username: 'calpush', password: { env: 'CALDAV_PASSWORD' } },
  };

  it('accepts references to secrets and refuses inline ones', () => {
    expect(caldavTargetSchema.safeParse(valid).success).toBe(true);
    const inline = caldavTargetSchema.safeParse({ ...valid, auth: { ...valid.auth, password: 'hunter2' } });
    expect(inline.success).toBe(false);
    expect(JSON.stringify(inline.error!.issues)).toContain('secrets are never written in the config itself');
    expect(caldavTargetSchema.safeParse({ ...valid, auth: { kind: 'bearer', token: { file: 'token.txt' } } }).success).toBe(true);
    expect(caldavTargetSchema.safeParse({ ...valid, auth: { kind: 'bearer', token: 'abc' } }).success).toBe(false);
  });

  it('needs a collection per calendar, and credentials for them', () => {
    const fixed = caldavTargetSchema.safeParse({ ...valid, calendarUrlTemplate: 'calendars/shared/' });
    expect(fixed.success).toBe(false);
    expect(caldavTargetSchema.safeParse({ ...valid, calendarUrlTemplate: 'calendars/{user}/' }).success).toBe(false);
    expect(caldavTargetSchema.safeParse({ ...valid, auth: undefined }).success).toBe(false);
    // One account per calendar may name its collection outright.
    const perCalendar = caldavTargetSchema.safeParse({
      kind: 'caldav',
      baseUrl: 'https://dav.example.edu/',
      accounts: [{ match: 'alice@example.edu', auth: { kind: 'basic', username: 'alice', password: { file: 'alice.pw' } }, calendarUrlTemplate: 'alice/timetable/' }],
    });
    expect(perCalendar.success).toBe(true);
    const wildcard = caldavTargetSchema.safeParse({
      kind: 'caldav',
      baseUrl: 'https://dav.example.edu/',
      accounts: [{ match: '*@example.edu', auth: { kind: 'basic', username: 'x', password: { file: 'x' } }, calendarUrlTemplate: 'shared/' }],
    });
    expect(wildcard.success).toBe(false);
    expect(caldavTargetSchema.parse(valid).multigetChunk).toBe(100);
  });

  it('resolves the references when the target is built, and says which one is missing', () => {
    const parsed = caldavTargetSchema.parse({ ...valid, auth: { kind: 'basic', username: 'calpush', password: { env: 'CALPUSH_TEST_CALDAV_PW_UNSET' } } });
    expect(() => createCalDavTarget(parsed, { instance: 'i', baseDir: '/', allDayTimeZone: 'UTC' })).toThrow(
      expect.objectContaining({ name: 'ConfigError', message: 'target.auth.password: environment variable CALPUSH_TEST_CALDAV_PW_UNSET is not set' }),
    );
    process.env.CALPUSH_TEST_CALDAV_PW = 'secret';
    try {
      const target = createCalDavTarget(caldavTargetSchema.parse({ ...valid, auth: { kind: 'basic', username: 'calpush', password: { env: 'CALPUSH_TEST_CALDAV_PW' } } }), {
        instance: 'i',
        baseDir: '/',
        allDayTimeZone: 'UTC',
      });
      expect(target.collectionUrl('Alice@Example.edu').href).toBe('https://dav.example.edu/calendars/alice/timetable/');
    } finally {
      delete process.env.CALPUSH_TEST_CALDAV_PW;
    }
  });
});
