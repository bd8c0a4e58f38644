// Input files as sync and import read them: NDJSON lines (split as readline splits them, none held beyond its
// limit), files that are not what they claim, .ics files over a limit (refused as a whole, naming the limit and how
// to raise it), honest refusals of an input without a valid event, and STATUS:CANCELLED treated alike by sync and
// import.
import { createReadStream, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { runImport } from '../../src/cli/commands/import.ts';
import { parseConfig } from '../../src/app/config.ts';
import { fileLines, MAX_LINE_BYTES, readInputItems, type Cancellation, type InputItem, type StreamInputOptions } from '../../src/sources/stream.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { runSync, SyncRefused } from '../../src/app/sync.ts';
import { MemoryTarget } from '../support/memory-target.ts';

const CAL = 's0001@contoso.edu';
const OPTIONS: StreamInputOptions = { timeZone: 'Europe/Amsterdam', horizon: { fromMs: Date.parse('2026-08-01T00:00:00Z'), toMs: Date.parse('2027-09-01T00:00:00Z') } };

function folder(files: Record<string, string | Buffer>): string {
  const dir = mkdtempSync(join(tmpdir(), 'calpush-input-'));
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
  return dir;
}

async function items(paths: string[], options: Partial<StreamInputOptions> = {}): Promise<InputItem[]> {
  const out: InputItem[] = [];
  for await (const item of readInputItems(paths, { ...OPTIONS, ...options })) out.push(item);
  return out;
}

const calendar = (...lines: string[]) => ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//calpush tests//EN', ...lines, 'END:VCALENDAR', ''].join('\r\n');
const vevent = (...lines: string[]) => ['BEGIN:VEVENT', 'DTSTAMP:20260901T000000Z', ...lines, 'END:VEVENT'];

describe('NDJSON lines', () => {
  async function viaReadline(path: string): Promise<string[]> {
    const lines: string[] = [];
    for await (const line of createInterface({ input: createReadStream(path, { encoding: 'utf8' }), crlfDelay: Infinity })) lines.push(line);
    return lines;
  }
  async function viaFileLines(path: string): Promise<string[]> {
    const lines: string[] = [];
    for await (const batch of fileLines(path, MAX_LINE_BYTES)) for (const line of batch) lines.push('text' in line ? line.text : '(too long)');
    return lines;
  }

  it('are split as readline splits them (LF, CRLF, CR), also across the 64 KB chunks they are read in', async () => {
    await fc.assert(
      fc.asyncProperty(
        // (readline also breaks lines at U+2028 and U+2029, which JSON allows inside a string: see the next test.)
        fc.array(fc.tuple(fc.string({ unit: 'grapheme', maxLength: 30 }).map((s) => s.replace(/[\r\n\u2028\u2029]/g, '')), fc.constantFrom('\n', '\r\n', '\r')), { maxLength: 40 }),
        fc.integer({ min: 0, max: 200_000 }),
        fc.boolean(),
        async (lines, padding, finalBreak) => {
          const text = `${'x'.repeat(padding)}\n${lines.map(([line, eol]) => line + eol).join('')}${finalBreak ? '' : 'tail'}`;
          const dir = folder({ 'l.ndjson': text });
          const path = join(dir, 'l.ndjson');
          expect(await viaFileLines(path)).toEqual(await viaReadline(path));
        },
      ),
      { numRuns: 60 },
    );
  });

  it('U+2028 and U+2029 inside a JSON string do not break its line (readline broke the record in two)', async () => {
    const record = { calendar: 's0001@contoso.edu', id: 'ls', subject: 'Line\u2028separator\u2029paragraph', start: '2026-12-01T09:00', end: '2026-12-01T10:00', timeZone: 'UTC' };
    const dir = folder({ 'u.ndjson': `${JSON.stringify(record)}\n` });
    expect(await items([join(dir, 'u.ndjson')])).toEqual([{ kind: 'record', record: { record: 'u.ndjson line 1', value: record } }]);
  });

  it('a CRLF split between two chunks is one line break', async () => {
    const first = 'a'.repeat(64 * 1024 - 1);
    const dir = folder({ 'split.ndjson': `${first}\r\nnext\r\n` });
    expect(await viaFileLines(join(dir, 'split.ndjson'))).toEqual([first, 'next']);
  });

  it('a line longer than the limit is reported without being held, and the lines after it are read', async () => {
    const dir = folder({ 'long.ndjson': `{"a":1}\n${'x'.repeat(MAX_LINE_BYTES + 10)}\n{"b":2}\n` });
    const found: Array<{ number: number; tooLong?: true; text?: string }> = [];
    for await (const batch of fileLines(join(dir, 'long.ndjson'), MAX_LINE_BYTES)) found.push(...batch);
    expect(found).toEqual([
      { number: 1, text: '{"a":1}' },
      { number: 2, tooLong: true },
      { number: 3, text: '{"b":2}' },
    ]);
    const read = await items([join(dir, 'long.ndjson')]);
    expect(read.filter((i) => i.kind === 'error')).toEqual([
      { kind: 'error', error: { record: 'long.ndjson line 2', field: '(record)', message: 'is longer than 16 MB; one event per line is expected' }, fileLevel: false },
    ]);
  });
});

describe('files that are not what they claim', () => {
  it('a file of which no line is JSON is a file-level error (an HTML page saved as .ndjson)', async () => {
    const dir = folder({ 'export.ndjson': '<!DOCTYPE html>\n<html><body>Session expired</body></html>\n' });
    const errors = (await items([join(dir, 'export.ndjson')])).filter((i) => i.kind === 'error');
    expect(errors.at(-1)).toEqual({
      kind: 'error',
      fileLevel: true,
      error: { record: 'export.ndjson', field: '(file)', message: expect.stringMatching(/^is neither JSON nor NDJSON \(one event per line\): line 1 /) },
    });
  });

  it('an .ics file that is not iCalendar, or is cut off, is a file-level error naming the file', async () => {
    const dir = folder({
      [`${CAL}.ics`]: '<!DOCTYPE html><html><body>Sign in</body></html>',
      'cut.ics': calendar(...vevent('UID:a', 'DTSTART:20260901T090000Z')).slice(0, -16),
    });
    const errors = (await items([join(dir, `${CAL}.ics`), join(dir, 'cut.ics')], { icsCalendar: CAL })).filter((i) => i.kind === 'error');
    expect(errors).toEqual([
      { kind: 'error', fileLevel: true, error: { record: `${CAL}.ics`, field: '(file)', message: 'is not an iCalendar file (no BEGIN:VCALENDAR; it starts with "<!DOCTYPE html><html><body>Sign in</body></html>")' } },
      { kind: 'error', fileLevel: true, error: { record: 'cut.ics', field: '(file)', message: expect.stringMatching(/^ends before END:VCALENDAR: the file looks truncated/) } },
    ]);
  });

  it.each([
    ['bytes', { maxBytes: 1_024, maxEvents: 20_000, timeoutMs: 60_000 }, /^is \d+ bytes, more than the limit of 1024 bytes; nothing was read from it \(raise limits\.icsMaxBytes in the config if the file is genuine\)$/],
    ['events', { maxBytes: 1e8, maxEvents: 5, timeoutMs: 60_000 }, /^has more than 5 events \(VEVENT components\); nothing was read from it \(raise limits\.icsMaxEvents in the config if the file is genuine\)$/],
  ])('an .ics file over the %s limit is refused as a whole, naming the limit and how to raise it', async (_, icsLimits, message) => {
    const dir = folder({ [`${CAL}.ics`]: calendar(...Array.from({ length: 20 }, (_, n) => vevent(`UID:e${n}`, 'DTSTART:20260901T090000Z', `SUMMARY:${'x'.repeat(40)}`)).flat()) });
    const read = await items([join(dir, `${CAL}.ics`)], { icsLimits });
    expect(read).toEqual([{ kind: 'error', fileLevel: true, error: { record: `${CAL}.ics`, field: '(file)', message: expect.stringMatching(message) } }]);
  });
});

const config = (extra: Record<string, unknown> = {}) =>
  parseConfig({
    instance: 'input-test',
    timeZone: 'Europe/Amsterdam',
    target: { kind: 'graph', tenantId: 'tenant', clientId: 'client', credential: { kind: 'secret', secret: { env: 'UNUSED_SECRET' } } },
    ...extra,
  });

const lecture = (id: string, day: number, extra: string[] = []) =>
  vevent(`UID:${id}`, `DTSTART;TZID=Europe/Amsterdam:202612${String(day).padStart(2, '0')}T090000`, `DTEND;TZID=Europe/Amsterdam:202612${String(day).padStart(2, '0')}T100000`, `SUMMARY:Lecture ${id}`, ...extra);

describe('an input that would leave calendars empty', () => {
  async function seeded(): Promise<{ store: SqliteStore; target: MemoryTarget; dir: string }> {
    const store = new SqliteStore(':memory:');
    const target = new MemoryTarget();
    const dir = folder({ [`${CAL}.ics`]: calendar(...lecture('a', 1), ...lecture('b', 2)) });
    const first = await runSync({ config: config(), baseDir: dir, inputs: [join(dir, `${CAL}.ics`)], store, target });
    expect(first.desired.added).toBe(2);
    return { store, target, dir };
  }

  it('a broken or non-iCalendar file: refused naming its real error, never suggesting --allow-empty; nothing changes', async () => {
    const { store, target, dir } = await seeded();
    writeFileSync(join(dir, `${CAL}.ics`), '<!DOCTYPE html><html><body>Your session has expired</body></html>');
    const refused = runSync({ config: config(), baseDir: dir, inputs: [join(dir, `${CAL}.ics`)], store, target });
    await expect(refused).rejects.toBeInstanceOf(SyncRefused);
    await expect(refused).rejects.toThrow(`nothing was changed: ${CAL}.ics is not an iCalendar file (no BEGIN:VCALENDAR; it starts with "<!DOCTYPE html><html><body>Your session has expired</body><…")`);
    await expect(refused).rejects.not.toThrow(/allow-empty/);
    expect(await store.desiredFor(CAL)).toHaveLength(2);
  });

  it('a file whose every event is broken: refused naming the errors, never suggesting --allow-empty', async () => {
    const { store, target, dir } = await seeded();
    writeFileSync(join(dir, `${CAL}.ics`), calendar(...vevent('UID:a', 'DTSTART;TZID=Europe/Amsterdam:20261231T250000')));
    const refused = runSync({ config: config(), baseDir: dir, inputs: [join(dir, `${CAL}.ics`)], store, target, allowEmpty: false });
    await expect(refused).rejects.toThrow(/has no valid event, which would remove all 2 events .*The input's problems: VEVENT UID=a \(s0001@contoso\.edu\.ics, line 4\) \(s0001@contoso\.edu id "a"\): DTSTART "20261231T250000" is not a valid date-time\. Fix them and run again\.$/);
    await expect(refused).rejects.not.toThrow(/allow-empty/);
    expect(await store.desiredFor(CAL)).toHaveLength(2);
  });

  it('a valid file without events: --allow-empty is suggested (that input really is empty)', async () => {
    const { store, target, dir } = await seeded();
    writeFileSync(join(dir, `${CAL}.ics`), calendar());
    await expect(runSync({ config: config(), baseDir: dir, inputs: [join(dir, `${CAL}.ics`)], store, target })).rejects.toThrow(/nothing was changed\. If that is really wanted, run again with --allow-empty\.$/);
  });

  it('an .ics file over a limit changes nothing either', async () => {
    const { store, target, dir } = await seeded();
    writeFileSync(join(dir, `${CAL}.ics`), calendar(...lecture('a', 1), ...lecture('b', 2), ...lecture('c', 3)));
    const refused = runSync({ config: config({ limits: { icsMaxEvents: 2 } }), baseDir: dir, inputs: [join(dir, `${CAL}.ics`)], store, target });
    await expect(refused).rejects.toThrow(`nothing was changed: ${CAL}.ics has more than 2 events (VEVENT components); nothing was read from it (raise limits.icsMaxEvents in the config if the file is genuine)`);
    expect((await store.desiredFor(CAL)).map((row) => row.sourceId).sort()).toEqual(['a', 'b']);
  });
});

describe('STATUS:CANCELLED: sync and import end the same', () => {
  // sync and import expand series from 30 days before now (no clock to inject there yet): the dates are two to
  // four weeks ahead of whenever the test runs, in UTC, so no time of day or zone matters.
  const day = (offset: number) => new Date(Math.floor(Date.now() / 86_400_000 + 14 + offset) * 86_400_000).toISOString().slice(0, 10).replaceAll('-', '');
  const at = (offset: number, time: string) => `${day(offset)}T${time}00Z`;
  const weekly = (time: string, end: string) => [`DTSTART:${at(0, time)}`, `DTEND:${at(0, end)}`, 'RRULE:FREQ=WEEKLY;COUNT=3', 'SUMMARY:Werkcollege'];
  const single = (id: string, offset: number, extra: string[] = []) => vevent(`UID:${id}`, `DTSTART:${at(offset, '0900')}`, `DTEND:${at(offset, '1000')}`, `SUMMARY:Lecture ${id}`, ...extra);
  const before = calendar(...single('single', 1), ...single('kept', 2), ...vevent('UID:series', ...weekly('0915', '1100')), ...vevent('UID:gone', ...weekly('1315', '1500')));
  const after = calendar(
    ...single('single', 1, ['STATUS:CANCELLED']),
    ...single('kept', 2),
    ...vevent('UID:series', ...weekly('0915', '1100')),
    ...vevent('UID:series', `RECURRENCE-ID:${at(7, '0915')}`, `DTSTART:${at(7, '0915')}`, `DTEND:${at(7, '1100')}`, 'STATUS:CANCELLED'),
    ...vevent('UID:gone', ...weekly('1315', '1500'), 'STATUS:CANCELLED'),
  );
  const remaining = ['kept', `series@${at(0, '0915')}`, `series@${at(14, '0915')}`];

  async function run(kind: 'sync' | 'import'): Promise<{ ids: string[]; removed: number }> {
    const store = new SqliteStore(':memory:');
    const target = new MemoryTarget();
    const dir = folder({ [`${CAL}.ics`]: before });
    const path = join(dir, `${CAL}.ics`);
    const once = () => (kind === 'sync' ? runSync({ config: config(), baseDir: dir, inputs: [path], store, target }) : runImport({ config: config(), baseDir: dir, paths: [path], store, target }));
    expect((await once()).desired.added).toBe(8);
    writeFileSync(path, after);
    const result = await once();
    const ids = (await store.desiredFor(CAL)).map((row) => row.sourceId).sort();
    expect([...target.items.get(CAL)!.values()].map((item) => item.subject).sort()).toEqual(['Lecture kept', 'Werkcollege', 'Werkcollege']);
    await store.close();
    return { ids, removed: result.desired.removed };
  }

  it('sync removes the cancelled event, occurrence and series: the input is the complete state', async () => {
    expect(await run('sync')).toEqual({ ids: remaining, removed: 5 });
  });

  it('import removes them too, though it removes nothing else', async () => {
    expect(await run('import')).toEqual({ ids: remaining, removed: 5 });
  });

  it('the reader tells who asks which ids are cancelled', async () => {
    const dir = folder({ [`${CAL}.ics`]: after });
    const cancelled: Cancellation[] = [];
    await items([join(dir, `${CAL}.ics`)], { onCancelled: (c) => cancelled.push(c) });
    expect(cancelled.map(({ id, series }) => ({ id, series }))).toEqual([
      { id: 'single', series: false },
      { id: `series@${at(7, '0915')}`, series: false },
      { id: 'gone', series: true },
    ]);
  });
});
