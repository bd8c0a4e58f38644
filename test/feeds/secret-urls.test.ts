// Feed URLs are secrets: published Outlook, Google and iCloud calendars carry their token in the path, timetabling
// exports in the query. They may be given as {env}/{file} references, and no path shows them: poll results (what
// `serve` logs and `feeds poll` prints), errors, the store, the API and the metrics.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.ts';
import { namedMailboxes } from '../../src/app/mailboxes.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { buildApp } from '../../src/server/app.ts';
import { createApiKey } from '../../src/server/auth.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { FeedPoller, feedsConfigSchema, feedUrls, redactUrl, urlFingerprint } from '../../src/sources/feeds.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const TOKENS = ['PATHSECRET0123456789', 'QUERYSECRET9876543210'];
const CAL = 's0001@contoso.edu';
const target = { kind: 'graph', tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'UNUSED' } } };

const ICS = [
  'BEGIN:VCALENDAR',
  'VERSION:2.0',
  'PRODID:-//test//feeds//EN',
  'BEGIN:VEVENT',
  'UID:good-1',
  'DTSTAMP:20260301T000000Z',
  'DTSTART:20260310T090000Z',
  'DTEND:20260310T100000Z',
  'SUMMARY:Lecture',
  'END:VEVENT',
  'BEGIN:VEVENT',
  'UID:broken-1',
  'DTSTAMP:20260301T000000Z',
  'DTSTART:not-a-date',
  'SUMMARY:Broken',
  'END:VEVENT',
  'END:VCALENDAR',
  '',
].join('\r\n');

describe('feed URLs as secret references', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'calpush-feed-urls-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts {env} and {file} for urls and the template, resolved relative to the config file', () => {
    writeFileSync(join(dir, 'room.url'), `https://outlook.office365.com/owa/calendar/abc@contoso.edu/${TOKENS[0]}/calendar.ics\n`, { mode: 0o600 });
    process.env.CALPUSH_TEST_FEED_TEMPLATE = `https://timetable.example.edu/ical/{user}.ics?key=${TOKENS[1]}`;
    try {
      const config = parseConfig({
        target,
        mailboxes: [CAL, 'room-a@contoso.edu'],
        feeds: { template: { env: 'CALPUSH_TEST_FEED_TEMPLATE' }, calendars: [CAL], urls: { 'room-a@contoso.edu': { file: 'room.url' } } },
      });
      const urls = feedUrls(config.feeds, namedMailboxes(config), dir);
      expect(urls.get(CAL)).toBe(`https://timetable.example.edu/ical/s0001.ics?key=${TOKENS[1]}`);
      expect(urls.get('room-a@contoso.edu')).toBe(`https://outlook.office365.com/owa/calendar/abc@contoso.edu/${TOKENS[0]}/calendar.ics`);
    } finally {
      delete process.env.CALPUSH_TEST_FEED_TEMPLATE;
    }
  });

  it('says which key is wrong, and never the value', () => {
    const feeds = (urls: Record<string, unknown>) => feedsConfigSchema.parse({ urls });
    expect(() => feedUrls(feeds({ [CAL]: { env: 'CALPUSH_TEST_FEED_UNSET' } }), undefined, dir)).toThrow(`feeds.urls.${CAL}: environment variable CALPUSH_TEST_FEED_UNSET is not set`);
    process.env.CALPUSH_TEST_FEED_BAD = `ftp://files.example.edu/${TOKENS[0]}`;
    try {
      let message = '';
      try {
        feedUrls(feeds({ [CAL]: { env: 'CALPUSH_TEST_FEED_BAD' } }), undefined, dir);
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).toBe(`feeds.urls.${CAL}: the value of environment variable CALPUSH_TEST_FEED_BAD must be an http:// or https:// URL`);
    } finally {
      delete process.env.CALPUSH_TEST_FEED_BAD;
    }
    expect(() => feedUrls(feeds({ [CAL]: { file: 'missing.url' } }), undefined, dir)).toThrow(/feeds\.urls\.s0001@contoso\.edu: cannot read .*missing\.url: ENOENT/);
    expect(() => parseConfig({ target, feeds: { urls: { [CAL]: { secret: 'x' } } } })).toThrow(/feeds\.urls\.s0001@contoso\.edu: must be an http\(s\) URL, or \{"env"/);
    expect(() => parseConfig({ target, feeds: { urls: { [CAL]: 'ftp://x' } } })).toThrow(/must be an http:\/\/ or https:\/\/ URL/);
  });
});

describe('feed URLs are shown nowhere', () => {
  let server: Server;
  let base: string;
  beforeAll(async () => {
    server = createServer((request, response) => {
      if (request.url?.includes('/ok/')) return void response.writeHead(200, { 'content-type': 'text/calendar', etag: '"1"' }).end(ICS);
      if (request.url?.includes('/away/')) return void response.writeHead(302, { location: `http://169.254.169.254/${TOKENS[0]}` }).end();
      response.writeHead(404, 'Not Found').end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => server.close());

  const secret = (path: string) => `${base}/${path}/owa/calendar/abc@contoso.edu/${TOKENS[0]}/calendar.ics?token=${TOKENS[1]}`;
  const expectNoToken = (text: string, where: string) => {
    for (const token of TOKENS) expect(text, where).not.toContain(token);
  };

  it('redacts to the origin: a token in the path is as secret as one in the query', () => {
    expect(redactUrl(secret('ok'))).toBe(`${base}/…`);
    expect(redactUrl('https://feeds.example.edu/')).toBe('https://feeds.example.edu/');
    expect(redactUrl(`not a url ${TOKENS[0]}`)).toBe('(invalid URL)');
  });

  it('poll results, errors, the store, the API status and the metrics carry no part of a feed URL but its origin', async () => {
    const store = new SqliteStore(':memory:');
    const calendars = { [CAL]: secret('ok'), 'missing@contoso.edu': secret('gone'), 'moved@contoso.edu': secret('away'), 'bad@contoso.edu': `${base}:99999/${TOKENS[0]}` };
    const urls = new Map(Object.entries(calendars));
    const metrics = createMetrics({ store, defaultMetrics: false });
    const results = await new FeedPoller({
      store,
      feeds: feedsConfigSchema.parse({ allowPrivateAddresses: true, timeoutSeconds: 5 }),
      urls,
      timeZone: 'Europe/Amsterdam',
      now: fixedClock('2026-03-02T10:00:00Z').now,
      onResult: (result) => metrics.feedFetches.inc({ outcome: result.outcome }),
    }).pollAll();
    expect(results.map((r) => [r.calendar, r.outcome, r.error?.code])).toEqual([
      ['bad@contoso.edu', 'failed', 'bad-url'],
      ['missing@contoso.edu', 'failed', 'http-status'],
      ['moved@contoso.edu', 'failed', 'refused-address'],
      [CAL, 'changed', undefined],
    ]);
    expect(results.find((r) => r.calendar === CAL)!.errors.length).toBeGreaterThan(0);
    expectNoToken(JSON.stringify(results), 'poll results (what serve logs, what feeds poll prints)');

    for (const calendar of Object.keys(calendars)) {
      const row = await store.feedState(calendar);
      expect(row!.url).toBe(urlFingerprint(calendars[calendar as keyof typeof calendars]));
      expectNoToken(JSON.stringify(row), `the store's feed state of ${calendar}`);
    }

    const app = await buildApp({ store, config: parseConfig({ target }), server: parseServerConfig({ port: 0 }), feeds: urls, metrics });
    try {
      const key = (await createApiKey(store, { scope: 'read' })).key;
      for (const calendar of Object.keys(calendars)) {
        const status = await app.inject({ method: 'GET', url: `/v1/calendars/${encodeURIComponent(calendar)}`, headers: { authorization: `Bearer ${key}` } });
        expect(status.statusCode).toBe(200);
        expect(JSON.parse(status.body).feed.url).toBe(calendar === 'bad@contoso.edu' ? '(invalid URL)' : `${base}/…`);
        expectNoToken(status.body, `GET /v1/calendars/${calendar}`);
      }
      expectNoToken((await app.inject({ method: 'GET', url: '/metrics' })).body, '/metrics');
    } finally {
      await app.close();
      await store.close();
    }
  });
});
