import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventKey } from '../../src/model/event.ts';
import { collectEvents, parseJsonRecords } from '../../src/sources/records.ts';

const ok = (id: string, extra: Record<string, unknown> = {}) => ({
  calendar: 'a@contoso.edu',
  id,
  subject: id,
  start: '2026-09-01T09:00',
  end: '2026-09-01T10:00',
  timeZone: 'Europe/Amsterdam',
  ...extra,
});

describe('input records', () => {
  it('parses NDJSON with line numbers and reports each broken line', () => {
    const text = [JSON.stringify(ok('a')), '{"calendar": ', '', JSON.stringify(ok('b'))].join('\n');
    const { records, errors } = parseJsonRecords(text, 'events.ndjson');
    expect(records.map((r) => r.record)).toEqual(['events.ndjson line 1', 'events.ndjson line 4']);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ record: 'events.ndjson line 2', field: '(record)' });
    expect(errors[0]!.message).toContain('not valid JSON');
  });

  it('parses a JSON array and {"events": [...]} with record numbers', () => {
    expect(parseJsonRecords(JSON.stringify([ok('a'), ok('b')]), 'x.json').records[1]!.record).toBe('x.json record 2');
    expect(parseJsonRecords(JSON.stringify({ events: [ok('a')] }), 'x.json').records).toHaveLength(1);
    expect(parseJsonRecords('[1,', 'x.json').errors[0]!.message).toContain('not valid JSON');
    expect(parseJsonRecords('{"events": 1}', 'x.json').errors[0]!.message).toContain('must be an array');
    expect(parseJsonRecords(JSON.stringify(ok('single')), 'x.ndjson').records).toHaveLength(1);
  });

  it('gives one error per offending record, lets valid ones through and holds what bad records name', () => {
    const records = [
      { record: 'line 1', value: ok('good') },
      { record: 'line 2', value: ok('backwards', { end: '2026-09-01T08:00' }) },
      { record: 'line 3', value: ok('tz', { timeZone: 'Nowhere/Land' }) },
      { record: 'line 4', value: ok('', {}) },
      { record: 'line 5', value: ok('dup') },
      { record: 'line 6', value: ok('dup', { subject: 'other' }) },
    ];
    const result = collectEvents(records);
    expect(result.events.map((e) => e.event.id)).toEqual(['good']);
    const byRecord = Object.fromEntries(result.errors.map((e) => [e.record, e]));
    expect(byRecord['line 2']).toMatchObject({ id: 'backwards', field: 'end' });
    expect(byRecord['line 3']).toMatchObject({ id: 'tz', field: 'timeZone' });
    expect(byRecord['line 4']).toMatchObject({ field: 'id' });
    expect(byRecord['line 5']!.message).toContain('line 6');
    expect(byRecord['line 6']!.message).toContain('line 5');
    expect(result.errors).toHaveLength(5);
    const heldKeys = result.held.map((h) => ('key' in h ? h.key : '')).sort();
    expect(heldKeys).toEqual([eventKey('a@contoso.edu', 'backwards'), eventKey('a@contoso.edu', 'dup'), eventKey('a@contoso.edu', 'tz')].sort());
  });

  it('never loses a valid record among junk (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.anything(), fc.constant(null)), { maxLength: 20 }), fc.uniqueArray(fc.stringMatching(/^[a-z0-9-]{1,12}$/), { maxLength: 10 }), (junk, ids) => {
        const records = [...junk.map((value, i) => ({ record: `junk ${i}`, value })), ...ids.map((id) => ({ record: `good ${id}`, value: ok(id) }))];
        const result = collectEvents(records);
        const accepted = new Set(result.events.map((e) => e.event.id));
        for (const id of ids) expect(accepted.has(id)).toBe(true);
      }),
    );
  });

  it('never throws on arbitrary text (property)', () => {
    fc.assert(
      fc.property(fc.string(), (text) => {
        const { records } = parseJsonRecords(text, 'x');
        collectEvents(records);
      }),
    );
  });
});
