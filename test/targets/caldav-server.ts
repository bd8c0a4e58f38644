// A real CalDAV server (Radicale or Xandikos, test/caldav/servers.ts) as the server of the contract suite
// (contract.ts): calendars made on demand, items read, changed and deleted from the outside with plain requests,
// and the calendar object read with ical.js (not with the target's own code).
import ICAL from 'ical.js';
import { HttpClient } from '../../src/targets/http.ts';
import { httpClientFetch } from '../../src/targets/caldav/dav.ts';
import { address, objectsIn, putForeign, targetFor } from '../caldav/harness.ts';
import { startServer, type CalDavServer, type ServerKind } from '../caldav/servers.ts';
import type { StoredView, TargetUnderTest } from './contract.ts';

/** Radicale's htpasswd has this user, who may write only their own collections (servers.ts). */
const OUTSIDER = 'alice';
const FORBIDDEN = 'forbidden';

/** A calendar object as stored, read with ical.js: times with their VTIMEZONE, text unescaped. */
export function viewOf(data: string): StoredView {
  const calendar = new ICAL.Component(ICAL.parse(data));
  for (const zone of calendar.getAllSubcomponents('vtimezone')) ICAL.TimezoneService.register(new ICAL.Timezone(zone));
  // Parsed again, so that the times find the zones just registered.
  const event = new ICAL.Component(ICAL.parse(data)).getFirstSubcomponent('vevent')!;
  const time = (name: string) => {
    const value = event.getFirstPropertyValue(name) as ICAL.Time;
    return value.isDate ? value.toString() : `${new Date(value.toUnixTime() * 1000).toISOString().slice(0, 19)}Z`;
  };
  const text = (name: string) => String(event.getFirstPropertyValue(name) ?? '');
  return {
    subject: text('summary'),
    start: time('dtstart'),
    end: time('dtend'),
    allDay: (event.getFirstPropertyValue('dtstart') as ICAL.Time).isDate,
    location: text('location'),
    body: text('description'),
    categories: event.getAllProperties('categories').flatMap((property) => property.getValues().map(String)),
    recurring: event.hasProperty('rrule') || event.hasProperty('rdate'),
  };
}

export async function caldavServer(kind: ServerKind): Promise<TargetUnderTest> {
  const server: CalDavServer = await startServer(kind);
  const http = new HttpClient({});
  // Collections whose next create answer is lost: the PUT is done, then the connection "drops".
  const losing = new Set<string>();
  const fetch = (async (input: string | URL | Request, init?: RequestInit) => {
    const response = await httpClientFetch(http)(input, init);
    const url = new URL(typeof input === 'string' ? input : input instanceof URL ? input.href : input.url);
    const collection = url.pathname.replace(/[^/]*$/, '');
    if (init?.method === 'PUT' && losing.delete(collection)) {
      await response.arrayBuffer();
      throw new TypeError('fetch failed', { cause: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }) });
    }
    return response;
  }) as typeof globalThis.fetch;
  const user = (calendar: string) => calendar.slice(0, calendar.indexOf('@'));
  const itemUrl = (itemId: string) => new URL(itemId, server.url).href;
  let next = 0;
  if (server.service) await server.makeCalendar(FORBIDDEN);
  return {
    target: ({ instance, pageSize }) =>
      targetFor(server, instance, {
        fetch,
        ...(pageSize ? { multigetChunk: pageSize } : {}),
        // On Radicale, the forbidden calendar is written as a user who has no rights on it.
        ...(server.service ? { accounts: [{ match: address(FORBIDDEN), auth: { kind: 'basic' as const, ...server.users[OUTSIDER]! } }] } : {}),
      }),
    async calendar() {
      const name = `c${++next}`;
      await server.makeCalendar(name);
      return address(name);
    },
    ...(server.service ? { forbiddenMailbox: address(FORBIDDEN) } : {}),
    missingMailbox: address('nobody'),
    async putForeign(calendar, foreign) {
      const stamp = (utc: string) => utc.replace(/[-:]/g, '').replace(/\.\d+/, '');
      const data = [
        'BEGIN:VCALENDAR',
        'VERSION:2.0',
        'PRODID:-//Someone//Their Client//EN',
        'BEGIN:VEVENT',
        `UID:${foreign.subject.replace(/\W/g, '-')}@someone.example.org`,
        'DTSTAMP:20261101T080000Z',
        `DTSTART:${stamp(foreign.start)}`,
        `DTEND:${stamp(foreign.end)}`,
        `SUMMARY:${foreign.subject}`,
        'END:VEVENT',
        'END:VCALENDAR',
        '',
      ].join('\r\n');
      await putForeign(server, server.calendarUrl(user(calendar)), `${foreign.subject.replace(/\W/g, '-')}.ics`, data);
    },
    async foreignSnapshot(calendar) {
      const objects = await objectsIn(server, server.calendarUrl(user(calendar)));
      return JSON.stringify(objects.filter((object) => object.tag === null).map(({ href, etag, data }) => ({ href, etag, data })));
    },
    async read(_calendar, itemId) {
      const answer = await server.request('GET', itemUrl(itemId));
      if (answer.status === 404) return null;
      if (answer.status !== 200) throw new Error(`GET ${itemId} answered ${answer.status}`);
      return viewOf(answer.body);
    },
    async editOutside(_calendar, itemId) {
      const current = await server.request('GET', itemUrl(itemId));
      const edited = current.body.replace(/SUMMARY:[^\r\n]*(\r\n[ \t][^\r\n]*)*/, 'SUMMARY:Edited by a person');
      const answer = await server.request('PUT', itemUrl(itemId), { headers: { 'content-type': 'text/calendar', 'if-match': current.headers.get('etag')! }, body: edited });
      if (answer.status >= 300) throw new Error(`PUT ${itemId} answered ${answer.status}`);
    },
    async deleteOutside(_calendar, itemId) {
      const answer = await server.request('DELETE', itemUrl(itemId));
      if (answer.status >= 300) throw new Error(`DELETE ${itemId} answered ${answer.status}`);
    },
    loseNextCreateAnswer: (calendar) => void losing.add(new URL(server.calendarUrl(user(calendar))).pathname),
    async close() {
      http.close();
      await server.close();
    },
  };
}
