// Accounts and rights against Radicale (Xandikos has no authentication of its own): one service account writing
// two people's calendars, one account per calendar, a wrong password, an account without rights. These go
// through calpush's own HTTP client (no injected fetch), as a deployment does.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { createCalDavTarget, caldavTargetSchema } from '../../src/targets/caldav/config.ts';
import { CalDavTarget } from '../../src/targets/caldav/target.ts';
import { address, lecture, objectsIn, ownedIn, sync, tempDir, useServer } from './harness.ts';
import type { CalDavServer } from './servers.ts';

describe('CalDAV accounts and rights against Radicale', () => {
  const current = useServer(
    'radicale',
    async (s) => {
      for (const user of ['alice', 'bob', 'carol']) await s.makeCalendar(user);
    },
    { users: ['alice', 'bob', 'carol'], authDelay: 0.2 },
  );
  let server: CalDavServer;
  beforeEach(() => {
    server = current();
  });

  it('one service account writes two users’ calendars (Radicale rights), and each user sees their own', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'caldav-password'), `${server.service!.password}\n`, { mode: 0o600 });
    const parsed = caldavTargetSchema.parse({
      kind: 'caldav',
      baseUrl: server.url,
      calendarUrlTemplate: '{localpart}/timetable/',
      auth: { kind: 'basic', username: server.service!.username, password: { file: 'caldav-password' } },
    });
    const target = createCalDavTarget(parsed, { instance: 'svc', baseDir: dir, allDayTimeZone: 'Europe/Amsterdam' });
    const store = new SqliteStore(':memory:');
    try {
      const calendars = [address('alice'), address('bob')];
      const events = calendars.flatMap((calendar) => Array.from({ length: 5 }, (_, n) => lecture(calendar, n)));
      const result = await sync(store, target, 'svc', calendars, events);
      expect(result.fatal).toBeUndefined();
      expect(result.totals).toMatchObject({ created: 10, failed: 0, failedMailboxes: 0 });
      // Read back with each user's own credentials: their calendar has their five events, and nobody else's.
      for (const user of ['alice', 'bob']) {
        const own = (await objectsIn(server, server.calendarUrl(user), server.users[user]!)).filter((o) => o.tag?.instance === 'svc');
        expect(own).toHaveLength(5);
      }
      const denied = await server.request('PROPFIND', server.calendarUrl('bob'), { headers: { depth: '1' }, auth: server.users.alice! });
      expect(denied.status).toBe(403);
    } finally {
      await store.close();
      await target.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('one account per calendar; an account without rights on a calendar fails that calendar only (403 → mailbox)', async () => {
    const users = server.users;
    const target = new CalDavTarget({
      instance: 'peruser',
      baseUrl: server.url,
      calendarUrlTemplate: '{localpart}/timetable/',
      accounts: [
        { match: 'alice@example.edu', auth: { kind: 'basic', username: 'alice', password: users.alice!.password } },
        { match: 'bob@*', auth: { kind: 'basic', username: 'bob', password: users.bob!.password } },
        // Wrongly mapped: carol's calendar with alice's account.
        { match: 'carol@example.edu', auth: { kind: 'basic', username: 'alice', password: users.alice!.password } },
      ],
      allDayTimeZone: 'UTC',
    });
    const store = new SqliteStore(':memory:');
    try {
      const calendars = ['alice', 'bob', 'carol'].map(address);
      const events = calendars.flatMap((calendar) => Array.from({ length: 3 }, (_, n) => lecture(calendar, n)));
      const result = await sync(store, target, 'peruser', calendars, events);
      expect(result.fatal).toBeUndefined();
      const byCalendar = Object.fromEntries(result.mailboxes.map((m) => [m.calendar, m]));
      expect(byCalendar[address('alice')]).toMatchObject({ status: 'ok', created: 3 });
      expect(byCalendar[address('bob')]).toMatchObject({ status: 'ok', created: 3 });
      expect(byCalendar[address('carol')]).toMatchObject({ status: 'failed', created: 0 });
      expect(byCalendar[address('carol')]!.error).toMatchObject({ code: 'Forbidden' });
      expect(byCalendar[address('carol')]!.error!.message).toMatch(/may not read the calendar of carol@example\.edu \(403/);
      expect(await ownedIn(server, server.calendarUrl('carol'), 'peruser')).toHaveLength(0);
      expect(await ownedIn(server, server.calendarUrl('alice'), 'peruser')).toHaveLength(3);
    } finally {
      await store.close();
      await target.close();
    }
  });

  it('a wrong password stops the run with a clear error after one request', async () => {
    let requests = 0;
    const counting: typeof fetch = (input, init) => {
      requests++;
      return fetch(input, init);
    };
    const target = new CalDavTarget({
      instance: 'badpw',
      baseUrl: server.url,
      calendarUrlTemplate: '{localpart}/timetable/',
      auth: { kind: 'basic', username: server.service!.username, password: 'not-the-password' },
      allDayTimeZone: 'UTC',
      fetch: counting,
    });
    const store = new SqliteStore(':memory:');
    try {
      const calendars = [address('alice'), address('bob')];
      const result = await sync(store, target, 'badpw', calendars, calendars.flatMap((c) => [lecture(c, 1), lecture(c, 2)]));
      expect(result.fatal).toMatchObject({ code: 'Unauthorized' });
      expect(result.fatal!.message).toBe(`the CalDAV server refused the credentials of CalDAV user calpush (401 on PROPFIND /alice/timetable/)`);
      expect(result.fatal!.remedy).toMatch(/check the username and password/);
      expect(result.totals.created).toBe(0);
      // The account is not tried again: one 401 is enough (Radicale delays every failed login).
      expect(requests).toBe(1);
    } finally {
      await store.close();
      await target.close();
    }
  });

  it('with several accounts, a wrong password fails only the calendars of that account', async () => {
    const target = new CalDavTarget({
      instance: 'mixed',
      baseUrl: server.url,
      calendarUrlTemplate: '{localpart}/timetable/',
      accounts: [{ match: 'alice@example.edu', auth: { kind: 'basic', username: 'alice', password: 'wrong' } }],
      auth: { kind: 'basic', username: server.service!.username, password: server.service!.password },
      allDayTimeZone: 'UTC',
    });
    const store = new SqliteStore(':memory:');
    try {
      const calendars = [address('alice'), address('bob')];
      const result = await sync(store, target, 'mixed', calendars, calendars.map((c) => lecture(c, 1)));
      expect(result.fatal).toBeUndefined();
      const byCalendar = Object.fromEntries(result.mailboxes.map((m) => [m.calendar, m]));
      expect(byCalendar[address('alice')]).toMatchObject({ status: 'failed', error: { code: 'Unauthorized' } });
      expect(byCalendar[address('bob')]).toMatchObject({ status: 'ok', created: 1 });
    } finally {
      await store.close();
      await target.close();
    }
  });
});
