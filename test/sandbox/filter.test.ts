// The $filter parser and evaluator (property-based with fast-check), time-zone conversion and the throttler.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterEvaluator, FilterSyntaxError, parseFilter, tokenize, type FilterNode } from '../../src/sandbox/graph/filter.ts';
import { extendedPropertyKey, sameExtendedPropertyId } from '../../src/sandbox/graph/store.ts';
import { Throttler } from '../../src/sandbox/graph/throttle.ts';
import { formatWall, instantToWall, parseGraphDateTime, resolveTimeZone, wallToInstant } from '../../src/sandbox/graph/timezones.ts';

const evaluator = new FilterEvaluator({ sameId: sameExtendedPropertyId });
const TAG = 'String {7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c} Name CalpushKey';

describe('$filter parser', () => {
  it('parses the documented extended-property filter into a lambda', () => {
    const node = parseFilter(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG}' and ep/value eq 'x')`);
    expect(node).toMatchObject({ kind: 'lambda', collection: ['singleValueExtendedProperties'], quantifier: 'any', variable: 'ep', body: { kind: 'and' } });
  });

  it('handles quotes, precedence and functions', () => {
    expect(parseFilter("subject eq 'it''s'")).toEqual({ kind: 'cmp', op: 'eq', left: { kind: 'path', segments: ['subject'] }, right: { kind: 'literal', value: "it's" } });
    const n = parseFilter("a eq 1 or b eq 2 and not c eq 3") as { kind: string; right: FilterNode };
    expect(n.kind).toBe('or');
    expect(n.right.kind).toBe('and');
    expect(parseFilter("startswith(subject, 'Le')")).toMatchObject({ kind: 'call', name: 'startswith' });
  });

  it('rejects malformed input with FilterSyntaxError', () => {
    for (const bad of ['', "subject eq 'x' and", "subject eq 'unterminated", 'eq eq eq', '(subject eq 1', "x/Any(ep ep/id eq 'a')", 'subject eq 1)', 'a # b', 'startswith(subject)', '('.repeat(500) + 'a eq 1' + ')'.repeat(500)]) {
      expect(() => parseFilter(bad), bad).toThrow(FilterSyntaxError);
    }
  });

  it('never throws anything but FilterSyntaxError, whatever the input (fast-check)', () => {
    const alphabet = fc.constantFrom(...["'", '(', ')', ',', ':', '/', ' ', 'a', 'e', 'q', 'eq', 'and', 'or', 'not', 'Any', 'ep', '1', '-', '.', 'startswith', 'x', '"', '\\']);
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.array(alphabet, { maxLength: 40 }).map((a) => a.join(''))), (input) => {
        try {
          parseFilter(input);
        } catch (error) {
          if (!(error instanceof FilterSyntaxError)) throw error;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('parses every generated well-formed expression and evaluates it without throwing (fast-check)', () => {
    const path = fc.constantFrom('subject', 'start/dateTime', 'isAllDay', 'showAs');
    const literal = fc.oneof(
      fc.string({ maxLength: 8 }).map((s) => `'${s.replace(/'/g, "''")}'`),
      fc.integer({ min: -1000, max: 1000 }).map(String),
      fc.constantFrom('true', 'false', 'null'),
    );
    const comparison = fc.tuple(path, fc.constantFrom('eq', 'ne', 'gt', 'ge', 'lt', 'le'), literal).map(([p, o, l]) => `${p} ${o} ${l}`);
    const lambda = fc.tuple(fc.constantFrom('eq', 'ne'), fc.string({ maxLength: 6 })).map(([o, v]) => `singleValueExtendedProperties/Any(ep: ep/id eq '${TAG}' and ep/value ${o} '${v.replace(/'/g, "''")}')`);
    const func = fc.tuple(fc.constantFrom('startswith', 'endswith', 'contains'), fc.string({ maxLength: 5 })).map(([f, v]) => `${f}(subject,'${v.replace(/'/g, "''")}')`);
    const { expr } = fc.letrec<{ expr: string }>((tie) => ({
      expr: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        comparison,
        lambda,
        func,
        fc.tuple(tie('expr'), fc.constantFrom('and', 'or'), tie('expr')).map(([a, op, b]) => `${a} ${op} ${b}`),
        tie('expr').map((e) => `not (${e})`),
        tie('expr').map((e) => `(${e})`),
      ),
    }));
    const event = { subject: 'Lesson 1', isAllDay: false, showAs: 'busy', start: { dateTime: '2026-10-01T07:00:00.0000000' }, singleValueExtendedProperties: [{ id: TAG, value: 'abc' }] };
    fc.assert(
      fc.property(expr, (text) => {
        const node = parseFilter(text);
        expect(typeof evaluator.test(node, event)).toBe('boolean');
      }),
      { numRuns: 1000 },
    );
  });

  it('tokenizes numbers, identifiers with dots, and string escapes', () => {
    expect(tokenize("a.b eq -1.5 '' ''''").map((t) => t.type)).toEqual(['ident', 'ident', 'number', 'string', 'string', 'end']);
  });
});

describe('$filter evaluation', () => {
  const event = {
    subject: 'Maths 3B',
    categories: ['Timetable', 'Exam'],
    start: { dateTime: '2026-10-01T07:00:00.0000000', timeZone: 'UTC' },
    singleValueExtendedProperties: [{ id: TAG, value: 'Calpush;Prod;Lesson-1' }],
  };
  const t = (f: string) => evaluator.test(parseFilter(f), event);

  it('matches extended properties: id by parts (name case-sensitive), value case-insensitive', () => {
    expect(t(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG}' and ep/value eq 'CALPUSH;PROD;LESSON-1')`)).toBe(true);
    expect(t(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG.toLowerCase().replace('calpushkey', 'CalpushKey')}')`)).toBe(true);
    expect(t(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG.replace('CalpushKey', 'CALPUSHKEY')}')`)).toBe(false);
    expect(t(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG}' and startswith(ep/value, 'calpush;prod;'))`)).toBe(true);
    expect(t(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG}' and contains(ep/value, 'LESSON'))`)).toBe(true);
    expect(t(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG}' and ep/value ne 'calpush;prod;lesson-1')`)).toBe(false);
    expect(t(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG}' and endswith(ep/value, 'LESSON-1'))`)).toBe(true);
  });

  it('compares strings, dates and collections', () => {
    expect(t("subject eq 'maths 3b'")).toBe(true);
    expect(t("start/dateTime ge '2026-10-01T07:00:00'")).toBe(true);
    expect(t("start/dateTime gt '2026-10-01T07:00:00Z'")).toBe(false);
    expect(t("start/dateTime lt '2026-10-02'")).toBe(true);
    expect(t("categories/any(c: c eq 'exam')")).toBe(true);
    expect(t("categories/all(c: c eq 'exam')")).toBe(false);
    expect(t("not (subject eq 'x') and (subject eq 'y' or endswith(subject, '3b'))")).toBe(true);
  });

  it('extendedPropertyKey normalises type, GUID and keyword', () => {
    expect(extendedPropertyKey('string {7D5C3F2A-1B4E-4C8D-9A6F-0E2B4D6F8A1C} name CalpushKey')).toBe(extendedPropertyKey(TAG));
    expect(extendedPropertyKey('Integer {7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c} Id 0X8012')).toBe(extendedPropertyKey('integer {7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c} id 0x8012'));
    expect(sameExtendedPropertyId('String 0x4001001E', 'string 0x4001001e')).toBe(true);
  });
});

describe('time zones', () => {
  it('accepts Windows ids and the documented IANA names, rejects others', () => {
    expect(resolveTimeZone('W. Europe Standard Time')).toMatchObject({ name: 'W. Europe Standard Time' });
    expect(resolveTimeZone('w. europe standard time')?.name).toBe('W. Europe Standard Time');
    expect(resolveTimeZone('UTC')).toMatchObject({ iana: 'Etc/UTC' });
    expect(resolveTimeZone('Europe/Berlin')).toMatchObject({ name: 'Europe/Berlin', iana: 'Europe/Berlin' });
    expect(resolveTimeZone('America/New_York')).toBeDefined();
    expect(resolveTimeZone('Europe/Amsterdam')).toBeUndefined(); // IANA, but not in Graph's list
    expect(resolveTimeZone('Nowhere')).toBeUndefined();
  });

  it('converts wall clock ↔ instant across DST, with gaps moving forward', () => {
    const berlin = 'Europe/Berlin';
    const summer = wallToInstant(parseGraphDateTime('2026-07-01T12:00:00')!.wall, berlin);
    expect(new Date(summer).toISOString()).toBe('2026-07-01T10:00:00.000Z');
    const winter = wallToInstant(parseGraphDateTime('2026-01-01T12:00:00')!.wall, berlin);
    expect(new Date(winter).toISOString()).toBe('2026-01-01T11:00:00.000Z');
    const gap = wallToInstant(parseGraphDateTime('2026-03-29T02:30:00')!.wall, berlin);
    expect(formatWall(instantToWall(gap, berlin))).toBe('2026-03-29T03:30:00.0000000');
    const ambiguous = wallToInstant(parseGraphDateTime('2026-10-25T02:30:00')!.wall, berlin);
    expect(new Date(ambiguous).toISOString()).toBe('2026-10-25T00:30:00.000Z');
  });

  it('round-trips any instant through any supported zone (fast-check)', () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Sydney', 'Asia/Kolkata', 'Etc/UTC', 'Pacific/Auckland'];
    fc.assert(
      fc.property(fc.integer({ min: Date.UTC(2000, 0, 1), max: Date.UTC(2040, 0, 1) }), fc.constantFrom(...zones), (ms, zone) => {
        const instant = Math.floor(ms / 1000) * 1000;
        const wall = instantToWall(instant, zone);
        const back = wallToInstant(wall, zone);
        // Exact, except in a fall-back hour, where the earlier of the two instants with that wall clock is taken.
        if (back !== instant) {
          expect(back).toBeLessThan(instant);
          expect(formatWall(instantToWall(back, zone))).toBe(formatWall(wall));
        }
      }),
      { numRuns: 500 },
    );
  });

  it('gives the wall clock Intl gives, for any instant, also seconds around DST transitions (fast-check)', () => {
    const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kathmandu', 'America/St_Johns', 'Pacific/Chatham', 'Etc/UTC'];
    const intl = (ms: number, zone: string) => {
      const parts = Object.fromEntries(
        new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit' })
          .formatToParts(new Date(ms))
          .map((p) => [p.type, p.value]),
      );
      return `${parts.year}-${parts.month}-${parts.day}T${parts.hour}:${parts.minute}:${parts.second}.0000000`;
    };
    const transitions = [Date.UTC(2026, 2, 29, 1), Date.UTC(2026, 9, 25, 1), Date.UTC(2026, 2, 8, 7), Date.UTC(2026, 10, 1, 6), Date.UTC(2026, 3, 4, 15), Date.UTC(2026, 8, 26, 14, 45)];
    const instants = fc.oneof(
      fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.UTC(2060, 0, 1) }),
      fc.tuple(fc.constantFrom(...transitions), fc.integer({ min: -3_600_000, max: 3_600_000 })).map(([t, d]) => t + d),
    );
    fc.assert(
      fc.property(instants, fc.constantFrom(...zones), (ms, zone) => {
        const instant = Math.floor(ms / 1000) * 1000;
        expect(formatWall(instantToWall(instant, zone))).toBe(intl(instant, zone));
      }),
      { numRuns: 2_000 },
    );
  });

  it('parses Graph dateTime strings with up to 7 fractional digits and rejects impossible dates', () => {
    expect(parseGraphDateTime('2017-08-29T04:00:00.0000000')?.wall).toMatchObject({ year: 2017, month: 8, day: 29, hour: 4 });
    expect(parseGraphDateTime('2017-08-29T04:00:00.1234567Z')).toMatchObject({ offsetMinutes: 0, wall: { ticks: 1234567 } });
    expect(parseGraphDateTime('2017-02-30T04:00:00')).toBeUndefined();
    expect(parseGraphDateTime('yesterday')).toBeUndefined();
  });
});

describe('throttler', () => {
  it('limits concurrency and a rolling window per key, with Retry-After until a slot frees', () => {
    let now = 0;
    const throttler = new Throttler({ enabled: true, mailboxConcurrency: 2, requestsPerWindow: 3, windowMs: 10_000 }, () => now);
    const a = throttler.acquire('k');
    const b = throttler.acquire('k');
    expect(a.ok && b.ok).toBe(true);
    expect(throttler.acquire('k')).toEqual({ ok: false, limit: 'MailboxConcurrency', retryAfterSeconds: 1 });
    expect(throttler.acquire('other').ok).toBe(true);
    if (a.ok) a.release();
    now = 1000;
    const c = throttler.acquire('k');
    expect(c.ok).toBe(true);
    if (b.ok) b.release();
    if (c.ok) c.release();
    now = 2500;
    expect(throttler.acquire('k')).toEqual({ ok: false, limit: 'RequestRate', retryAfterSeconds: 8 });
    now = 10_001;
    expect(throttler.acquire('k').ok).toBe(true);
  });
});
