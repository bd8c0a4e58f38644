// No super-linear path in the iCalendar parser: a megabyte of adversarial input of each kind — long runs of blanks,
// huge numbers in DURATION / RRULE COUNT / INTERVAL / BYxxx, deep nesting, many properties, long lines, many
// parameters, folded lines, many VEVENTs sharing a UID or RECURRENCE-ID, rules that run long before the horizon,
// many time zones, many dates — parses or is refused within a second.
//
// The second is CPU time of this thread (process.threadCpuUsage): the machines that run the suite are shared, and
// wall time there measures the queue for a core as much as the parser. A quadratic path is not hidden by that:
// each of these kinds took minutes or hours before it was fixed.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/model/event.ts';
import { parseIcs, type IcsParseResult } from '../../src/sources/ics.ts';

const MB = 1024 * 1024;
const HORIZON = { fromMs: Date.parse('2026-08-01T00:00:00Z'), toMs: Date.parse('2027-09-05T00:00:00Z') };
const BUDGET_MS = 1_000;

const calendar = (body: string) => `BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calpush adversary//EN\r\n${body}END:VCALENDAR\r\n`;
const vevent = (...lines: string[]) => `BEGIN:VEVENT\r\n${lines.join('\r\n')}\r\nEND:VEVENT\r\n`;

/** `make(n)` repeated until the text reaches `size` characters. */
function fill(make: (n: number) => string, size = MB): string {
  const parts: string[] = [];
  let length = 0;
  for (let n = 0; length < size; n++) {
    const part = make(n);
    parts.push(part);
    length += part.length;
  }
  return parts.join('');
}

function cpuMs(run: () => void): number {
  const before = process.threadCpuUsage();
  run();
  const used = process.threadCpuUsage(before);
  return (used.user + used.system) / 1000;
}

/** Parses, and checks it took less than a second and ended as a parse or a refusal that says why. */
function parsesOrRefuses(text: string): IcsParseResult {
  let result: IcsParseResult | undefined;
  const spent = cpuMs(() => {
    result = parseIcs(Buffer.from(text), { calendar: 'adversary@example.edu', defaultTimeZone: 'Europe/Amsterdam', horizon: HORIZON, origin: 'adversary.ics' });
  });
  expect(spent, `parse of ${(text.length / MB).toFixed(2)} MB took ${spent.toFixed(0)} ms of CPU`).toBeLessThan(BUDGET_MS);
  const parsed = result!;
  if (parsed.refusal) expect(parsed.inputs).toEqual([]);
  for (const error of parsed.errors) expect(error.message.length).toBeGreaterThan(0);
  // Whatever it yields is something validateEvent accepts (a sample: validation is not what is measured here).
  for (const { input } of parsed.inputs.slice(0, 50)) expect(validateEvent(input).ok).toBe(true);
  return parsed;
}

const runs = { numRuns: 3, endOnFailure: true };
const huge = fc.oneof(fc.constantFrom('999999999999999999', '99999999999999999999999999', '2147483648', '4294967297', '1e308', '-1'), fc.bigInt({ min: 10n ** 6n, max: 10n ** 30n }).map(String));

describe('a megabyte of adversarial input parses or is refused in under a second', () => {
  it('long runs of blanks in LOCATION, SUMMARY, DESCRIPTION, between lines and in folds', () => {
    fc.assert(
      fc.property(fc.constantFrom('SUMMARY', 'DESCRIPTION', 'X-ANY'), fc.constantFrom(' ', '\t', ' \t'), fc.integer({ min: 100_000, max: 1_000_000 }), (name, blank, run) => {
        const blanks = blank.repeat(Math.ceil(run / blank.length));
        // A LOCATION's lines are joined: a run of blanks that no line break ends was quadratic (200 KB: 30 s).
        parsesOrRefuses(calendar(fill((n) => vevent(`UID:b${n}`, 'DTSTART:20260901T090000Z', `LOCATION:A${blanks}B`))));
        parsesOrRefuses(calendar(fill((n) => vevent(`UID:b${n}`, 'DTSTART:20260901T090000Z', `LOCATION:A${blanks}\\n${blanks}B${blanks}`))));
        parsesOrRefuses(calendar(fill((n) => vevent(`UID:b${n}`, 'DTSTART:20260901T090000Z', `${name}:A${blanks}B`))));
        parsesOrRefuses(calendar(`${blanks}\r\n`.repeat(Math.ceil(MB / (blanks.length + 2)))));
      }),
      runs,
    );
  });

  it('huge numbers in DURATION, COUNT, INTERVAL, BYxxx, SEQUENCE, TRIGGER and dates', () => {
    const field = fc.constantFrom(
      (n: string) => [`DURATION:P${n}W`],
      (n: string) => [`DURATION:PT${n}S`],
      (n: string) => [`DURATION:P${n}DT${n}H${n}M${n}S`],
      (n: string) => [`RRULE:FREQ=SECONDLY;COUNT=${n}`],
      (n: string) => [`RRULE:FREQ=DAILY;INTERVAL=${n}`],
      (n: string) => [`RRULE:FREQ=YEARLY;INTERVAL=${n};COUNT=${n}`],
      (n: string) => [`RRULE:FREQ=MONTHLY;BYMONTHDAY=${n}`],
      (n: string) => [`RRULE:FREQ=MONTHLY;BYDAY=MO;BYSETPOS=${n}`],
      (n: string) => [`RRULE:FREQ=YEARLY;BYYEARDAY=${n}`],
      (n: string) => [`RRULE:FREQ=YEARLY;BYWEEKNO=${n};BYDAY=MO`],
      (n: string) => [`RRULE:FREQ=DAILY;BYHOUR=${n};BYMINUTE=${n};BYSECOND=${n}`],
      (n: string) => [`SEQUENCE:${n}`, 'RRULE:FREQ=DAILY;COUNT=3'],
      (n: string) => ['BEGIN:VALARM', 'ACTION:DISPLAY', `TRIGGER:-P${n}W`, 'END:VALARM'],
      (n: string) => [`DTEND:${n.slice(0, 8).padStart(8, '9')}T000000Z`],
      (n: string) => [`RDATE;VALUE=PERIOD:20260902T090000Z/P${n}W`],
    );
    fc.assert(
      fc.property(field, huge, fc.boolean(), (lines, n, withTz) => {
        const start = withTz ? 'DTSTART;TZID=Europe/Amsterdam:20260901T090000' : 'DTSTART:20260901T090000Z';
        parsesOrRefuses(calendar(fill((k) => vevent(`UID:h${k}`, start, ...lines(n)))));
      }),
      runs,
    );
  });

  it('deeply nested components, closed or not, with matching or mismatched names', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1_000, max: 60_000 }), fc.constantFrom('balanced', 'unclosed', 'mismatched', 'calendar-level'), (depth, shape) => {
        const open = 'BEGIN:X\r\n'.repeat(depth);
        const close = { balanced: 'END:X\r\n', unclosed: '', mismatched: 'END:Y\r\n', 'calendar-level': 'END:X\r\n' }[shape].repeat(depth);
        const body = shape === 'calendar-level' ? `${open}${close}${vevent('UID:n', 'DTSTART:20260901T090000Z')}` : vevent('UID:n', 'DTSTART:20260901T090000Z', (open + close).trimEnd());
        parsesOrRefuses(calendar(fill(() => body)));
      }),
      runs,
    );
  });

  it('many properties, long lines, and lines folded every few characters', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('many-properties', 'many-categories', 'long-line', 'long-escapes', 'folded', 'folded-blanks', 'many-alarms'),
        fc.integer({ min: 1, max: 70 }),
        fc.constantFrom('\r\n', '\n'),
        (kind, width, eol) => {
          const lines = {
            'many-properties': () => [fill((n) => `X-P${n};X-A=1:v${n}\r\n`).trimEnd()],
            'many-categories': () => [fill((n) => `CATEGORIES:c${n},d${n}\r\n`).trimEnd()],
            'long-line': () => [`DESCRIPTION:${'x'.repeat(MB)}`],
            'long-escapes': () => [`SUMMARY:${'\\\\;\\,\\n'.repeat(MB / 8)}`],
            folded: () => [`DESCRIPTION:${fill(() => `${'y'.repeat(width)}${eol} `)}`],
            'folded-blanks': () => [`LOCATION:${fill(() => `${' '.repeat(width)}${eol}\t`)}`],
            'many-alarms': () => [fill(() => 'BEGIN:VALARM\r\nACTION:DISPLAY\r\nTRIGGER:-PT5M\r\nEND:VALARM\r\n').trimEnd()],
          }[kind]();
          parsesOrRefuses(calendar(vevent('UID:p', 'DTSTART:20260901T090000Z', ...lines)).replaceAll('\r\n', eol));
        },
      ),
      runs,
    );
  });

  it('many parameters on a line, quoted or not', () => {
    fc.assert(
      fc.property(fc.integer({ min: 5_000, max: 90_000 }), fc.boolean(), (count, quoted) => {
        const parameters = Array.from({ length: count }, (_, n) => (quoted ? `;X-A${n}="v:${n};w"` : `;X-A${n}=v`)).join('');
        parsesOrRefuses(calendar(fill((n) => vevent(`UID:q${n}`, 'DTSTART:20260901T090000Z', `ATTENDEE${parameters}:mailto:a@example.edu`))));
      }),
      runs,
    );
  });

  it('many VEVENTs sharing a UID, a RECURRENCE-ID, or a RANGE=THISANDFUTURE', () => {
    fc.assert(
      fc.property(fc.constantFrom('same-uid', 'same-rid', 'distinct-rids', 'future-ranges'), fc.constantFrom('DAILY', 'HOURLY'), (kind, freq) => {
        const master = vevent('UID:r', 'DTSTART:20260901T090000Z', `RRULE:FREQ=${freq}`);
        const stamp = (n: number) => new Date(Date.parse('2026-09-02T09:00:00Z') + n * (freq === 'DAILY' ? 86_400_000 : 3_600_000)).toISOString().replace(/[-:]|\.\d+/g, '');
        const body = {
          'same-uid': () => fill((n) => vevent('UID:r', 'DTSTART:20260901T090000Z', `SEQUENCE:${n % 7}`)),
          'same-rid': () => master + fill((n) => vevent('UID:r', 'RECURRENCE-ID:20260902T090000Z', 'DTSTART:20260902T100000Z', `SEQUENCE:${n % 3}`)),
          'distinct-rids': () => master + fill((n) => vevent('UID:r', `RECURRENCE-ID:${stamp(n)}`, 'DTSTART:20260902T100000Z')),
          'future-ranges': () => master + fill((n) => vevent('UID:r', `RECURRENCE-ID;RANGE=THISANDFUTURE:${stamp(n)}`, 'DTSTART:20260902T100000Z')),
        }[kind]();
        parsesOrRefuses(calendar(body));
      }),
      runs,
    );
  });

  it('recurrence rules that run long before the horizon, never match, or amplify into millions of events', () => {
    fc.assert(
      fc.property(
        fc.constantFrom('SECONDLY', 'MINUTELY', 'HOURLY', 'DAILY', 'WEEKLY', 'MONTHLY', 'YEARLY'),
        fc.integer({ min: 1, max: 2025 }),
        fc.constantFrom('', ';BYDAY=MO', ';BYMONTH=2;BYMONTHDAY=30', ';BYMONTH=4;BYDAY=1MO;BYMONTHDAY=15,16,17,18,19,20,21', ';BYSETPOS=-1;BYDAY=MO,TU', ';BYWEEKNO=53'),
        fc.boolean(),
        (freq, year, extra, inHorizon) => {
          const start = inHorizon ? '20260801T000000Z' : `${String(year).padStart(4, '0')}0101T000000Z`;
          parsesOrRefuses(calendar(fill((n) => vevent(`UID:x${n}`, `DTSTART:${start}`, 'DURATION:PT1M', `RRULE:FREQ=${freq}${extra}`))));
        },
      ),
      runs,
    );
  });

  it('many time zones, unknown TZIDs, and VTIMEZONEs with hostile rules', () => {
    fc.assert(
      fc.property(fc.constantFrom('unknown-tzids', 'vtimezones', 'hostile-vtimezone', 'windows-names'), (kind) => {
        const zone = (id: string, rule: string) =>
          `BEGIN:VTIMEZONE\r\nTZID:${id}\r\nBEGIN:STANDARD\r\nDTSTART:00010101T000000\r\n${rule}TZOFFSETFROM:+0100\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n`;
        const body = {
          'unknown-tzids': () => fill((n) => vevent(`UID:t${n}`, `DTSTART;TZID=Zone ${n}:20260901T090000`)),
          vtimezones: () => fill((n) => zone(`Custom ${n}`, 'RRULE:FREQ=YEARLY;BYMONTH=3;BYDAY=-1SU\r\n') + vevent(`UID:t${n}`, `DTSTART;TZID=Custom ${n}:20260901T090000`)),
          'hostile-vtimezone': () => fill((n) => zone(`Bad ${n}`, n % 2 ? 'RRULE:FREQ=SECONDLY\r\n' : 'RRULE:FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30\r\n') + vevent(`UID:t${n}`, `DTSTART;TZID=Bad ${n}:20260901T090000`)),
          'windows-names': () => fill((n) => vevent(`UID:t${n}`, `DTSTART;TZID=${['W. Europe Standard Time', 'Pacific Standard Time', 'Tokyo Standard Time'][n % 3]}:20260901T090000`)),
        }[kind]();
        parsesOrRefuses(calendar(body));
      }),
      runs,
    );
  });

  it('many EXDATE and RDATE values, in lists or one per line', () => {
    fc.assert(
      fc.property(fc.constantFrom('EXDATE', 'RDATE'), fc.boolean(), fc.constantFrom('HOURLY', 'DAILY'), (name, oneList, freq) => {
        const stamp = (n: number) => new Date(Date.parse('2026-09-02T09:00:00Z') + n * 3_600_000).toISOString().replace(/[-:]|\.\d+/g, '');
        const dates = oneList ? [`${name}:${fill((n) => `${stamp(n)},`).slice(0, -1)}`] : [fill((n) => `${name}:${stamp(n)}\r\n`).trimEnd()];
        parsesOrRefuses(calendar(vevent('UID:d', 'DTSTART:20260901T090000Z', `RRULE:FREQ=${freq}`, ...dates)));
      }),
      runs,
    );
  });

  it('bytes that are not text, and text that is not iCalendar', () => {
    fc.assert(
      fc.property(fc.constantFrom('binary', 'html', 'latin1', 'nul'), (kind) => {
        const text = {
          binary: () => fill((n) => String.fromCharCode(...Array.from({ length: 64 }, (_, k) => (n * 31 + k * 7) % 256))),
          html: () => `<!DOCTYPE html><html>${fill(() => '<div>not a calendar</div>\n')}</html>`,
          latin1: () => calendar(fill((n) => vevent(`UID:l${n}`, 'DTSTART:20260901T090000Z', `SUMMARY:caf\u00e9 ${'\u00ff'.repeat(40)}`))),
          nul: () => calendar(fill((n) => vevent(`UID:z${n}`, 'DTSTART:20260901T090000Z', `SUMMARY:${'\u0000'.repeat(60)}`))),
        }[kind]();
        parsesOrRefuses(text);
      }),
      runs,
    );
  });
});
