// Drift on CalDAV (sync-collection, RFC 6578) against real Radicale and Xandikos servers: a person deletes or edits one
// of our events with their own client; the watch finds it by its href and ETag; restore puts it back, respect leaves
// it, a person's own object is never touched. Radicale forgets a sync token with DAV:valid-sync-token: a full round.
import { describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { deliver } from '../../src/engine/delivery.ts';
import { singleRoute } from '../../src/engine/routes.ts';
import { watchMailboxes } from '../../src/engine/watch.ts';
import type { DriftPolicies } from '../../src/planner/drift.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { CalDavTarget } from '../../src/targets/caldav/target.ts';
import { address, desiredOf, foreignEvent, lecture, ownedIn, putForeign, targetFor, testScheduler, useServer } from '../caldav/harness.ts';
import type { CalDavServer, ServerKind } from '../caldav/servers.ts';

const KINDS: ServerKind[] = ['radicale', 'xandikos'];
const INSTANCE = 'drift';
const clock = fixedClock('2026-11-20T08:00:00Z');

for (const kind of KINDS) {
  describe(`drift on CalDAV against ${kind}`, () => {
    const users = ['hank', 'iris', 'jack', 'kate'];
    const current = useServer(kind, async (s) => {
      for (const user of users) await s.makeCalendar(user);
    });

    async function world(user: string) {
      const server: CalDavServer = current();
      const calendar = address(user);
      const target: CalDavTarget = targetFor(server, INSTANCE);
      const store = new SqliteStore(':memory:', { clock });
      const routes = singleRoute(target, testScheduler());
      const push = async (subjects: string[]) => {
        await store.applyDesired({ calendars: [calendar], events: desiredOf(subjects.map((subject, n) => lecture(calendar, n + 1, { subject }))), held: [] });
        return deliver({ store, routes, instance: INSTANCE, calendars: [calendar], clock });
      };
      const watch = (policies: Partial<DriftPolicies> = {}) =>
        watchMailboxes({ store, routes, calendars: [calendar], clock, window: { pastDays: 1, futureDays: 400 }, policyOf: () => ({ edited: 'restore', deleted: 'restore', ...policies }) });
      const objects = async () => (await ownedIn(server, server.calendarUrl(user), INSTANCE)).map((o) => /SUMMARY:([^\r\n]*)/.exec(o.data)?.[1]).sort();
      const href = async (n: number) => (await store.deliveredFor(calendar)).find((row) => row.key === desiredOf([lecture(calendar, n)])[0]!.key)!.itemId;
      const personDeletes = async (n: number) => server.request('DELETE', new URL(await href(n), server.url).href);
      const personEdits = async (n: number, subject: string) => {
        const url = new URL(await href(n), server.url).href;
        const current = await server.request('GET', url);
        await server.request('PUT', url, { headers: { 'content-type': 'text/calendar' }, body: current.body.replace(/SUMMARY:[^\r\n]*/, `SUMMARY:${subject}`) });
      };
      /** A touch that is no edit: a reminder the person sets and a category (the ETag moves all the same). */
      const personTouches = async (n: number) => {
        const url = new URL(await href(n), server.url).href;
        const current = await server.request('GET', url);
        const alarm = 'BEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Mine\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\n';
        await server.request('PUT', url, { headers: { 'content-type': 'text/calendar' }, body: current.body.replace(/END:VEVENT/, `CATEGORIES:Red\r\n${alarm}END:VEVENT`) });
      };
      return { server, calendar, target, store, push, watch, objects, personDeletes, personEdits, personTouches, close: () => Promise.all([target.close(), store.close()]) };
    }

    it('restores a deleted and an edited event, once; a person’s own object is never touched', async () => {
      const w = await world('hank');
      try {
        await w.push(['Lecture 1', 'Lecture 2', 'Lecture 3']);
        expect((await w.watch()).mailboxes[0]).toMatchObject({ status: 'full', drift: [] });
        await putForeign(w.server, w.server.calendarUrl('hank'), 'party.ics', foreignEvent('party@example.org', 'Party'));
        await w.personDeletes(1);
        await w.personEdits(2, 'Not going');
        const round = await w.watch();
        expect(round.mailboxes[0]!.status).toBe('watched');
        expect(round.mailboxes[0]!.drift.map((d) => `${d.kind}:${d.policy}`).sort()).toEqual(['deleted:restore', 'edited:restore']);
        await deliver({ store: w.store, target: w.target, scheduler: testScheduler(), instance: INSTANCE, calendars: round.toDeliver, clock });
        expect(await w.objects()).toEqual(['Lecture 1', 'Lecture 2', 'Lecture 3']);
        // Our own writes are no drift.
        expect((await w.watch()).mailboxes[0]!.drift).toEqual([]);
        const party = await w.server.request('GET', `${w.server.calendarUrl('hank')}party.ics`);
        expect(party.status).toBe(200);
        expect(party.body).toContain('SUMMARY:Party');
      } finally {
        await w.close();
      }
    });

    it('respect leaves the person’s change and records it', async () => {
      const w = await world('iris');
      try {
        await w.push(['Lecture 1', 'Lecture 2']);
        await w.watch();
        await w.personDeletes(1);
        await w.personEdits(2, 'My title');
        const round = await w.watch({ edited: 'respect', deleted: 'respect' });
        expect(round.toDeliver).toEqual([]);
        await w.push(['Lecture 1', 'Lecture 2']);
        expect(await w.objects()).toEqual(['My title']);
        expect((await w.store.driftFor(w.calendar)).map((d) => `${d.kind}:${d.policy}`).sort()).toEqual(['deleted:respect', 'edited:respect']);
      } finally {
        await w.close();
      }
    });

    it('a reminder or category a person adds is no edit (no finding under detach); a subject edit still is one', async () => {
      const w = await world('kate');
      try {
        await w.push(['Lecture 1', 'Lecture 2', 'Lecture 3']);
        await w.watch();
        await w.personTouches(1);
        await w.personEdits(2, 'Not going');
        const round = await w.watch({ edited: 'detach' });
        expect(round.mailboxes[0]!.drift.map((d) => `${d.kind}:${d.policy}:${d.key}`)).toEqual([`edited:detach:${desiredOf([lecture(w.calendar, 2)])[0]!.key}`]);
        expect(await w.objects()).toEqual(['Lecture 1', 'Lecture 3', 'Not going']);
      } finally {
        await w.close();
      }
    });

    if (kind === 'radicale') {
      it('a sync token the server no longer takes means a full round; nothing is created twice', async () => {
        const w = await world('jack');
        try {
          await w.push(['Lecture 1', 'Lecture 2']);
          await w.watch();
          await w.store.saveWatchState(w.calendar, 'default', 'http://radicale.org/ns/sync/0000', false);
          await w.personDeletes(2);
          const round = await w.watch();
          expect(round.mailboxes[0]!.status).toBe('full');
          expect(round.mailboxes[0]!.drift.map((d) => d.kind)).toEqual(['deleted']);
          await deliver({ store: w.store, target: w.target, scheduler: testScheduler(), instance: INSTANCE, calendars: round.toDeliver, clock });
          expect(await w.objects()).toEqual(['Lecture 1', 'Lecture 2']);
        } finally {
          await w.close();
        }
      });
    }
  });
}
