// Every iCalendar file under test/fixtures — exports as Outlook, Exchange, Google, Apple and timetabling systems
// write them, broken ones, and the public test files of ical.js and python-icalendar vendored in
// test/fixtures/ics-corpus/ (see its README.md) — through sync's reader and through the feed path: each ends
// imported, or refused with a reason, within 2 s. No crash, no hang, no unhandled rejection.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/model/event.ts';
import { feedsConfigSchema, FeedPoller } from '../../src/sources/feeds.ts';
import { readInputItems, type InputItem } from '../../src/sources/stream.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const CAL = 'corpus@example.edu';
// A fixed window: which occurrences come out does not matter here, only that every file ends one way or the other.
const HORIZON = { fromMs: Date.parse('2026-08-01T00:00:00Z'), toMs: Date.parse('2027-09-05T00:00:00Z') };

function icsFiles(dir: string): string[] {
  return readdirSync(dir)
    .flatMap((name) => {
      const path = join(dir, name);
      return statSync(path).isDirectory() ? icsFiles(path) : name.toLowerCase().endsWith('.ics') ? [path] : [];
    })
    .sort();
}

const files = icsFiles(fixtures).map((path) => [relative(fixtures, path), path] as const);

describe('the corpus', () => {
  it('has files (test/fixtures/ics, test/fixtures/feeds and the vendored corpus in test/fixtures/ics-corpus)', () => {
    expect(files.filter(([name]) => name.startsWith('ics-corpus/')).length).toBe(50);
    expect(files.length).toBeGreaterThanOrEqual(60);
  });
});

describe.each(files)('%s', (_name, path) => {
  it("through sync's reader: imported, or refused with a reason, within 2 s", async () => {
    const started = performance.now();
    const items: InputItem[] = [];
    for await (const item of readInputItems([path], { icsCalendar: CAL, timeZone: 'Europe/Amsterdam', horizon: HORIZON })) items.push(item);
    expect(performance.now() - started).toBeLessThan(2_000);
    const fileErrors = items.filter((item) => item.kind === 'error' && item.fileLevel);
    for (const item of items) {
      if (item.kind === 'error') expect(item.error.message.length, JSON.stringify(item)).toBeGreaterThan(0);
      // What is imported is what validateEvent accepts, or reported with a reason (the record's own errors).
      if (item.kind === 'record') {
        const validation = validateEvent(item.record.value);
        if (!validation.ok) expect(validation.problems.length).toBeGreaterThan(0);
      }
    }
    if (fileErrors.length) expect(items.filter((item) => item.kind === 'record')).toEqual([]);
  });

  it('through the feed path: applied, or failed with a reason, within 2 s', async () => {
    const body = readFileSync(path);
    const server: Server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'text/calendar' }).end(body));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const store = new SqliteStore(':memory:');
    const feeds = feedsConfigSchema.parse({ allowPrivateAddresses: ['127.0.0.1/32'], timeoutSeconds: 2 });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/feed.ics`;
    const poller = new FeedPoller({ store, feeds, urls: new Map([[CAL, url]]), timeZone: 'Europe/Amsterdam', now: () => HORIZON.fromMs + 30 * 86_400_000 });
    try {
      const started = performance.now();
      const result = await poller.poll(CAL);
      expect(performance.now() - started).toBeLessThan(2_000);
      expect(['changed', 'unchanged', 'failed']).toContain(result.outcome);
      if (result.outcome === 'failed') expect(result.error?.message.length).toBeGreaterThan(0);
      else expect((await store.desiredFor(CAL)).length).toBe(result.events);
      for (const error of result.errors) expect(error.message.length).toBeGreaterThan(0);
    } finally {
      await poller.stop();
      await store.close();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

let guard: ((reason: unknown) => void) | null = null;
const rejections: unknown[] = [];
beforeAll(() => {
  guard = (reason) => rejections.push(reason);
  process.on('unhandledRejection', guard);
});
afterAll(() => {
  if (guard) process.off('unhandledRejection', guard);
  expect(rejections).toEqual([]);
});
