// The iCalendar feed source against a real HTTP server on loopback: exports as Outlook, Google, Apple and
// timetabling systems write them, conditional GET, failures that must delete nothing, the empty-feed valve, and
// the refusal of private and metadata addresses.
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/model/event.ts';
import { AddressPolicy, expandTemplate, feedsConfigSchema, FeedPoller, feedUrls, fetchFeed, type FeedsConfigInput } from '../../src/sources/feeds.ts';
import { parseIcs } from '../../src/sources/ics.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const NOW = Date.parse('2026-09-01T08:00:00Z');
const CAL = 's0001@contoso.edu';

interface Served {
  status?: number;
  body?: string | Buffer;
  headers?: Record<string, string>;
  /** Answer 304 when the request carries this ETag / Last-Modified. */
  etag?: string;
  lastModified?: string;
  delayMs?: number;
  gzip?: boolean;
  /** Stop after this many bytes of the body (the connection is then cut). */
  truncateAt?: number;
}

let server: Server;
let base: string;
let port: number;
const routes = new Map<string, Served>();
const requests: Array<{ path: string; headers: IncomingMessage['headers'] }> = [];

function handle(request: IncomingMessage, response: ServerResponse): void {
  const path = request.url ?? '/';
  requests.push({ path, headers: request.headers });
  const served = routes.get(path);
  if (!served) {
    response.writeHead(404).end('not found');
    return;
  }
  const send = () => {
    if (served.etag && request.headers['if-none-match'] === served.etag) return void response.writeHead(304, { etag: served.etag }).end();
    if (served.lastModified && request.headers['if-modified-since'] === served.lastModified) return void response.writeHead(304).end();
    let body = typeof served.body === 'string' ? Buffer.from(served.body) : (served.body ?? Buffer.alloc(0));
    const headers: Record<string, string> = { 'content-type': 'text/calendar; charset=utf-8', ...served.headers };
    if (served.etag) headers.etag = served.etag;
    if (served.lastModified) headers['last-modified'] = served.lastModified;
    if (served.gzip) {
      body = gzipSync(body);
      headers['content-encoding'] = 'gzip';
    }
    if (served.truncateAt !== undefined) {
      response.writeHead(served.status ?? 200, { ...headers, 'content-length': String(body.length) });
      response.write(body.subarray(0, served.truncateAt));
      setTimeout(() => response.destroy(), 10);
      return;
    }
    response.writeHead(served.status ?? 200, headers).end(body);
  };
  if (served.delayMs) setTimeout(send, served.delayMs);
  else send();
}

beforeAll(async () => {
  server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  base = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  routes.clear();
  requests.length = 0;
});

const fixture = (path: string) => readFileSync(new URL(`../fixtures/${path}`, import.meta.url));
const EMPTY = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Roosterbureau//Roosterexport 4.1//NL', 'X-WR-TIMEZONE:Europe/Amsterdam', 'END:VCALENDAR', ''].join('\r\n');

function poller(store: SqliteStore, urls: Record<string, string>, config: FeedsConfigInput = {}, now = () => NOW) {
  const changed: string[] = [];
  const feeds = feedsConfigSchema.parse({ allowPrivateAddresses: true, timeoutSeconds: 2, ...config });
  const instance = new FeedPoller({ store, feeds, urls: new Map(Object.entries(urls)), timeZone: 'Europe/Amsterdam', now, onChange: (c) => changed.push(c) });
  return { poller: instance, changed };
}

/** What the feed should put in the store: parseIcs + validateEvent, by id → content hash. */
function expected(body: Buffer, calendar: string): Map<string, string> {
  const parsed = parseIcs(body, { calendar, defaultTimeZone: 'Europe/Amsterdam', horizon: { fromMs: NOW - 30 * 86_400_000, toMs: NOW + 400 * 86_400_000 } });
  const map = new Map<string, string>();
  for (const { input } of parsed.inputs) {
    const result = validateEvent(input);
    if (result.ok) map.set(result.desired.event.id, result.desired.contentHash);
  }
  return map;
}

async function snapshot(store: SqliteStore, calendar: string): Promise<Map<string, string>> {
  return new Map((await store.desiredFor(calendar)).map((row) => [row.sourceId, row.contentHash]));
}

describe('feeds as exporters write them', () => {
  const exports = [
    ['Outlook (Windows zone names, EXDATE, moved occurrence, HTML description)', 'ics/outlook-exchange.ics'],
    ['Exchange (a display name as TZID)', 'ics/exchange-display-tzid.ics'],
    ['Outlook (Customized Time Zone, only its VTIMEZONE defines it)', 'feeds/outlook-custom-tz.ics'],
    ['Google (X-WR-TIMEZONE, RECURRENCE-ID overrides, all-day)', 'ics/google.ics'],
    ['Apple (folded lines, non-ASCII, default alarms)', 'ics/apple.ics'],
    ['a timetabling system (IANA zones, EXDATE, overrides)', 'ics/timetable.ics'],
    ['a timetabling system (floating times, DST, all-day, folded UTF-8)', 'feeds/timetable-floating.ics'],
  ] as const;

  it.each(exports)('%s: every event lands in the store exactly as the file parser reads it', async (_name, path) => {
    const store = new SqliteStore(':memory:');
    const body = fixture(path);
    routes.set('/feed.ics', { body });
    const { poller: p, changed } = poller(store, { [CAL]: `${base}/feed.ics` });
    const result = await p.poll(CAL);
    expect(result.error).toBeUndefined();
    expect(result.outcome).toBe('changed');
    const want = expected(body, CAL);
    expect(want.size).toBeGreaterThan(0);
    expect(result.added).toBe(want.size);
    expect(await snapshot(store, CAL)).toEqual(want);
    expect(changed).toEqual([CAL]);
    // The same feed again: unchanged, nothing to deliver.
    const again = await p.poll(CAL);
    expect(again.outcome).toBe('unchanged');
    expect(changed).toEqual([CAL]);
    await store.close();
  });

  it('expands a floating-time series into occurrences in the feed’s zone, across the end of summer time, without the EXDATE and with the moved one', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/s0001.ics', { body: fixture('feeds/timetable-floating.ics') });
    await poller(store, { [CAL]: `${base}/s0001.ics` }).poller.poll(CAL);
    const rows = await store.desiredFor(CAL);
    const series = rows.filter((r) => r.sourceId.startsWith('rooster-2026-INF101-hc@')).sort((a, b) => a.startsAtMs - b.startsAtMs);
    expect(series.map((r) => new Date(r.startsAtMs).toISOString())).toEqual([
      '2026-10-13T07:00:00.000Z', // 09:00 CEST
      '2026-10-20T07:00:00.000Z',
      // 27 Oct is an EXDATE
      '2026-11-03T12:00:00.000Z', // moved to 13:00 CET
      '2026-11-10T08:00:00.000Z', // 09:00 CET
    ]);
    const moved = series[2]!.event;
    expect(moved.subject).toBe('INF101 Inleiding programmeren — hoorcollege (verplaatst)');
    expect(series[0]!.event.subject).toBe('INF101 Inleiding programmeren — hoorcollege (Ångström-zaal, één van de grootste zalen van de campus)');
    expect(series[0]!.event.body?.content).toContain('日本語のメモ付き。Een heel lange regel');
    expect(series[0]!.event.location).toBe('Ångströmgebouw 0.12 – Collegezaal Ω');
    const exams = rows.find((r) => r.sourceId === 'rooster-2026-tentamenweek@roosterbureau.example.edu')!.event;
    expect(exams.timing).toEqual({ allDay: true, startDate: '2026-11-16', endDate: '2026-11-21' });
    expect(exams.showAs).toBe('free');
    await store.close();
  });

  it('converts a zone no table knows with the file’s own VTIMEZONE', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/custom.ics', { body: fixture('feeds/outlook-custom-tz.ics') });
    await poller(store, { [CAL]: `${base}/custom.ics` }).poller.poll(CAL);
    const starts = (await store.desiredFor(CAL)).map((r) => new Date(r.startsAtMs).toISOString()).sort();
    expect(starts).toEqual(['2026-10-21T07:00:00.000Z', '2026-10-28T08:00:00.000Z', '2026-11-04T08:00:00.000Z']);
    await store.close();
  });

  it('applies the good events of a feed with bad ones and keeps what was there for the bad ones', async () => {
    const store = new SqliteStore(':memory:');
    const good = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//Example//Roosterexport 3.2//NL', 'BEGIN:VEVENT', 'UID:bad-date@rooster.example.edu', 'DTSTAMP:20260901T000000Z',
      'DTSTART:20260930T090000Z', 'DTEND:20260930T100000Z', 'SUMMARY:Was fine before', 'END:VEVENT', 'END:VCALENDAR', ''].join('\r\n');
    routes.set('/feed.ics', { body: good });
    const { poller: p } = poller(store, { [CAL]: `${base}/feed.ics` });
    await p.poll(CAL);
    // broken.ics is cut off mid-event; completed, it is a whole file with broken events in it.
    routes.set('/feed.ics', { body: `${fixture('ics/broken.ics').toString('utf8').trimEnd()}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n` });
    const result = await p.poll(CAL);
    expect(result.outcome).toBe('changed');
    expect(result.errors.length).toBeGreaterThan(3);
    expect(result.errors.every((e) => e.record && e.field && e.message)).toBe(true);
    expect(result.events).toBeGreaterThan(0);
    const kept = (await store.desiredFor(CAL)).find((r) => r.sourceId === 'bad-date@rooster.example.edu');
    expect(kept?.event.subject).toBe('Was fine before');
    await store.close();
  });

  it('reads gzip-encoded feeds', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/gz.ics', { body: fixture('ics/google.ics'), gzip: true });
    const result = await poller(store, { [CAL]: `${base}/gz.ics` }).poller.poll(CAL);
    expect(result.outcome).toBe('changed');
    expect(requests[0]!.headers['accept-encoding']).toContain('gzip');
    await store.close();
  });
});

describe('conditional GET', () => {
  it('sends the ETag back; a 304 changes nothing and costs nothing', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/etag.ics', { body: fixture('ics/timetable.ics'), etag: '"v1"' });
    const { poller: p, changed } = poller(store, { [CAL]: `${base}/etag.ics` });
    expect((await p.poll(CAL)).outcome).toBe('changed');
    const before = await snapshot(store, CAL);
    const versionBefore = (await store.mailbox(CAL))!.desiredVersion;
    expect((await p.poll(CAL)).outcome).toBe('not-modified');
    expect(requests[1]!.headers['if-none-match']).toBe('"v1"');
    expect(await snapshot(store, CAL)).toEqual(before);
    expect((await store.mailbox(CAL))!.desiredVersion).toBe(versionBefore);
    expect(changed).toEqual([CAL]);
    expect(await store.feedState(CAL)).toMatchObject({ etag: '"v1"', lastOutcome: 'not-modified' });
  });

  it('sends Last-Modified back as If-Modified-Since', async () => {
    const store = new SqliteStore(':memory:');
    const stamp = 'Tue, 01 Sep 2026 06:00:00 GMT';
    routes.set('/lm.ics', { body: fixture('ics/apple.ics'), lastModified: stamp });
    const { poller: p } = poller(store, { [CAL]: `${base}/lm.ics` });
    await p.poll(CAL);
    expect((await p.poll(CAL)).outcome).toBe('not-modified');
    expect(requests[1]!.headers['if-modified-since']).toBe(stamp);
  });

  it('fetches without validators once fullRefreshHours have passed, so the recurrence window moves', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/etag.ics', { body: fixture('ics/timetable.ics'), etag: '"v1"' });
    let now = NOW;
    const { poller: p } = poller(store, { [CAL]: `${base}/etag.ics` }, { fullRefreshHours: 24 }, () => now);
    await p.poll(CAL);
    now += 25 * 3_600_000;
    expect((await p.poll(CAL)).outcome).toBe('unchanged');
    expect(requests[1]!.headers['if-none-match']).toBeUndefined();
    expect((await p.poll(CAL)).outcome).toBe('not-modified');
  });

  it('a changed feed removes what it no longer has', async () => {
    const store = new SqliteStore(':memory:');
    const full = fixture('feeds/timetable-floating.ics').toString('utf8');
    routes.set('/f.ics', { body: full, etag: '"a"' });
    const { poller: p } = poller(store, { [CAL]: `${base}/f.ics` });
    await p.poll(CAL);
    const without = full.replace(/BEGIN:VEVENT\r\nUID:rooster-2026-WIS102[\s\S]*?END:VEVENT\r\n/, '');
    routes.set('/f.ics', { body: without, etag: '"b"' });
    const result = await p.poll(CAL);
    expect(result).toMatchObject({ outcome: 'changed', removed: 1, added: 0 });
    expect((await store.desiredFor(CAL)).some((r) => r.sourceId.startsWith('rooster-2026-WIS102'))).toBe(false);
  });
});

describe('retention: a feed re-read as time passes', () => {
  // A daily lecture from 1 September 2026 for 90 days, and a one-off meeting, polled on 1 September 08:00 UTC (NOW)
  // and again 60 days later: by then the expansion window (from 30 days ago) no longer holds September.
  const feed = [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//test//EN',
    'BEGIN:VEVENT',
    'UID:daily-lecture',
    'DTSTAMP:20260801T000000Z',
    'DTSTART;TZID=Europe/Amsterdam:20260901T090000',
    'DTEND;TZID=Europe/Amsterdam:20260901T100000',
    'RRULE:FREQ=DAILY;COUNT=90',
    'SUMMARY:Daily lecture',
    'END:VEVENT',
    'BEGIN:VEVENT',
    'UID:kick-off',
    'DTSTAMP:20260801T000000Z',
    'DTSTART;TZID=Europe/Amsterdam:20260902T140000',
    'DTEND;TZID=Europe/Amsterdam:20260902T150000',
    'SUMMARY:Kick-off',
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
  const later = NOW + 60 * 86_400_000;

  it('keeps every past occurrence and event when the clock has moved 60 days forward', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/daily.ics', { body: feed });
    let now = NOW;
    const { poller: p } = poller(store, { [CAL]: `${base}/daily.ics` }, {}, () => now);
    expect(await p.poll(CAL)).toMatchObject({ outcome: 'changed', added: 91 });
    const first = await snapshot(store, CAL);

    now = later;
    const result = await p.poll(CAL);
    // The lectures of 1 September to 1 October left the window; none of them is removed, nothing is changed.
    expect(result).toMatchObject({ removed: 0, changed: 0, added: 0, kept: 31, outcome: 'unchanged' });
    expect(await snapshot(store, CAL)).toEqual(first);

    // The source drops the one-off meeting (past) and the rest of the series (future): only the future goes.
    routes.set('/daily.ics', { body: feed.replace('RRULE:FREQ=DAILY;COUNT=90', 'RRULE:FREQ=DAILY;COUNT=70').replace(/BEGIN:VEVENT\r\nUID:kick-off[\s\S]*?END:VEVENT\r\n/, '') });
    const dropped = await p.poll(CAL);
    expect(dropped).toMatchObject({ outcome: 'changed', removed: 20, kept: 32 });
    const ids = [...(await snapshot(store, CAL)).keys()];
    expect(ids).toContain('kick-off');
    expect(ids.filter((id) => id.startsWith('daily-lecture@'))).toHaveLength(70);
  });

  it('with retention "prune", removes past events once they ended more than afterDays ago', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/daily.ics', { body: feed });
    let now = NOW;
    const feeds = feedsConfigSchema.parse({ allowPrivateAddresses: true, timeoutSeconds: 2 });
    const p = new FeedPoller({ store, feeds, urls: new Map([[CAL, `${base}/daily.ics`]]), timeZone: 'Europe/Amsterdam', now: () => now, retention: { past: 'prune', afterDays: 14 } });
    await p.poll(CAL);
    now = later;
    const result = await p.poll(CAL);
    // Out of the window (from 1 October 08:00 UTC): the 31 lectures up to 1 October 09:00 Amsterdam, all ended more
    // than 14 days ago. The kick-off is a single event, still in the feed: it stays, past or not.
    expect(result).toMatchObject({ removed: 31, kept: 0 });
    const ids = [...(await snapshot(store, CAL)).keys()];
    expect(ids).toContain('kick-off');
    expect(ids.filter((id) => id.startsWith('daily-lecture@'))).toHaveLength(59);
  });
});

describe('a feed that fails deletes nothing', () => {
  const failures: Array<[string, Served, string]> = [
    ['HTTP 500', { status: 500, body: 'oops' }, 'http-status'],
    ['HTTP 404', { status: 404, body: 'gone' }, 'http-status'],
    ['an HTML login page answered 200', { body: '<!doctype html><html><body>Please sign in</body></html>', headers: { 'content-type': 'text/html' } }, 'not-icalendar'],
    ['garbage bytes', { body: Buffer.from([0xff, 0xfe, 0x00, 0x42, 0x13, 0x37]) }, 'not-icalendar'],
    ['a file cut before END:VCALENDAR', { body: fixture('ics/google.ics').toString('utf8').split('END:VCALENDAR')[0]!.slice(0, 1500) }, 'not-icalendar'],
    ['a connection cut mid-body', { body: fixture('ics/google.ics'), truncateAt: 700 }, 'network'],
    ['a server that never answers', { body: fixture('ics/google.ics'), delayMs: 4_000 }, 'timeout'],
    ['a feed larger than maxBytes', { body: `${fixture('ics/google.ics').toString('utf8')}${' '.repeat(300_000)}` }, 'too-large'],
  ];

  it.each(failures)('%s', async (_name, served, code) => {
    const store = new SqliteStore(':memory:');
    routes.set('/feed.ics', { body: fixture('ics/google.ics'), etag: '"good"' });
    const { poller: p, changed } = poller(store, { [CAL]: `${base}/feed.ics` }, { timeoutSeconds: 1, maxBytes: 200_000 });
    await p.poll(CAL);
    const before = await snapshot(store, CAL);
    expect(before.size).toBeGreaterThan(0);
    const version = (await store.mailbox(CAL))!.desiredVersion;

    routes.set('/feed.ics', served);
    const result = await p.poll(CAL);
    expect(result.outcome).toBe('failed');
    expect(result.error?.code).toBe(code);
    expect(await snapshot(store, CAL)).toEqual(before);
    expect((await store.mailbox(CAL))!.desiredVersion).toBe(version);
    expect(changed).toEqual([CAL]);
    expect(await store.feedState(CAL)).toMatchObject({ lastOutcome: 'failed', etag: '"good"' });
    await store.close();
  }, 10_000);

  it('a closed port', async () => {
    const store = new SqliteStore(':memory:');
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await poller(store, { [CAL]: `http://127.0.0.1:${closedPort}/x.ics` }).poller.poll(CAL);
    expect(result).toMatchObject({ outcome: 'failed', error: { code: 'network', message: 'ECONNREFUSED' } });
  });
});

describe('a feed over a parse limit changes nothing', () => {
  const many = (count: number) =>
    ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//x//EN', ...Array.from({ length: count }, (_, n) => `BEGIN:VEVENT\r\nUID:m${n}\r\nDTSTART:20260915T090000Z\r\nSUMMARY:Event ${n}\r\nEND:VEVENT`), 'END:VCALENDAR', ''].join('\r\n');
  /** 31 KB: 200 hourly series of 5,000 occurrences each, a million events. */
  const amplifying = ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//x//EN', ...Array.from({ length: 200 }, (_, n) => `BEGIN:VEVENT\r\nUID:a${n}\r\nDTSTART:20260901T000000Z\r\nDURATION:PT1M\r\nRRULE:FREQ=HOURLY\r\nEND:VEVENT`), 'END:VCALENDAR', ''].join('\r\n');

  async function refused(config: FeedsConfigInput, body: string, calendar = CAL) {
    const store = new SqliteStore(':memory:');
    routes.set('/feed.ics', { body: fixture('ics/google.ics') });
    const { poller: p } = poller(store, { [calendar]: `${base}/feed.ics` }, config);
    await p.poll(calendar);
    const before = await snapshot(store, calendar);
    expect(before.size).toBeGreaterThan(0);
    routes.set('/feed.ics', { body });
    const result = await p.poll(calendar);
    expect(await snapshot(store, calendar)).toEqual(before);
    await p.stop();
    await store.close();
    return result;
  }

  it('more events than maxEvents: failed, naming the limit and the settings that raise it', async () => {
    const result = await refused({ maxEvents: 100 }, many(101));
    expect(result).toMatchObject({ outcome: 'failed', error: { code: 'over-limit' } });
    expect(result.error!.message).toBe(
      `the feed has more than 100 events (VEVENT components); nothing was changed (raise feeds.maxEvents (or feeds.perFeed["${CAL}"].maxEvents for this feed alone) if the feed is genuine)`,
    );
  });

  it('31 KB of recurrence rules that would become a million events', async () => {
    expect(amplifying.length).toBeLessThan(32_000);
    const result = await refused({}, amplifying);
    expect(result.error).toEqual({
      code: 'over-limit',
      message: `the feed has more than 20000 events (single events and occurrences of recurring series in the horizon); nothing was changed (raise feeds.maxEvents (or feeds.perFeed["${CAL}"].maxEvents for this feed alone) if the feed is genuine)`,
    });
  });

  it('a parse longer than parseTimeoutSeconds is stopped; perFeed limits apply to their feed only', async () => {
    const result = await refused({ perFeed: { [CAL.toUpperCase()]: { maxEvents: 1_000_000, parseTimeoutSeconds: 1 } } }, many(150_000));
    expect(result.error).toEqual({
      code: 'over-limit',
      message: `the feed took longer than 1 s to parse (the parse was stopped); nothing was changed (raise feeds.perFeed["${CAL}"].parseTimeoutSeconds if the feed is genuine)`,
    });
  }, 30_000);

  it('perFeed raises a limit for one feed', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/a.ics', { body: many(150) });
    routes.set('/b.ics', { body: many(150) });
    const other = 'p.pietersen@contoso.edu';
    const { poller: p } = poller(store, { [CAL]: `${base}/a.ics`, [other]: `${base}/b.ics` }, { maxEvents: 100, perFeed: { [other]: { maxEvents: 200 } } });
    expect((await p.poll(CAL)).error?.code).toBe('over-limit');
    expect(await p.poll(other)).toMatchObject({ outcome: 'changed', events: 150 });
    await p.stop();
    await store.close();
  });

  it('stop() ends a running parse at once, recording nothing', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/feed.ics', { body: many(150_000) });
    const { poller: p } = poller(store, { [CAL]: `${base}/feed.ics` }, { maxEvents: 1_000_000 });
    const polling = p.poll(CAL);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = performance.now();
    await p.stop();
    expect(performance.now() - started).toBeLessThan(1_000);
    expect(await polling).toMatchObject({ outcome: 'failed', error: { code: 'stopped' } });
    expect(await store.feedState(CAL)).toBeNull();
    expect(await store.desiredFor(CAL)).toEqual([]);
    await store.close();
  }, 30_000);
});

describe('a feed that suddenly comes back empty', () => {
  it('removes the calendar’s events only after emptyConfirmations empty fetches in a row', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/feed.ics', { body: fixture('ics/timetable.ics'), etag: '"full"' });
    const { poller: p } = poller(store, { [CAL]: `${base}/feed.ics` }, { emptyConfirmations: 3 });
    await p.poll(CAL);
    const before = await snapshot(store, CAL);

    routes.set('/feed.ics', { body: EMPTY, etag: '"empty"' });
    expect((await p.poll(CAL)).outcome).toBe('empty-unconfirmed');
    expect(await snapshot(store, CAL)).toEqual(before);
    expect((await p.poll(CAL)).outcome).toBe('empty-unconfirmed');
    // Each confirmation is a real fetch, not a 304 on the empty file's ETag.
    expect(requests.at(-1)!.headers['if-none-match']).toBeUndefined();
    expect(await snapshot(store, CAL)).toEqual(before);
    expect((await store.feedState(CAL))!.consecutiveEmpty).toBe(2);

    const third = await p.poll(CAL);
    expect(third).toMatchObject({ outcome: 'changed', removed: before.size });
    expect(await store.desiredFor(CAL)).toEqual([]);
    expect((await store.feedState(CAL))!.consecutiveEmpty).toBe(0);
  });

  it('starts counting again when the feed has events in between', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/feed.ics', { body: fixture('ics/timetable.ics') });
    const { poller: p } = poller(store, { [CAL]: `${base}/feed.ics` }, { emptyConfirmations: 2 });
    await p.poll(CAL);
    routes.set('/feed.ics', { body: EMPTY });
    expect((await p.poll(CAL)).outcome).toBe('empty-unconfirmed');
    routes.set('/feed.ics', { body: fixture('ics/timetable.ics') });
    expect((await p.poll(CAL)).outcome).toBe('unchanged');
    routes.set('/feed.ics', { body: EMPTY });
    expect((await p.poll(CAL)).outcome).toBe('empty-unconfirmed');
    expect((await store.desiredFor(CAL)).length).toBeGreaterThan(0);
  });

  it('an empty feed for a calendar without events is simply empty', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/feed.ics', { body: EMPTY });
    expect((await poller(store, { [CAL]: `${base}/feed.ics` }).poller.poll(CAL)).outcome).toBe('unchanged');
  });
});

describe('server-side request forgery', () => {
  it('refuses loopback, private, link-local, unique-local and metadata addresses; metadata even when private ones are allowed', () => {
    const strict = new AddressPolicy(false);
    const lenient = new AddressPolicy(true);
    const refusedAlways = ['169.254.169.254', 'fd00:ec2::254', '::ffff:169.254.169.254', '::ffff:a9fe:a9fe', '168.63.129.16', '100.100.100.200', '64:ff9b::a9fe:a9fe'];
    const refusedUnlessAllowed = [
      '127.0.0.1',
      '127.1.2.3',
      '10.1.2.3',
      '172.16.0.1',
      '172.31.255.255',
      '192.168.1.1',
      '169.254.10.10',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '255.255.255.255',
      '::1',
      '::',
      'fe80::1',
      'fc00::1',
      'fd12:3456::1',
      'ff02::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
      '64:ff9b::7f00:1',
      '2002:7f00:1::',
    ];
    const allowed = ['93.184.216.34', '8.8.8.8', '172.32.0.1', '2606:4700::1111', '2a00:1450:4001::200e'];
    for (const ip of refusedAlways) {
      expect(strict.refusal(ip), ip).not.toBeNull();
      expect(lenient.refusal(ip), ip).not.toBeNull();
    }
    for (const ip of refusedUnlessAllowed) {
      expect(strict.refusal(ip), ip).not.toBeNull();
      expect(lenient.refusal(ip), ip).toBeNull();
    }
    for (const ip of allowed) expect(strict.refusal(ip), ip).toBeNull();
    const listed = new AddressPolicy(['10.20.0.0/16', '169.254.169.254/32']);
    expect(listed.refusal('10.20.1.1')).toBeNull();
    expect(listed.refusal('10.21.1.1')).not.toBeNull();
    expect(listed.refusal('169.254.169.254')).toBeNull();
  });

  const strictOptions = { timeoutMs: 2000, maxBytes: 1_000_000, maxRedirects: 5, policy: new AddressPolicy(false) };

  it('refuses an address in the URL before connecting', async () => {
    routes.set('/feed.ics', { body: fixture('ics/google.ics') });
    await expect(fetchFeed(`${base}/feed.ics`, strictOptions)).rejects.toMatchObject({ code: 'refused-address' });
    await expect(fetchFeed(`http://[::1]:${port}/feed.ics`, strictOptions)).rejects.toMatchObject({ code: 'refused-address' });
    await expect(fetchFeed('http://169.254.169.254/latest/meta-data/', { ...strictOptions, policy: new AddressPolicy(true) })).rejects.toMatchObject({ code: 'refused-address' });
    expect(requests).toEqual([]);
  });

  it('checks the address a host name resolves to, not the name', async () => {
    routes.set('/feed.ics', { body: fixture('ics/google.ics') });
    const error = await fetchFeed(`http://localhost:${port}/feed.ics`, strictOptions).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'refused-address' });
    expect((error as Error).message).toMatch(/localhost resolves to (127\.0\.0\.1|::1)/);
    expect(requests).toEqual([]);
  });

  it('does not follow a redirect to a refused address, and follows one to an allowed address', async () => {
    const policy = new AddressPolicy(['127.0.0.1/32']);
    routes.set('/feed.ics', { body: fixture('ics/google.ics') });
    routes.set('/moved', { status: 302, headers: { location: '/feed.ics' } });
    routes.set('/evil', { status: 301, headers: { location: `http://127.0.0.2:${port}/feed.ics` } });
    routes.set('/metadata', { status: 307, headers: { location: 'http://169.254.169.254/latest/meta-data/iam/security-credentials/' } });
    routes.set('/loop', { status: 302, headers: { location: '/loop' } });
    const ok = await fetchFeed(`${base}/moved`, { ...strictOptions, policy });
    expect(ok).toMatchObject({ status: 200, url: `${base}/feed.ics` });
    await expect(fetchFeed(`${base}/evil`, { ...strictOptions, policy })).rejects.toMatchObject({ code: 'refused-address' });
    await expect(fetchFeed(`${base}/metadata`, { ...strictOptions, policy })).rejects.toMatchObject({ code: 'refused-address' });
    await expect(fetchFeed(`${base}/loop`, { ...strictOptions, policy })).rejects.toMatchObject({ code: 'redirects' });
    await expect(fetchFeed(`file:///etc/passwd`, { ...strictOptions, policy })).rejects.toMatchObject({ code: 'bad-url' });
  });

  it('a refused feed is a failed feed: nothing changes', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/feed.ics', { body: fixture('ics/google.ics') });
    const result = await poller(store, { [CAL]: `${base}/feed.ics` }, { allowPrivateAddresses: false }).poller.poll(CAL);
    expect(result).toMatchObject({ outcome: 'failed', error: { code: 'refused-address' } });
    expect(await store.desiredFor(CAL)).toEqual([]);
    expect(requests).toEqual([]);
  });
});

describe('configuration', () => {
  it('expands {user} and {address} and lets per-calendar URLs win', () => {
    expect(expandTemplate('https://timetable.example.edu/ical/{user}.ics', 'j.de.vries@example.edu')).toBe('https://timetable.example.edu/ical/j.de.vries.ics');
    expect(expandTemplate('https://x.example/{address}', 'a+b@example.edu')).toBe('https://x.example/a%2Bb%40example.edu');
    const feeds = feedsConfigSchema.parse({ template: 'https://t.example.edu/ical/{user}.ics', urls: { 'Room-1@Example.edu': 'https://rooms.example.edu/1.ics' } });
    expect(Object.fromEntries(feedUrls(feeds, ['a@example.edu', 'room-1@example.edu']))).toEqual({
      'a@example.edu': 'https://t.example.edu/ical/a.ics',
      'room-1@example.edu': 'https://rooms.example.edu/1.ics',
    });
    expect(feedsConfigSchema.safeParse({ template: 'ftp://x/{user}' }).success).toBe(false);
    expect(feedsConfigSchema.safeParse({ allowPrivateAddresses: ['10.0.0.0'] }).success).toBe(false);
  });

  it('polls every feed on start and keeps polling every interval', async () => {
    const store = new SqliteStore(':memory:');
    routes.set('/a.ics', { body: fixture('ics/apple.ics') });
    routes.set('/b.ics', { body: fixture('ics/google.ics') });
    const { poller: p, changed } = poller(store, { 'a@contoso.edu': `${base}/a.ics`, 'b@contoso.edu': `${base}/b.ics` }, { intervalSeconds: 5 }, Date.now);
    p.start();
    const deadline = Date.now() + 5_000;
    while (changed.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    await p.stop();
    expect(changed.sort()).toEqual(['a@contoso.edu', 'b@contoso.edu']);
  });
});
