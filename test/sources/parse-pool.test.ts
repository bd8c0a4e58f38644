// The parse pool: .ics parsed in worker threads, with the same result as in this thread, under limits of bytes,
// events, time and memory; a parse stopped on request; the worker file found from src/ and from dist/.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseIcs, type IcsOptions } from '../../src/sources/ics.ts';
import { DEFAULT_PARSE_LIMITS, ParsePool, ParseStopped, workerUrl, type ParseLimits } from '../../src/sources/parse-pool.ts';

const OPTIONS: IcsOptions = {
  calendar: 'm.jansen@example.edu',
  defaultTimeZone: 'Europe/Amsterdam',
  horizon: { fromMs: Date.parse('2026-08-01T00:00:00Z'), toMs: Date.parse('2027-09-01T00:00:00Z') },
  origin: 'test.ics',
};
const LIMITS: ParseLimits = { ...DEFAULT_PARSE_LIMITS, timeoutMs: 20_000 };
const fixture = (name: string) => readFileSync(new URL(`../fixtures/ics/${name}`, import.meta.url));
const calendar = (body: string) => Buffer.from(`BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//calpush tests//EN\r\n${body}END:VCALENDAR\r\n`);
const singles = (count: number) => calendar(Array.from({ length: count }, (_, n) => `BEGIN:VEVENT\r\nUID:e${n}\r\nDTSTART:20260901T090000Z\r\nSUMMARY:Event ${n}\r\nEND:VEVENT\r\n`).join(''));

const pool = new ParsePool({ size: 2, maxBytes: DEFAULT_PARSE_LIMITS.maxBytes });
afterAll(() => pool.close());

describe('a worker parses exactly as this thread does', () => {
  it.each(['outlook-exchange.ics', 'google.ics', 'apple.ics', 'timetable.ics', 'broken.ics', 'exchange-display-tzid.ics'])('%s', async (name) => {
    const bytes = fixture(name);
    expect(await pool.parse(bytes, OPTIONS, LIMITS)).toEqual(parseIcs(bytes, OPTIONS));
  });

  it('returns every input of a large file (they come back in chunks), and the caller keeps its bytes', async () => {
    const bytes = singles(5_000);
    const result = await pool.parse(bytes, OPTIONS, LIMITS);
    expect(result.inputs.map((i) => i.input.id)).toEqual(Array.from({ length: 5_000 }, (_, n) => `e${n}`));
    expect(bytes.length).toBeGreaterThan(0);
  });

  it('can take over the bytes instead of copying them (the caller then has none)', async () => {
    const bytes = Buffer.from(singles(3_000));
    const result = await pool.parse(bytes, OPTIONS, LIMITS, undefined, true);
    expect(result.inputs).toHaveLength(3_000);
    expect(bytes.length).toBe(0);
    const shared = Buffer.from('BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n'); // a slice of Node's shared pool: copied
    expect((await pool.parse(shared, OPTIONS, LIMITS, undefined, true)).errors).toEqual([]);
    expect(shared.length).toBeGreaterThan(0);
  });

  it('parses as many files at once as it has workers, and queues the rest', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, (_, n) => pool.parse(singles(10 + n), OPTIONS, LIMITS)));
    expect(results.map((r) => r.inputs.length)).toEqual([10, 11, 12, 13, 14]);
  });
});

describe('limits', () => {
  it('a file over the byte limit is refused before a worker sees it', async () => {
    const result = await pool.parse(singles(100), OPTIONS, { ...LIMITS, maxBytes: 1_000 });
    expect(result.refusal).toEqual({ limit: 'bytes', message: expect.stringMatching(/^is \d+ bytes, more than the limit of 1000 bytes$/) });
    expect(result.errors).toEqual([{ record: '(file)', field: '(file)', message: `test.ics: ${result.refusal!.message}` }]);
    expect(result.inputs).toEqual([]);
  });

  it('a file with more events than the limit is refused as a whole', async () => {
    const result = await pool.parse(singles(101), OPTIONS, { ...LIMITS, maxEvents: 100 });
    expect(result.refusal).toEqual({ limit: 'events', message: 'has more than 100 events (VEVENT components)' });
    expect(result.inputs).toEqual([]);
  });

  it('a parse that takes longer than the time limit is stopped, and the pool goes on with a new worker', async () => {
    const started = performance.now();
    const result = await pool.parse(singles(19_000), OPTIONS, { ...LIMITS, timeoutMs: 50 });
    expect(result.refusal).toEqual({ limit: 'time', message: 'took longer than 0.05 s to parse (the parse was stopped)' });
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((await pool.parse(singles(3), OPTIONS, LIMITS)).inputs).toHaveLength(3);
  });

  it('a file that needs more memory than its worker may use is refused, and the process lives on', async () => {
    const small = new ParsePool({ size: 1, maxBytes: 1_024 }); // heap limit 257 MB
    try {
      const properties = Array.from({ length: 400 }, (_, n) => `X-P${n}:v`).join('\r\n');
      const bytes = calendar(Array.from({ length: 15_000 }, (_, n) => `BEGIN:VEVENT\r\nUID:e${n}\r\nDTSTART:20260901T090000Z\r\n${properties}\r\nEND:VEVENT\r\n`).join(''));
      const result = await small.parse(bytes, OPTIONS, { maxBytes: 1e9, maxEvents: 1e6, timeoutMs: 120_000 });
      expect(result.refusal).toEqual({ limit: 'memory', message: 'needs more than the 257 MB of memory its parser may use (the parse was stopped)' });
      expect((await small.parse(singles(2), OPTIONS, LIMITS)).inputs).toHaveLength(2);
    } finally {
      await small.close();
    }
  }, 120_000);
});

describe('stopping', () => {
  it('an aborted parse rejects with ParseStopped at once, and the pool goes on', async () => {
    const controller = new AbortController();
    const parsing = pool.parse(singles(19_000), OPTIONS, LIMITS, controller.signal);
    setTimeout(() => controller.abort(), 20);
    const started = performance.now();
    await expect(parsing).rejects.toBeInstanceOf(ParseStopped);
    expect(performance.now() - started).toBeLessThan(1_000);
    expect((await pool.parse(singles(1), OPTIONS, LIMITS)).inputs).toHaveLength(1);
  });

  it('a closed pool refuses new parses', async () => {
    const closed = new ParsePool({ size: 1, maxBytes: 1_024 });
    await closed.close();
    await expect(closed.parse(singles(1), OPTIONS, LIMITS)).rejects.toBeInstanceOf(ParseStopped);
  });
});

describe('the worker file', () => {
  it('is parse-worker.ts next to the sources and parse-worker.js next to the build', () => {
    expect(workerUrl('file:///opt/calpush/src/sources/parse-pool.ts').href).toBe('file:///opt/calpush/src/sources/parse-worker.ts');
    expect(workerUrl('file:///opt/calpush/dist/sources/parse-pool.js').href).toBe('file:///opt/calpush/dist/sources/parse-worker.js');
    expect(workerUrl().href).toMatch(/\/src\/sources\/parse-worker\.ts$/);
  });
});
