// Shared set-up for the CalDAV tests: the real engine (store, planner, scheduler, deliver) driving a CalDavTarget
// against a real server, and a way to look at a collection from the outside.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { davRequest } from 'tsdav';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { validateEvent, type DesiredEvent, type EventInput } from '../../src/model/event.ts';
import { deliver } from '../../src/engine/delivery.ts';
import type { DeliverySummary } from '../../src/engine/summary.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import type { Store } from '../../src/store/store.ts';
import { findTag } from '../../src/targets/caldav/ical.ts';
import { CalDavTarget, type CalDavTargetOptions } from '../../src/targets/caldav/target.ts';
import type { CalendarTarget } from '../../src/targets/target.ts';
import { startServer, type CalDavServer, type Credentials, type RadicaleOptions, type ServerKind } from './servers.ts';

/**
 * Starts a server for the enclosing describe block and stops it afterwards. If it cannot start (not installed),
 * every test of the block fails with the reason (the install line), rather than being reported as skipped.
 */
export function useServer(kind: ServerKind, setup: (server: CalDavServer) => Promise<void> = async () => {}, options: RadicaleOptions = {}): () => CalDavServer {
  let server: CalDavServer | undefined;
  let failure: unknown;
  beforeAll(async () => {
    try {
      server = await startServer(kind, options);
      await setup(server);
    } catch (error) {
      failure = error;
    }
  });
  beforeEach(() => {
    if (failure) throw failure;
  });
  afterAll(async () => {
    await server?.close();
  });
  return () => server!;
}

export function tempDir(prefix = 'calpush-caldav-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Mailbox address of a test user: the local part names their collection on the server. */
export const address = (user: string) => `${user}@example.edu`;

/** Where each server keeps a user's calendar, as a template for the target. */
export function templateFor(server: CalDavServer): string {
  return server.kind === 'radicale' ? '{localpart}/timetable/' : 'user/calendars/{localpart}-timetable/';
}

export function targetFor(server: CalDavServer, instance: string, extra: Partial<CalDavTargetOptions> = {}): CalDavTarget {
  const service = server.service ?? { username: 'anyone', password: 'ignored-by-xandikos' };
  return new CalDavTarget({
    instance,
    baseUrl: server.url,
    calendarUrlTemplate: templateFor(server),
    auth: { kind: 'basic', username: service.username, password: service.password },
    allDayTimeZone: 'Europe/Amsterdam',
    ...extra,
  });
}

export function lecture(calendar: string, n: number, extra: Partial<EventInput> = {}): EventInput {
  const day = String(1 + (n % 28)).padStart(2, '0');
  const hour = String(8 + (n % 9)).padStart(2, '0');
  return {
    calendar,
    id: `lecture-${n}`,
    subject: `Lecture ${n}`,
    start: `2026-12-${day}T${hour}:00`,
    end: `2026-12-${day}T${hour}:45`,
    timeZone: 'Europe/Amsterdam',
    location: `Room ${n % 7}`,
    categories: ['Timetable'],
    ...extra,
  };
}

export function desiredOf(inputs: EventInput[]): DesiredEvent[] {
  return inputs.map((input) => {
    const result = validateEvent(input);
    if (!result.ok) throw new Error(`bad test event: ${JSON.stringify(result.problems)}`);
    return result.desired;
  });
}

export function testScheduler(): Scheduler {
  return new Scheduler({ globalConcurrency: 16, mailboxConcurrency: 4, maxAttempts: 3, baseBackoffMs: 20, maxBackoffMs: 200 });
}

/** One sync as runSync does it: the input becomes the desired state of the calendars, then delivery. */
export async function sync(store: Store, target: CalendarTarget, instance: string, calendars: string[], inputs: EventInput[], options: { reinventory?: boolean } = {}): Promise<DeliverySummary> {
  await store.applyDesired({ calendars, events: desiredOf(inputs), held: [] });
  return deliver({ store, target, scheduler: testScheduler(), instance, calendars, reinventory: options.reinventory ?? false });
}

export interface StoredObject {
  href: string;
  etag: string;
  data: string;
  tag: ReturnType<typeof findTag>;
  uid: string | null;
}

/** Every calendar object in a collection, read from the outside with a calendar-query (no filter). */
export async function objectsIn(server: CalDavServer, collectionUrl: string, auth: Credentials | null = server.service): Promise<StoredObject[]> {
  const body =
    '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">' +
    '<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR"/></C:filter></C:calendar-query>';
  const responses = await davRequest({
    url: collectionUrl,
    convertIncoming: false,
    init: {
      method: 'REPORT',
      headers: { depth: '1', ...(auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {}) },
      body,
    },
  });
  if (responses.length === 1 && !responses[0]!.ok && responses[0]!.status !== 207) {
    throw new Error(`REPORT ${collectionUrl} answered ${responses[0]!.status}: ${String(responses[0]!.raw)}`);
  }
  const objects: StoredObject[] = [];
  for (const r of responses) {
    if (!r.href || !r.props?.calendarData) continue;
    const raw = r.props.calendarData as unknown;
    const data = typeof raw === 'string' ? raw : String((raw as { _cdata?: string })._cdata ?? '');
    const uid = /^UID:(.*)$/m.exec(data.replace(/\r?\n[ \t]/g, ''))?.[1]?.trim() ?? null;
    objects.push({ href: decodeURIComponent(r.href), etag: String(r.props.getetag), data, tag: findTag(data), uid });
  }
  return objects.sort((a, b) => a.href.localeCompare(b.href));
}

/** Our objects (this instance's tag) in a collection. */
export async function ownedIn(server: CalDavServer, collectionUrl: string, instance: string): Promise<StoredObject[]> {
  return (await objectsIn(server, collectionUrl)).filter((o) => o.tag?.instance === instance);
}

/** A person's own event, the way a calendar client would write it: a plain UID and no calpush property. */
export function foreignEvent(uid: string, summary: string, extraLines: string[] = []): string {
  return [
    'BEGIN:VCALENDAR',
    'VERSION:2.0',
    'PRODID:-//Someone//Their Client//EN',
    'BEGIN:VEVENT',
    `UID:${uid}`,
    'DTSTAMP:20261101T080000Z',
    'DTSTART:20261203T120000Z',
    'DTEND:20261203T130000Z',
    `SUMMARY:${summary}`,
    ...extraLines,
    'END:VEVENT',
    'END:VCALENDAR',
    '',
  ].join('\r\n');
}

export async function putForeign(server: CalDavServer, collectionUrl: string, name: string, data: string, auth: Credentials | null = server.service): Promise<void> {
  const answer = await server.request('PUT', `${collectionUrl}${name}`, { headers: { 'content-type': 'text/calendar; charset=utf-8', 'if-none-match': '*' }, body: data, auth });
  if (answer.status !== 201 && answer.status !== 204) throw new Error(`PUT ${name} answered ${answer.status}: ${answer.body}`);
}

/** The raw bytes and ETag of each named object, as a person's client would see them. */
export async function rawSnapshot(server: CalDavServer, collectionUrl: string, names: string[]): Promise<string> {
  const parts: string[] = [];
  for (const name of names) {
    const answer = await server.request('GET', `${collectionUrl}${name}`);
    parts.push(`${name} ${answer.status} ${answer.headers.get('etag')}\n${answer.body}`);
  }
  return parts.join('\n---\n');
}
