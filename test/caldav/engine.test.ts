// The CalDAV target driven by the real engine (SQLite store, planner, scheduler, deliver) against real Radicale
// and Xandikos servers on loopback: the same scenarios as the Graph end-to-end tests.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import type { EventInput } from '../../src/model/event.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { tagValue } from '../../src/model/tag.ts';
import { TargetError, type CalendarTarget } from '../../src/targets/target.ts';
import { address, desiredOf, foreignEvent, lecture, objectsIn, ownedIn, putForeign, rawSnapshot, sync, targetFor, tempDir, useServer } from './harness.ts';
import { countingFetch, type CalDavServer, type ServerKind } from './servers.ts';

const KINDS: ServerKind[] = ['radicale', 'xandikos'];

for (const kind of KINDS) {
  describe(`the engine with the CalDAV target against ${kind}`, () => {
    const users = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'gina'];
    const current = useServer(kind, async (s) => {
      for (const user of users) await s.makeCalendar(user);
    });
    let server: CalDavServer;
    beforeEach(() => {
      server = current();
    });

    function timetable(people: string[], count: number, change: (input: EventInput, n: number) => EventInput | null = (e) => e): EventInput[] {
      return people.flatMap((user) =>
        Array.from({ length: count }, (_, n) => change(lecture(address(user), n), n)).filter((e): e is EventInput => e !== null),
      );
    }

    it('creates everything on the first run, sends nothing on the second, then exactly one PUT for a change and one DELETE for a removal', async () => {
      const instance = 'main';
      const people = ['alice', 'bob'];
      const calendars = people.map(address);
      const counter = countingFetch();
      const target = targetFor(server, instance, { fetch: counter.fetch });
      const store = new SqliteStore(':memory:');
      try {
        const first = await sync(store, target, instance, calendars, timetable(people, 12));
        expect(first.fatal).toBeUndefined();
        expect(first.totals).toMatchObject({ created: 24, updated: 0, deleted: 0, failed: 0, failedMailboxes: 0 });
        expect(counter.counts.PUT).toBe(24);
        expect(counter.counts.DELETE ?? 0).toBe(0);
        for (const user of people) {
          const owned = await ownedIn(server, server.calendarUrl(user), instance);
          expect(owned).toHaveLength(12);
          // Resource names and UIDs are ours and deterministic.
          for (const object of owned) {
            expect(object.href).toMatch(new RegExp(`/calpush-${instance}-${object.tag!.key}\\.ics$`));
            expect(object.uid).toBe(`${object.tag!.key}@calpush.${instance}`);
          }
        }

        counter.reset();
        const second = await sync(store, target, instance, calendars, timetable(people, 12));
        expect(second.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 24, failed: 0 });
        expect(counter.writes()).toBe(0);
        expect(counter.total()).toBe(0);

        const before = await ownedIn(server, server.calendarUrl('alice'), instance);
        const hrefOf3 = before.find((o) => o.data.includes('SUMMARY:Lecture 3\r\n'))!.href;
        counter.reset();
        const third = await sync(
          store,
          target,
          instance,
          calendars,
          timetable(people, 12, (e, n) => (e.calendar !== address('alice') ? e : n === 3 ? { ...e, subject: 'Lecture 3 (moved)', location: 'Aula' } : n === 7 ? null : e)),
        );
        expect(third.totals).toMatchObject({ created: 0, updated: 1, deleted: 1, unchanged: 22, failed: 0 });
        expect(counter.counts.PUT).toBe(1);
        expect(counter.counts.DELETE).toBe(1);
        expect(counter.total()).toBe(2);
        const after = await ownedIn(server, server.calendarUrl('alice'), instance);
        expect(after).toHaveLength(11);
        const moved = after.find((o) => o.data.includes('SUMMARY:Lecture 3 (moved)'))!;
        expect(moved.href).toBe(hrefOf3); // updated in place, not re-created
        expect(moved.data).toContain('LOCATION:Aula');
        expect(after.some((o) => o.data.includes('SUMMARY:Lecture 7\r\n'))).toBe(false);
        expect(await ownedIn(server, server.calendarUrl('bob'), instance)).toHaveLength(12);
      } finally {
        await store.close();
        await target.close();
      }
    });

    it('leaves foreign events byte-identical: a person’s own, and another calpush instance’s', async () => {
      const instance = 'careful';
      const user = 'carol';
      const collection = server.calendarUrl(user);
      const otherKey = 'ab'.repeat(16);
      await putForeign(server, collection, 'dentist.ics', foreignEvent('dentist-2026-12-03@phone.example', 'Dentist'));
      await putForeign(server, collection, 'lunch.ics', foreignEvent('5F1C6A1E-lunch', 'Lunch with Lecture 1 people', ['LOCATION:Room 1', 'CATEGORIES:Timetable']));
      // Same calendar, another deployment's event: tagged, but not with our instance.
      await putForeign(
        server,
        collection,
        `calpush-other-${otherKey}.ics`,
        foreignEvent(`${otherKey}@calpush.other`, 'Other instance', [`X-CALPUSH-KEY:${tagValue('other', otherKey, 'cd'.repeat(16)).replace(/;/g, '\\;')}`]),
      );
      const names = ['dentist.ics', 'lunch.ics', `calpush-other-${otherKey}.ics`];
      const before = await rawSnapshot(server, collection, names);

      const counter = countingFetch();
      const target = targetFor(server, instance, { fetch: counter.fetch });
      const store = new SqliteStore(':memory:');
      try {
        const events = timetable([user], 10);
        await sync(store, target, instance, [address(user)], events);
        await sync(store, target, instance, [address(user)], events.map((e, n) => (n === 1 ? { ...e, subject: 'Changed' } : e)).slice(0, 6));
        // Adoption after the store is lost lists the collection: it must still pass the foreign objects by.
        const fresh = new SqliteStore(':memory:');
        const adopted = await sync(fresh, target, instance, [address(user)], []);
        await fresh.close();
        expect(adopted.totals).toMatchObject({ deleted: 6, failed: 0 });
        expect(await ownedIn(server, collection, instance)).toHaveLength(0);
        expect(await rawSnapshot(server, collection, names)).toBe(before);
        // Every write went to one of our own resource names.
        expect((await objectsIn(server, collection)).map((o) => o.href.split('/').pop()).sort()).toEqual([...names].sort());
      } finally {
        await store.close();
        await target.close();
      }
    });

    it('adopts its events after the SQLite file is lost: no duplicate, no write', async () => {
      const instance = 'lostdb';
      const user = 'dave';
      const dir = tempDir();
      const path = join(dir, 'calpush.sqlite');
      const counter = countingFetch();
      // A small multiget chunk: adoption pages through several multigets.
      const target = targetFor(server, instance, { fetch: counter.fetch, multigetChunk: 4 });
      const events = timetable([user], 15, (e, n) => (n % 5 === 0 ? { ...e, body: { contentType: 'html', content: `<p>Week <b>${n}</b></p>` }, reminderMinutes: 10 } : e));
      let store = new SqliteStore(path);
      try {
        expect((await sync(store, target, instance, [address(user)], events)).totals.created).toBe(15);
        await store.close();
        rmSync(dir, { recursive: true, force: true });

        store = new SqliteStore(path);
        counter.reset();
        const again = await sync(store, target, instance, [address(user)], events);
        expect(again.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 15, failed: 0 });
        expect(counter.writes()).toBe(0);
        // PROPFIND, the tagged query, then ceil(15 / 4) multigets.
        expect(counter.counts).toEqual({ PROPFIND: 1, REPORT: 1 + 4 });
        const owned = await ownedIn(server, server.calendarUrl(user), instance);
        expect(owned).toHaveLength(15);
        expect(new Set(owned.map((o) => o.tag!.key)).size).toBe(15);

        // And a changed event after adoption is one PUT on the adopted object.
        counter.reset();
        const changed = await sync(store, target, instance, [address(user)], events.map((e, n) => (n === 2 ? { ...e, subject: 'Moved' } : e)));
        expect(changed.totals).toMatchObject({ updated: 1, created: 0, deleted: 0 });
        expect(counter.writes()).toBe(1);
        expect(await ownedIn(server, server.calendarUrl(user), instance)).toHaveLength(15);
      } finally {
        await store.close();
        await target.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('converges with no duplicate after a crash mid-sync, including a create whose answer was lost', async () => {
      const instance = 'crash';
      const user = 'erin';
      const dir = tempDir();
      const path = join(dir, 'calpush.sqlite');
      const counter = countingFetch();
      const real = targetFor(server, instance, { fetch: counter.fetch });
      const events = timetable([user], 20);
      // After 7 creates were answered, the 8th reaches the server but the process "dies" before recording it.
      let creates = 0;
      const crashing: CalendarTarget = {
        kind: 'caldav',
        // Its creates may land for 2 × 1 s + 1 s after they were sent: the next run lists once that has passed.
        requestTimeoutMs: 1_000,
        listOwned: (calendar, cursor) => real.listOwned(calendar, cursor),
        update: (desired, item) => real.update(desired, item),
        remove: (calendar, item) => real.remove(calendar, item),
        close: async () => {},
        async create(desired, transactionId) {
          creates++;
          if (creates > 8) throw new TargetError('fatal', 'Crashed', 'simulated crash');
          const ref = await real.create(desired, transactionId);
          if (creates === 8) throw new TargetError('fatal', 'Crashed', 'simulated crash after the server stored the event');
          return ref;
        },
      };
      let store = new SqliteStore(path);
      try {
        const crashed = await sync(store, crashing, instance, [address(user)], events);
        expect(crashed.fatal?.code).toBe('Crashed');
        const putsBefore = counter.counts.PUT ?? 0;
        expect(putsBefore).toBeGreaterThanOrEqual(8);
        expect(putsBefore).toBeLessThan(20);
        await store.close();

        // A new process: same store file, the real target.
        store = new SqliteStore(path);
        counter.reset();
        const rerun = await sync(store, real, instance, [address(user)], events);
        expect(rerun.fatal).toBeUndefined();
        expect(rerun.totals.failed).toBe(0);
        // The events stored before the crash were found by listing (their outcome was unknown), not sent again.
        expect(counter.counts.PUT).toBe(20 - putsBefore);
        expect(rerun.totals.created).toBe(20 - putsBefore);
        const owned = await ownedIn(server, server.calendarUrl(user), instance);
        expect(owned).toHaveLength(20);
        expect(new Set(owned.map((o) => o.tag!.key)).size).toBe(20);
        expect(new Set(owned.map((o) => o.uid)).size).toBe(20);

        counter.reset();
        const settled = await sync(store, real, instance, [address(user)], events);
        expect(settled.totals).toMatchObject({ created: 0, unchanged: 20 });
        expect(counter.total()).toBe(0);
      } finally {
        await store.close();
        await real.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('a new process writes with the stored ETag: a person’s edit is seen (412), read and overwritten, the delete too', async () => {
      const instance = 'etag';
      const user = 'gina';
      const store = new SqliteStore(':memory:');
      const first = targetFor(server, instance);
      const events = timetable([user], 3);
      try {
        await sync(store, first, instance, [address(user)], events);
      } finally {
        await first.close();
      }
      // A person edits two of the objects: the ETags in the store are stale now.
      const owned = await ownedIn(server, server.calendarUrl(user), instance);
      for (const object of owned.slice(0, 2)) {
        const url = new URL(object.href, server.url).href;
        const current = await server.request('GET', url);
        const edited = await server.request('PUT', url, { headers: { 'content-type': 'text/calendar', 'if-match': current.headers.get('etag')! }, body: current.body.replace(/SUMMARY:[^\r\n]*/, 'SUMMARY:Edited by a person') });
        expect(edited.status).toBeLessThan(300);
      }
      const editedKeys = new Set(owned.slice(0, 2).map((o) => o.tag!.key));
      const [changed, removed] = desiredOf(events).filter((d) => editedKeys.has(d.key)).map((d) => d.event.id);
      // A fresh target (a new process): it knows no ETag but the one delivery hands it from the store.
      const counter = countingFetch();
      const fresh = targetFor(server, instance, { fetch: counter.fetch });
      try {
        const next = events.filter((e) => e.id !== removed).map((e) => (e.id === changed ? { ...e, subject: 'Changed at the source' } : e));
        const result = await sync(store, fresh, instance, [address(user)], next);
        expect(result.totals).toMatchObject({ updated: 1, deleted: 1, failed: 0 });
        // Each write: 412 on the stored ETag, a GET, the write again with the current one.
        expect(counter.counts).toEqual({ PUT: 2, DELETE: 2, GET: 2 });
        const after = await ownedIn(server, server.calendarUrl(user), instance);
        expect(after).toHaveLength(2);
        const summaries = after.map((o) => /SUMMARY:([^\r\n]*)/.exec(o.data)![1]).sort();
        expect(summaries).toContain('Changed at the source');
        expect(summaries).not.toContain('Edited by a person');
      } finally {
        await store.close();
        await fresh.close();
      }
    });

    it('re-creates an event a person deleted, once', async () => {
      const instance = 'recreate';
      const user = 'frank';
      const counter = countingFetch();
      const target = targetFor(server, instance, { fetch: counter.fetch });
      const store = new SqliteStore(':memory:');
      try {
        const events = timetable([user], 3);
        await sync(store, target, instance, [address(user)], events);
        const [victim] = await ownedIn(server, server.calendarUrl(user), instance);
        const deleted = await server.request('DELETE', new URL(victim!.href, server.url).href);
        expect(deleted.status).toBeLessThan(300);
        // The engine learns of it when it lists again (reinventory), and creates it anew under the same name.
        counter.reset();
        const result = await sync(store, target, instance, [address(user)], events, { reinventory: true });
        expect(result.totals).toMatchObject({ created: 1, unchanged: 2, failed: 0 });
        expect(counter.counts.PUT).toBe(1);
        const owned = await ownedIn(server, server.calendarUrl(user), instance);
        expect(owned.map((o) => o.href)).toContain(victim!.href);
        expect(owned).toHaveLength(3);
      } finally {
        await store.close();
        await target.close();
      }
    });
  });
}
