// Every kind of request the EWS target sends is valid against Microsoft's schema (src/sandbox/ews/schema), and
// every value in it is escaped: checked with xmllint, for fixed requests and for random events full of XML-special,
// control and non-ASCII characters.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { DesiredEvent } from '../../src/model/event.ts';
import { calendarItemForCreate } from '../../src/targets/ews/mapping.ts';
import {
  createItemBody,
  deleteItemBody,
  envelope,
  findByTransactionBody,
  findOwnedBody,
  getCalendarFolderBody,
  getItemsBody,
  SERVER_VERSIONS,
  updateItemBody,
  type AccessMode,
  type RequestContext,
} from '../../src/targets/ews/requests.ts';
import { serialize, xmlSafe } from '../../src/targets/ews/xml.ts';
import { desired } from './helpers.ts';
import { bodyElement, headerElements, MESSAGES_XSD, validate, validateEnvelopes } from './xmllint.ts';

const mapping = { instance: 'schema-test', allDayTimeZone: 'Europe/Amsterdam', serverVersion: 'Exchange2016' as const };

const variants: DesiredEvent[] = [
  desired(),
  desired({ location: 'Room A1.02', categories: ['Timetable', 'Maths'], reminderMinutes: 15, body: 'Bring your calculator', showAs: 'tentative', sensitivity: 'private' }),
  desired({ body: { contentType: 'html', content: '<p>Hello <b>class</b> &amp; friends</p>' }, showAs: 'oof', sensitivity: 'confidential' }),
  desired({ allDay: true, start: '2026-09-07', end: '2026-09-12', timeZone: undefined, showAs: 'free', sensitivity: 'personal' }),
  desired({ timeZone: 'America/New_York', showAs: 'workingElsewhere', reminderMinutes: 0 }),
  desired({ timeZone: 'Asia/Kolkata', showAs: 'unknown' }),
  // A zone without a Windows equivalent goes as UTC.
  desired({ timeZone: 'Antarctica/Troll' }),
];

function allEnvelopes(access: AccessMode, serverVersion: RequestContext['serverVersion']): string[] {
  const context: RequestContext = { access, serverVersion, mailbox: 's0001@contoso.edu' };
  const mapping = { instance: 'schema-test', allDayTimeZone: 'Europe/Amsterdam', serverVersion };
  const items = [{ itemId: 'AAMkAGI2TG93AAA=', changeKey: 'CQAAABYAAAD' }, { itemId: 'AAMkAGI2TG94AAA=', changeKey: null }];
  return [
    envelope(context, createItemBody(context, variants.map((d, i) => ({ desired: d, transactionId: `0000000${i}-aaaa-bbbb-cccc-dddddddddddd` })), mapping)),
    envelope(context, createItemBody(context, [{ desired: variants[0]!, transactionId: 'x' }], mapping)),
    envelope(context, updateItemBody(variants.map((d, i) => ({ desired: d, item: items[i % 2]! })), mapping)),
    envelope(context, deleteItemBody(items, 'HardDelete')),
    envelope(context, deleteItemBody(items, 'SoftDelete')),
    envelope(context, deleteItemBody(items.slice(0, 1), 'MoveToDeletedItems')),
    envelope(context, findOwnedBody(context, 0, 500)),
    envelope(context, findOwnedBody(context, 1500, 1000)),
    envelope(context, findByTransactionBody(context, ['0000000a-aaaa-bbbb-cccc-dddddddddddd'])),
    envelope(context, findByTransactionBody(context, ['a', 'b', 'c'])),
    envelope(context, getItemsBody(items)),
    envelope(context, getCalendarFolderBody(context)),
  ];
}

describe('EWS requests against messages.xsd / types.xsd (xmllint)', () => {
  it.each(SERVER_VERSIONS.flatMap((version) => (['delegate', 'impersonation'] as const).map((access) => [access, version] as const)))(
    'every request kind is schema-valid (%s, %s)',
    (access, version) => {
      const envelopes = allEnvelopes(access, version);
      expect(validateEnvelopes(envelopes)).toEqual([]);
      // The header carries the version, and the impersonated mailbox only under impersonation.
      const headers = headerElements(envelopes[0]!);
      expect(headers.some((h) => h.includes(`<t:RequestServerVersion`) && h.includes(`Version="${version}"`))).toBe(true);
      expect(headers.some((h) => h.includes('<t:ExchangeImpersonation'))).toBe(access === 'impersonation');
      expect(bodyElement(envelopes[0]!).includes('<t:Mailbox>')).toBe(access === 'delegate');
    },
  );

  it('sends only the values of the schema version it speaks: WorkingElsewhere is Busy for Exchange2010_SP2', () => {
    // Exchange 2010's LegacyFreeBusyType: Free, Tentative, Busy, OOF, NoData (WorkingElsewhere from Exchange 2013).
    const exchange2010 = new Set(['Free', 'Tentative', 'Busy', 'OOF', 'NoData']);
    const statuses = (version: RequestContext['serverVersion']) =>
      allEnvelopes('delegate', version).flatMap((xml) => [...xml.matchAll(/<t:LegacyFreeBusyStatus>([^<]*)</g)].map((m) => m[1]!));
    expect(statuses('Exchange2010_SP2').every((status) => exchange2010.has(status))).toBe(true);
    expect(statuses('Exchange2010_SP2')).toContain('Busy');
    for (const version of SERVER_VERSIONS.filter((v) => v !== 'Exchange2010_SP2')) expect(statuses(version)).toContain('WorkingElsewhere');
  });

  it('a schema violation is caught (the check itself works)', () => {
    const context: RequestContext = { access: 'delegate', serverVersion: 'Exchange2013', mailbox: 'a@b.c' };
    const good = envelope(context, createItemBody(context, [{ desired: variants[1]!, transactionId: 't' }], mapping));
    // Location before LegacyFreeBusyStatus breaks the sequence.
    const bad = good.replace(/(<t:LegacyFreeBusyStatus>[^<]*<\/t:LegacyFreeBusyStatus>)(<t:Location>[^<]*<\/t:Location>)/, '$2$1');
    expect(bad).not.toBe(good);
    const [okResult, badResult] = validate([bodyElement(good), bodyElement(bad)], MESSAGES_XSD);
    expect(okResult!.ok).toBe(true);
    expect(badResult!.ok).toBe(false);
    expect(badResult!.output).toMatch(/LegacyFreeBusyStatus.*not expected/);
  });

  it('CalendarItem children follow the schema sequence', () => {
    const xml = serialize(calendarItemForCreate(variants[1]!, 't', mapping));
    const order = [...xml.matchAll(/<t:(\w+)[ >/]/g)].map((m) => m[1]).filter((name) => name !== 'CalendarItem' && name !== 'String' && name !== 'ExtendedFieldURI' && name !== 'Value');
    expect(order).toEqual([
      'Subject',
      'Sensitivity',
      'Body',
      'Categories',
      'ReminderIsSet',
      'ReminderMinutesBeforeStart',
      'ExtendedProperty',
      'ExtendedProperty',
      'Start',
      'End',
      'IsAllDayEvent',
      'LegacyFreeBusyStatus',
      'Location',
      'StartTimeZone',
      'EndTimeZone',
    ]);
  });
});

// ---- random content ------------------------------------------------------------------------------------------------

const nasty = fc.constantFrom('<', '>', '&', '"', "'", ']]>', '<![CDATA[', '-->', '&amp;', '&#x0;', '\u0000', '\u0001', '\u0008', '\u000B', '\u001F', '\uD800', '\uDFFF', '\uFFFE', '\uFFFF', '\r\n', '\r', '\t', 'é', 'ß', '中文', '😀', '\u200B', '\u{10FFFF}', ' ');
const text = (max: number) =>
  fc
    .array(fc.oneof({ weight: 2, arbitrary: nasty }, { weight: 3, arbitrary: fc.string({ unit: 'binary', maxLength: 8 }) }), { maxLength: 24 })
    .map((parts) => parts.join('').slice(0, max));

const eventArbitrary = fc
  .record({
    subject: text(255),
    location: fc.option(text(255).filter((s) => s.length > 0), { nil: undefined }),
    body: fc.option(fc.oneof(text(2000), fc.record({ contentType: fc.constantFrom('text' as const, 'html' as const), content: text(2000) })), { nil: undefined }),
    categories: fc.array(text(255).filter((s) => s.length > 0), { maxLength: 4 }),
    reminderMinutes: fc.option(fc.integer({ min: 0, max: 40_320 }), { nil: undefined }),
    allDay: fc.boolean(),
  })
  .map((r) =>
    r.allDay
      ? desired({ ...r, start: '2026-10-05', end: '2026-10-06', timeZone: undefined })
      : desired({ ...r, allDay: false }),
  );

/** The raw text between the first <t:NAME…> and its end tag, with XML's five entities and character references decoded. */
function rawText(xml: string, name: string): string | null {
  if (new RegExp(`<t:${name}(?: [^>]*)?/>`).test(xml)) return '';
  const match = new RegExp(`<t:${name}(?: [^>]*)?>([\\s\\S]*?)</t:${name}>`).exec(xml);
  if (!match) return null;
  const raw = match[1]!;
  // Nothing unescaped may remain.
  expect(raw).not.toMatch(/<|&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/);
  return raw.replace(/&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);/g, (_, entity: string) => {
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    if (named[entity]) return named[entity]!;
    return String.fromCodePoint(entity.startsWith('#x') ? parseInt(entity.slice(2), 16) : Number(entity.slice(1)));
  });
}

describe('random subjects, bodies and locations', () => {
  it('are escaped exactly (only characters XML cannot carry are dropped)', () => {
    fc.assert(
      fc.property(eventArbitrary, (event) => {
        const xml = serialize(calendarItemForCreate(event, 'tx', mapping));
        expect(rawText(xml, 'Subject') ?? '').toBe(xmlSafe(event.event.subject));
        expect(rawText(xml, 'Body') ?? '').toBe(xmlSafe(event.event.body?.content ?? ''));
        if (event.event.location !== null) expect(rawText(xml, 'Location')).toBe(xmlSafe(event.event.location));
        // XML 1.0 forbids these anywhere in a document.
        expect(xml).not.toMatch(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/);
        expect(xml.isWellFormed()).toBe(true);
      }),
      { numRuns: 400 },
    );
  });

  it('produce schema-valid CreateItem and UpdateItem requests (xmllint)', () => {
    const events = fc.sample(eventArbitrary, { numRuns: 150, seed: 20260901 });
    const envelopes: string[] = [];
    events.forEach((event, index) => {
      const context: RequestContext = { access: index % 2 ? 'delegate' : 'impersonation', serverVersion: SERVER_VERSIONS[index % SERVER_VERSIONS.length]!, mailbox: 's0001@contoso.edu' };
      envelopes.push(envelope(context, createItemBody(context, [{ desired: event, transactionId: `t${index}` }], mapping)));
      envelopes.push(envelope(context, updateItemBody([{ desired: event, item: { itemId: `id${index}`, changeKey: 'ck' } }], mapping)));
    });
    const failures = validateEnvelopes(envelopes);
    expect(failures.slice(0, 3)).toEqual([]);
  });
});
