// The CalDAV target's protocol behaviour, call by call, against real Radicale and Xandikos, where only CalDAV has
// something to say: the requests an idempotent create, a conditional update and delete take, resource names and the
// collection fence, the listing's requests, what the server makes of our iCalendar, sync-collection. What every target
// does alike is the contract suite's (test/targets/contract.ts, caldav.test.ts).
import { beforeEach, describe, expect, it } from 'vitest';
import { TargetError } from '../../src/targets/target.ts';
import { iCalendarFor, resourceNameFor } from '../../src/targets/caldav/ical.ts';
import type { CalDavTarget } from '../../src/targets/caldav/target.ts';
import { address, desiredOf, foreignEvent, lecture, ownedIn, putForeign, targetFor, useServer } from './harness.ts';
import { countingFetch, type CalDavServer, type ServerKind } from './servers.ts';
import { rejection } from '../support/rejection.ts';

async function listAll(target: CalDavTarget, calendar: string) {
  const items = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await target.listOwned(calendar, cursor);
    items.push(...page.items);
    cursor = page.next;
    pages++;
  } while (cursor);
  return { items, pages };
}

/** 2026-12-01T09:00:00Z as iCalendar UTC: 20261201T090000Z. */
function icalUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

for (const kind of ['radicale', 'xandikos'] as ServerKind[]) {
  describe(`CalDavTarget against ${kind}`, () => {
    const current = useServer(kind, async (s) => {
      for (const user of ['ann', 'ben', 'cat', 'dan', 'eve']) await s.makeCalendar(user);
    });
    let server: CalDavServer;
    beforeEach(() => {
      server = current();
    });

    it('creates idempotently: a repeated create is recognised by its resource name and tag, and brought up to date', async () => {
      const counter = countingFetch();
      const target = targetFor(server, 'idem', { fetch: counter.fetch });
      const [event] = desiredOf([lecture(address('ann'), 1)]);
      const first = await target.create(event!, 'tx-1');
      expect(first.itemId).toBe(new URL(`${server.calendarUrl('ann')}${resourceNameFor('idem', event!.key)}`).pathname);
      expect(first.changeKey).toMatch(/^(W\/)?".+"$/);
      counter.reset();
      const again = await target.create(event!, 'tx-1');
      expect(again).toEqual({ itemId: first.itemId, changeKey: again.changeKey });
      expect(counter.counts).toEqual({ PUT: 1, GET: 1 }); // 412, then a look at what is there: no second write

      // The answer of an earlier create was lost and the event changed since: the create updates it.
      const [changed] = desiredOf([lecture(address('ann'), 1, { subject: 'Changed meanwhile' })]);
      counter.reset();
      const updated = await target.create(changed!, 'tx-2');
      expect(updated.itemId).toBe(first.itemId);
      expect(counter.counts).toEqual({ PUT: 2, GET: 1 });
      const owned = await ownedIn(server, server.calendarUrl('ann'), 'idem');
      expect(owned).toHaveLength(1);
      expect(owned[0]!.tag!.contentHash).toBe(changed!.contentHash);
      expect(owned[0]!.data).toContain('SUMMARY:Changed meanwhile');
      await target.close();
    });

    it('never overwrites a foreign object that happens to sit under our resource name', async () => {
      const target = targetFor(server, 'idem');
      const [event] = desiredOf([lecture(address('ben'), 1)]);
      const name = resourceNameFor('idem', event!.key);
      const foreign = foreignEvent('someone-else@example.org', 'Not yours');
      await putForeign(server, server.calendarUrl('ben'), name, foreign);
      const before = await server.request('GET', `${server.calendarUrl('ben')}${name}`);
      const error = await rejection(target.create(event!, 'tx'));
      expect(error).toMatchObject({ scope: 'item', code: 'ResourceNameTaken' });
      const after = await server.request('GET', `${server.calendarUrl('ben')}${name}`);
      expect(after.body).toBe(before.body);
      expect(after.headers.get('etag')).toBe(before.headers.get('etag'));
      await target.close();
    });

    it('updates with If-Match: a stale ETag is re-read once (PUT 412, GET, PUT); without one from the engine, the last seen is sent', async () => {
      const counter = countingFetch();
      const target = targetFor(server, 'cond', { fetch: counter.fetch });
      const [v1, v2, v3] = desiredOf([lecture(address('cat'), 1), lecture(address('cat'), 1, { subject: 'v2' }), lecture(address('cat'), 1, { subject: 'v3' })]);
      const created = await target.create(v1!, 'tx');
      // Someone edits it in their client: our ETag is stale now.
      const url = new URL(created.itemId, server.url).href;
      const current = await server.request('GET', url);
      const edited = await server.request('PUT', url, { headers: { 'content-type': 'text/calendar', 'if-match': current.headers.get('etag')! }, body: current.body.replace(/SUMMARY:[^\r\n]*/, 'SUMMARY:Edited by a person') });
      expect(edited.status).toBeLessThan(300);

      counter.reset();
      const ref = await target.update(v2!, created);
      expect(counter.counts).toEqual({ PUT: 2, GET: 1 }); // 412, read, write with the fresh ETag
      expect(ref.itemId).toBe(created.itemId);
      expect(ref.changeKey).not.toBe(created.changeKey);
      expect((await server.request('GET', url)).body).toContain('SUMMARY:v2');

      // Without an ETag from the engine, the one this process last saw is used.
      counter.reset();
      await target.update(v3!, { itemId: created.itemId, changeKey: null });
      expect(counter.counts).toEqual({ PUT: 1 });
      await target.close();
    });

    it('deletes with If-Match: a stale ETag is re-read once (DELETE 412, GET, DELETE)', async () => {
      const counter = countingFetch();
      const target = targetFor(server, 'del', { fetch: counter.fetch });
      const [a, b] = desiredOf([lecture(address('dan'), 1), lecture(address('dan'), 2)]);
      const refA = await target.create(a!, 'tx');
      const refB = await target.create(b!, 'tx');
      counter.reset();
      await target.remove(address('dan'), { itemId: refA.itemId, changeKey: '"stale-etag"' });
      expect(counter.counts).toEqual({ DELETE: 2, GET: 1 });
      // Without an ETag from the engine, the one this process last saw is sent.
      counter.reset();
      await target.remove(address('dan'), { itemId: refB.itemId, changeKey: null });
      expect(counter.counts).toEqual({ DELETE: 1 });
      expect(await ownedIn(server, server.calendarUrl('dan'), 'del')).toHaveLength(0);
      await target.close();
    });

    it('refuses to touch anything outside the calendar’s collection, without sending a request', async () => {
      const counter = countingFetch();
      const target = targetFor(server, 'fence', { fetch: counter.fetch });
      const [event] = desiredOf([lecture(address('eve'), 1)]);
      for (const itemId of [`${new URL(server.calendarUrl('dan')).pathname}x.ics`, '/', 'https://elsewhere.example/eve/timetable/x.ics', `${new URL(server.calendarUrl('eve')).pathname}`]) {
        expect(await rejection(target.remove(address('eve'), { itemId, changeKey: null }))).toMatchObject({ scope: 'item', code: 'OutsideCollection' });
        expect(await rejection(target.update(event!, { itemId, changeKey: null }))).toMatchObject({ scope: 'item', code: 'OutsideCollection' });
      }
      expect(counter.total()).toBe(0);
      await target.close();
    });

    it('lists in pages: PROPFIND (is it a calendar), the tagged query, then one multiget per multigetChunk hrefs', async () => {
      const target = targetFor(server, 'lister', { multigetChunk: 3 });
      const events = desiredOf(Array.from({ length: 7 }, (_, n) => lecture(address('eve'), n)));
      for (const e of events) await target.create(e, 'tx');
      const { items, pages } = await listAll(target, address('eve'));
      expect(pages).toBe(2 + 3); // PROPFIND, query, three multigets of at most 3
      expect(items.map((i) => i.key).sort()).toEqual(events.map((e) => e.key).sort());
      await target.close();
    });

    it('reports a missing collection or one that is not a calendar as a mailbox failure, before writing', async () => {
      const target = targetFor(server, 'where', { calendarUrlTemplate: server.kind === 'radicale' ? '{localpart}/nothing-here/' : 'user/calendars/{localpart}-nothing-here/' });
      expect(await rejection(target.listOwned(address('ann')))).toMatchObject({ scope: 'mailbox', code: 'CalendarNotFound' });
      // The principal collection exists but is no calendar: a PUT there would create a collection on Radicale.
      const principal = targetFor(server, 'where', { calendarUrlTemplate: server.kind === 'radicale' ? '{localpart}/' : 'user/' });
      expect(await rejection(principal.listOwned(address('ann')))).toMatchObject({ scope: 'mailbox', code: 'NotACalendar' });
      await target.close();
      await principal.close();
    });

    it('writes iCalendar the server accepts and evaluates in the right zone (time-range query on our VTIMEZONE)', async () => {
      const target = targetFor(server, 'zones');
      const cases = [
        { timeZone: 'Europe/Amsterdam', start: '2026-03-29T03:30', utc: '20260329T013000Z' }, // just after the spring change
        { timeZone: 'Europe/Amsterdam', start: '2026-10-25T03:30', utc: '20261025T023000Z' }, // just after the autumn change
        { timeZone: 'America/New_York', start: '2026-11-02T09:00', utc: '20261102T140000Z' },
        { timeZone: 'Australia/Lord_Howe', start: '2026-12-01T09:00', utc: '20261130T220000Z' }, // +11 in summer (a 30-minute DST)
        { timeZone: 'Asia/Kolkata', start: '2026-12-01T09:00', utc: '20261201T033000Z' },
      ];
      const events = desiredOf(
        cases.map((c, n) => {
          const end = `${c.start.slice(0, 11)}${String(Number(c.start.slice(11, 13)) + 1).padStart(2, '0')}${c.start.slice(13)}`;
          return { ...lecture(address('ann'), 200 + n), start: c.start, end, timeZone: c.timeZone, body: { contentType: 'html' as const, content: '<p>x</p>' }, reminderMinutes: 5, sensitivity: 'private' as const, showAs: 'free' as const, categories: ['A', 'B'] };
        }),
      );
      for (const e of events) await target.create(e, 'tx');
      for (const [n, c] of cases.entries()) {
        // A one-minute window at the expected UTC start finds the event; one an hour off does not.
        const query = (start: string, end: string) =>
          server.request('REPORT', server.calendarUrl('ann'), {
            headers: { depth: '1', 'content-type': 'application/xml' },
            body:
              '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>' +
              `<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:time-range start="${start}" end="${end}"/></C:comp-filter></C:comp-filter></C:filter></C:calendar-query>`,
          });
        const name = resourceNameFor('zones', events[n]!.key);
        const at = Date.parse(c.utc.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
        const hit = await query(icalUtc(at), icalUtc(at + 60_000));
        expect({ zone: c.timeZone, found: hit.body.includes(name) }).toEqual({ zone: c.timeZone, found: true });
        const miss = await query(icalUtc(at - 3_600_000), icalUtc(at - 1_800_000));
        expect({ zone: c.timeZone, found: miss.body.includes(name) }).toEqual({ zone: c.timeZone, found: false });
      }
      // What the server stored still says what we wrote (it may re-serialise).
      const stored = (await ownedIn(server, server.calendarUrl('ann'), 'zones')).map((o) => o.data.replace(/\r\n[ \t]/g, ''));
      expect(stored).toHaveLength(cases.length);
      for (const data of stored) {
        expect(data).toMatch(/X-ALT-DESC;FMTTYPE=text\/html:<p>x<\/p>/);
        expect(data).toContain('CLASS:PRIVATE');
        expect(data).toContain('TRANSP:TRANSPARENT');
        expect(data).toMatch(/TRIGGER(;[^:]*)?:-PT5M/);
        expect(data).toMatch(/BEGIN:VTIMEZONE/);
      }
      expect(iCalendarFor(events[0]!, { instance: 'zones' })).toContain('TZID:Europe/Amsterdam');
      await target.close();
    });

    it('reports what changed since a sync token (RFC 6578), ours and a person’s', async () => {
      const target = targetFor(server, 'sync');
      const calendar = address('ben');
      const initial = await target.changesSince(calendar, null);
      expect(initial.status).toBe('ok');
      if (initial.status !== 'ok') return;
      expect(await target.syncToken(calendar)).toBe(initial.token);

      const [a, b] = desiredOf([lecture(calendar, 301), lecture(calendar, 302)]);
      const refA = await target.create(a!, 'tx');
      const refB = await target.create(b!, 'tx');
      await putForeign(server, server.calendarUrl('ben'), 'party.ics', foreignEvent('party@example.org', 'Party'));
      const afterWrites = await target.changesSince(calendar, initial.token);
      expect(afterWrites.status).toBe('ok');
      if (afterWrites.status !== 'ok') return;
      const paths = afterWrites.changed.map((c) => c.href);
      expect(paths).toEqual(expect.arrayContaining([refA.itemId, refB.itemId, `${new URL(server.calendarUrl('ben')).pathname}party.ics`]));
      // Our own write's ETag is in the answer: the engine can tell its writes from a person's by comparing it.
      expect(afterWrites.changed.find((c) => c.href === refA.itemId)!.etag).toBe(refA.changeKey);

      // A person deletes one of ours and edits the other.
      await server.request('DELETE', new URL(refA.itemId, server.url).href);
      const url = new URL(refB.itemId, server.url).href;
      const current = await server.request('GET', url);
      await server.request('PUT', url, { headers: { 'content-type': 'text/calendar' }, body: current.body.replace(/SUMMARY:[^\r\n]*/, 'SUMMARY:Mine now') });
      const afterPerson = await target.changesSince(calendar, afterWrites.token);
      expect(afterPerson).toMatchObject({ status: 'ok', deleted: [refA.itemId], truncated: false });
      if (afterPerson.status !== 'ok') return;
      expect(afterPerson.changed.map((c) => c.href)).toEqual([refB.itemId]);
      expect(afterPerson.changed[0]!.etag).not.toBe(refB.changeKey);

      if (server.kind === 'radicale') {
        expect(await target.changesSince(calendar, 'http://radicale.org/ns/sync/0000')).toEqual({ status: 'token-invalid' });
      } else {
        // Xandikos 0.2.8 answers a token it does not know with 500, which cannot be told from a server fault.
        expect(await rejection(target.changesSince(calendar, '0000000000000000000000000000000000000000'))).toMatchObject({ scope: 'transient' });
      }
      await target.close();
    });
  });
}
