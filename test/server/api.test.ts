// Every route of the push API: happy paths, bad input, auth failures and scope limits.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { eventKey } from '../../src/model/event.ts';
import { routeTable } from '../../src/server/app.ts';
import type { PendingOp } from '../../src/model/rows.ts';
import { apiFixture, CAL, calendarUrl, desired, eventBody, eventUrl, ROOM, type ApiFixture } from './helpers.ts';

let f: ApiFixture;
beforeEach(async () => {
  f = await apiFixture();
});
afterEach(async () => {
  await f.close();
});

const json = (response: { body: string }) => JSON.parse(response.body);

function concrete(url: string): string {
  return url.replace(':calendar', encodeURIComponent(CAL)).replace(':eventId', 'some-id');
}

describe('authentication', () => {
  it('answers 401 on every route but health and metrics without a key, and with a bad, malformed or revoked one', async () => {
    // The dashboard's routes check sessions of their own (test/server/dashboard.test.ts).
    const routes = routeTable(f.app).filter((r) => r.auth !== 'session');
    expect(routes.filter((r) => r.method !== 'HEAD').map((r) => `${r.method} ${r.url}`).sort()).toEqual([
      'DELETE /v1/calendars/:calendar/events/:eventId',
      'GET /docs',
      'GET /metrics',
      'GET /openapi.json',
      'GET /v1/calendars',
      'GET /v1/calendars/:calendar',
      'GET /v1/calendars/:calendar/events/:eventId',
      'GET /v1/health',
      'POST /v1/events/batch',
      'PUT /v1/calendars/:calendar/events',
      'PUT /v1/calendars/:calendar/events/:eventId',
    ]);
    expect(routes.filter((r) => r.method === 'HEAD')).toHaveLength(7);
    const open = new Set(['/v1/health', '/metrics']);
    const headerSets: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer cpk_000000000000_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' },
      { authorization: `Basic ${Buffer.from('user:pass').toString('base64')}` },
      { authorization: 'Bearer' },
      { authorization: `Bearer ${f.keys.revoked}` },
      { authorization: `Bearer ${f.keys.write}x` },
    ];
    // Each from its own address: failed authentications from one address are limited (429) after server.authFailureLimit.
    let client = 0;
    for (const route of routes) {
      for (const headers of headerSets) {
        const remoteAddress = `10.0.0.${++client}`;
        const response = await f.app.inject({ method: route.method as 'GET', url: concrete(route.url), headers, remoteAddress, ...(route.method === 'PUT' || route.method === 'POST' ? { payload: {} } : {}) });
        if (open.has(route.url)) {
          expect([200, 503], `${route.method} ${route.url}`).toContain(response.statusCode);
        } else {
          expect(response.statusCode, `${route.method} ${route.url} with ${JSON.stringify(headers)}`).toBe(401);
          expect(response.headers['www-authenticate']).toMatch(/^Bearer realm="calpush"/);
          if (route.method !== 'HEAD') expect(json(response)).toMatchObject({ status: 401, title: 'An API key is needed' });
        }
      }
    }
    // Unknown URLs are no way around it either.
    expect((await f.app.inject({ method: 'GET', url: '/v1/nothing' })).statusCode).toBe(401);
    expect((await f.call({ method: 'GET', url: '/v1/nothing' })).statusCode).toBe(404);
  });

  it('never stores the key, only its hash, and records when a key was last used', async () => {
    const keys = await f.store.apiKeys();
    for (const row of keys) {
      expect(row.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(Object.values(f.keys)).not.toContain(row.hash);
    }
    await f.call({ method: 'GET', url: '/v1/calendars', key: 'read' });
    expect((await f.store.apiKeys()).find((k) => k.name === 'reader')!.lastUsedAt).not.toBeNull();
  });

  it('a read key reads but cannot write', async () => {
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1) });
    const attempts = [
      { method: 'PUT' as const, url: eventUrl(CAL, 'b'), payload: eventBody(2) },
      { method: 'DELETE' as const, url: eventUrl(CAL, 'a') },
      { method: 'PUT' as const, url: `${calendarUrl(CAL)}/events`, payload: [] },
      { method: 'POST' as const, url: '/v1/events/batch', payload: [{ calendar: CAL, id: 'c', ...eventBody(3) }] },
    ];
    for (const attempt of attempts) {
      const response = await f.call({ ...attempt, key: 'read' });
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe(403);
      expect(response.headers['www-authenticate']).toContain('insufficient_scope');
    }
    expect((await f.store.desiredFor(CAL)).map((r) => r.sourceId)).toEqual(['a']);
    expect((await f.call({ method: 'GET', url: eventUrl(CAL, 'a'), key: 'read' })).statusCode).toBe(200);
    expect((await f.call({ method: 'GET', url: calendarUrl(CAL), key: 'read' })).statusCode).toBe(200);
    expect((await f.call({ method: 'GET', url: '/openapi.json', key: 'read' })).statusCode).toBe(200);
  });

  it('a key limited to calendar patterns cannot touch other calendars', async () => {
    expect((await f.call({ method: 'PUT', url: eventUrl(ROOM, 'r1'), payload: eventBody(1), key: 'rooms' })).statusCode).toBe(202);
    expect((await f.call({ method: 'PUT', url: eventUrl('lab@rooms.contoso.edu', 'r2'), payload: eventBody(1), key: 'rooms' })).statusCode).toBe(202);
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1) });
    const forbidden = [
      { method: 'PUT' as const, url: eventUrl(CAL, 'b'), payload: eventBody(2) },
      { method: 'GET' as const, url: eventUrl(CAL, 'a') },
      { method: 'DELETE' as const, url: eventUrl(CAL, 'a') },
      { method: 'GET' as const, url: calendarUrl(CAL) },
      { method: 'PUT' as const, url: `${calendarUrl(CAL)}/events`, payload: [] },
      { method: 'PUT' as const, url: eventUrl('ROOM-A-101@contoso.edu.evil.example', 'x'), payload: eventBody(2) },
    ];
    for (const attempt of forbidden) {
      const response = await f.call({ ...attempt, key: 'rooms' });
      expect(response.statusCode, `${attempt.method} ${attempt.url}`).toBe(403);
      expect(json(response).detail).toMatch(/may not use the calendar/);
    }
    // Batch: per item.
    const batch = await f.call({
      method: 'POST',
      url: '/v1/events/batch',
      key: 'rooms',
      payload: [
        { calendar: ROOM, id: 'r3', ...eventBody(3) },
        { calendar: CAL, id: 'sneaky', ...eventBody(4) },
        { op: 'delete', calendar: CAL, id: 'a' },
      ],
    });
    expect(batch.statusCode).toBe(202);
    expect(json(batch).items.map((i: { status: number }) => i.status)).toEqual([202, 403, 403]);
    expect((await f.store.desiredFor(CAL)).map((r) => r.sourceId)).toEqual(['a']);
    // Listing shows only its calendars.
    const list = json(await f.call({ method: 'GET', url: '/v1/calendars', key: 'rooms' }));
    expect(list.calendars.map((c: { calendar: string }) => c.calendar)).toEqual(['lab@rooms.contoso.edu', ROOM]);
  });
});

describe('PUT /v1/calendars/{calendar}/events/{eventId}', () => {
  it('records the event, answers 202 with a status URL, and leaves the calendar’s other events alone', async () => {
    const first = await f.call({ method: 'PUT', url: eventUrl(CAL, 'MATH101'), payload: eventBody(1) });
    expect(first.statusCode).toBe(202);
    expect(first.headers.location).toBe(eventUrl(CAL, 'MATH101'));
    expect(json(first)).toEqual({ calendar: CAL, id: 'MATH101', result: 'added', statusUrl: eventUrl(CAL, 'MATH101') });
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'MATH102'), payload: eventBody(2) });
    expect((await f.store.desiredFor(CAL)).map((r) => r.sourceId).sort()).toEqual(['MATH101', 'MATH102']);
    expect(f.nudges).toEqual([CAL, CAL]);

    expect(json(await f.call({ method: 'PUT', url: eventUrl(CAL, 'MATH101'), payload: eventBody(1) })).result).toBe('unchanged');
    expect(f.nudges).toHaveLength(2); // nothing to deliver
    expect(json(await f.call({ method: 'PUT', url: eventUrl(CAL, 'MATH101'), payload: eventBody(1, { subject: 'Moved' }) })).result).toBe('changed');
    const mailbox = await f.store.mailbox(CAL);
    expect(mailbox!.desiredVersion).toBeGreaterThan(mailbox!.deliveredVersion);
    expect((await f.store.changedMailboxes()).map((m) => m.calendar)).toEqual([CAL]);
  });

  it('takes ids and calendars with any characters, percent-encoded, and normalises the calendar', async () => {
    const id = 'UID-1/2@20260901T070000Z ü';
    const response = await f.call({ method: 'PUT', url: eventUrl('S0001@Contoso.EDU', id), payload: eventBody(1) });
    expect(response.statusCode).toBe(202);
    expect(json(response)).toMatchObject({ calendar: CAL, id });
    const got = json(await f.call({ method: 'GET', url: eventUrl(CAL, id) }));
    expect(got.event).toMatchObject({ calendar: CAL, id, start: '2026-12-02T09:00:00', timeZone: 'Europe/Amsterdam' });
  });

  it('accepts calendar and id in the body when they match the URL, and refuses them when not', async () => {
    expect((await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: { ...eventBody(1), calendar: 'S0001@contoso.edu', id: 'a' } })).statusCode).toBe(202);
    const bad = await f.call({ method: 'PUT', url: eventUrl(CAL, 'b'), payload: { ...eventBody(1), calendar: 'other@contoso.edu', id: 'c' } });
    expect(bad.statusCode).toBe(400);
    expect(json(bad).errors.map((e: { field: string }) => e.field).sort()).toEqual(['calendar', 'id']);
    expect((await f.store.desiredFor(CAL)).map((r) => r.sourceId)).toEqual(['a']);
  });

  it('answers bad input with 400 problem+json naming each bad field, and changes nothing', async () => {
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'keep'), payload: eventBody(1) });
    const cases: Array<[unknown, string[]]> = [
      [{ ...eventBody(1), start: '2026-13-01T09:00', timeZone: 'Mars/Olympus' }, ['start', 'timeZone']],
      [{ ...eventBody(1), end: '2026-12-02T08:00' }, ['end']],
      [{ ...eventBody(1), showAs: 'maybe', reminderMinutes: -5, categories: 'x' }, ['categories', 'reminderMinutes', 'showAs']],
      [{ ...eventBody(1), colour: 'red' }, ['(record)']],
      [{ subject: 'x', start: '2026-09-01', end: '2026-09-01', allDay: true }, ['end']],
      [{ ...eventBody(1), allDay: true }, ['end', 'start', 'timeZone']],
      [{ ...eventBody(1), body: { contentType: 'rtf', content: 'x' } }, ['body']],
      [[eventBody(1)], ['(body)']],
      ['"just a string"', ['(body)']],
      ['null', ['(body)']],
    ];
    for (const [payload, fields] of cases) {
      const response = await f.call({
        method: 'PUT',
        url: eventUrl(CAL, 'keep'),
        payload: typeof payload === 'string' ? payload : JSON.stringify(payload),
        headers: { 'content-type': 'application/json' },
      });
      expect(response.statusCode, JSON.stringify(payload)).toBe(400);
      expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
      const problem = json(response);
      expect(problem).toMatchObject({ type: '/docs#problem-invalid-request', status: 400 });
      expect([...new Set(problem.errors.map((e: { field: string }) => e.field))].sort(), JSON.stringify(payload)).toEqual(fields);
      for (const error of problem.errors) expect(error.message.length).toBeGreaterThan(3);
    }
    const kept = await f.store.desiredFor(CAL);
    expect(kept).toHaveLength(1);
    expect(kept[0]!.event.subject).toBe('Lecture 1');
  });

  it('400 for a bad calendar or id in the URL, invalid JSON, or an empty body; 415 for other media types; 413 past the limit', async () => {
    const badCalendar = await f.call({ method: 'PUT', url: eventUrl('not-an-address', 'a'), payload: eventBody(1) });
    expect(badCalendar.statusCode).toBe(400);
    expect(json(badCalendar).errors[0]).toMatchObject({ field: 'calendar' });
    expect(json(badCalendar).errors[0].pointer).toBeUndefined();
    const longId = await f.call({ method: 'PUT', url: eventUrl(CAL, 'x'.repeat(600)), payload: eventBody(1) });
    expect(longId.statusCode).toBe(400);
    expect(json(longId).errors[0].field).toBe('id');

    const invalidJson = await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: '{"subject": ', headers: { 'content-type': 'application/json' } });
    expect(invalidJson.statusCode).toBe(400);
    expect(json(invalidJson).type).toBe('/docs#problem-invalid-json');
    const proto = await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: '{"__proto__": {"x": 1}}', headers: { 'content-type': 'application/json' } });
    expect(proto.statusCode).toBe(400);
    const empty = await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), headers: { 'content-type': 'application/json' } });
    expect(empty.statusCode).toBe(400);
    const text = await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: 'subject=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } });
    expect(text.statusCode).toBe(415);
    expect(json(text).type).toBe('/docs#problem-unsupported-media-type');

    const small = await apiFixture({ server: { bodyLimitBytes: 2048 } });
    try {
      const big = await small.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1, { body: 'x'.repeat(5000) }) });
      expect(big.statusCode).toBe(413);
      expect(json(big)).toMatchObject({ status: 413, type: '/docs#problem-payload-too-large' });
      expect(await small.store.desiredFor(CAL)).toEqual([]);
    } finally {
      await small.close();
    }
    expect(await f.store.desiredFor(CAL)).toEqual([]);
  });

  it('creates a new calendar unless the config’s mailboxes exclude it (404)', async () => {
    const restricted = await apiFixture({ mailboxes: [CAL] });
    try {
      expect((await restricted.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1) })).statusCode).toBe(202);
      const outside = await restricted.call({ method: 'PUT', url: eventUrl('stranger@contoso.edu', 'a'), payload: eventBody(1) });
      expect(outside.statusCode).toBe(404);
      expect(json(outside).detail).toMatch(/mailboxes/);
      // In mailboxes but never written: known, empty.
      const fresh = await apiFixture({ mailboxes: [CAL, ROOM] });
      expect(json(await fresh.call({ method: 'GET', url: calendarUrl(ROOM) }))).toMatchObject({ calendar: ROOM, desired: 0, state: 'pending' });
      await fresh.close();
    } finally {
      await restricted.close();
    }
  });

  it('refuses writes to a calendar that an iCalendar feed owns (409)', async () => {
    const fed = await apiFixture({ feeds: new Map([[ROOM, 'https://timetable.example.edu/ical/room.ics?token=secret']]) });
    try {
      await fed.store.applyDesiredOps([{ kind: 'upsert', desired: desired(ROOM, 'from-feed') }]);
      expect((await fed.call({ method: 'PUT', url: eventUrl(ROOM, 'a'), payload: eventBody(1) })).statusCode).toBe(409);
      expect((await fed.call({ method: 'DELETE', url: eventUrl(ROOM, 'from-feed') })).statusCode).toBe(409);
      expect((await fed.call({ method: 'PUT', url: `${calendarUrl(ROOM)}/events`, payload: [] })).statusCode).toBe(409);
      const batch = await fed.call({ method: 'POST', url: '/v1/events/batch', payload: [{ calendar: ROOM, id: 'a', ...eventBody(1) }] });
      expect(batch.statusCode).toBe(400);
      expect(json(batch).items[0].status).toBe(409);
      const status = json(await fed.call({ method: 'GET', url: calendarUrl(ROOM) }));
      expect(status).toMatchObject({ source: 'feed', feed: { url: 'https://timetable.example.edu/…' } });
      expect(JSON.stringify(status)).not.toContain('secret');
    } finally {
      await fed.close();
    }
  });
});

describe('DELETE and GET of one event', () => {
  it('deletes only that event; a repeated delete answers "absent"; unknown calendars are 404', async () => {
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1) });
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'b'), payload: eventBody(2) });
    const deleted = await f.call({ method: 'DELETE', url: eventUrl(CAL, 'a') });
    expect(deleted.statusCode).toBe(202);
    expect(json(deleted)).toMatchObject({ result: 'removed', statusUrl: eventUrl(CAL, 'a') });
    expect((await f.store.desiredFor(CAL)).map((r) => r.sourceId)).toEqual(['b']);
    expect(json(await f.call({ method: 'DELETE', url: eventUrl(CAL, 'a') })).result).toBe('absent');
    expect((await f.call({ method: 'GET', url: eventUrl(CAL, 'a') })).statusCode).toBe(404);
    for (const method of ['GET', 'DELETE'] as const) {
      const unknown = await f.call({ method, url: eventUrl('nobody@contoso.edu', 'a') });
      expect(unknown.statusCode).toBe(404);
      expect(json(unknown).detail).toMatch(/does not know the calendar/);
    }
    expect((await f.call({ method: 'GET', url: calendarUrl('nobody@contoso.edu') })).statusCode).toBe(404);
  });

  it('reports pending, delivered (with the target item id), failed with the reason, and deleting', async () => {
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1) });
    const get = async () => json(await f.call({ method: 'GET', url: eventUrl(CAL, 'a'), key: 'read' }));
    expect(await get()).toMatchObject({ status: 'pending', targetItemId: null, event: { subject: 'Lecture 1' } });

    const row = (await f.store.desiredFor(CAL))[0]!;
    const op: PendingOp = { calendar: CAL, key: row.key, kind: 'create', itemId: null, contentHash: row.contentHash, transactionId: 't', startsAtMs: row.startsAtMs, attempts: 0, lastError: null };
    await f.store.replacePendingOps(CAL, [op]);
    expect(await get()).toMatchObject({ status: 'pending', pendingOperation: 'create' });
    await f.store.recordOpFailure(CAL, row.key, 'ErrorPropertyValidationFailure: At least one property failed validation.');
    expect(await get()).toMatchObject({ status: 'failed', reason: 'ErrorPropertyValidationFailure: At least one property failed validation.' });

    await f.store.completeOps([{ op, delivered: { calendar: CAL, key: row.key, itemId: 'AAMkAD-item-1', changeKey: null, transactionId: 't', contentHash: row.contentHash } }]);
    const delivered = await get();
    expect(delivered).toMatchObject({ status: 'delivered', targetItemId: 'AAMkAD-item-1', pendingOperation: null });
    expect(delivered.deliveredAt).toEqual(expect.any(String));

    await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1, { subject: 'changed' }) });
    expect(await get()).toMatchObject({ status: 'pending', targetItemId: 'AAMkAD-item-1' });

    await f.store.recordMailboxFailure(CAL, 'ErrorAccessDenied', 'Access to OData is disabled.');
    expect(await get()).toMatchObject({ status: 'failed', reason: 'ErrorAccessDenied: Access to OData is disabled.' });

    await f.call({ method: 'DELETE', url: eventUrl(CAL, 'a') });
    await f.store.recordMailboxOk(CAL, 0);
    expect(await get()).toMatchObject({ status: 'deleting', event: null, targetItemId: 'AAMkAD-item-1' });
  });
});

describe('PUT /v1/calendars/{calendar}/events (full replacement)', () => {
  const url = `${calendarUrl(CAL)}/events`;
  const events = (ids: string[]) => ids.map((id, n) => ({ id, ...eventBody(n) }));

  it('makes the body the calendar’s complete set and leaves other calendars alone', async () => {
    await f.call({ method: 'PUT', url: eventUrl(ROOM, 'other'), payload: eventBody(1) });
    const first = await f.call({ method: 'PUT', url, payload: events(['a', 'b', 'c']) });
    expect(first.statusCode).toBe(202);
    expect(json(first)).toMatchObject({ calendar: CAL, accepted: 3, rejected: 0, added: 3, removed: 0, errors: [] });
    const second = json(await f.call({ method: 'PUT', url, payload: { events: [{ id: 'a', ...eventBody(0) }, { id: 'c', ...eventBody(2) }, { id: 'd', ...eventBody(9) }] } }));
    expect(second).toMatchObject({ added: 1, removed: 1, unchanged: 2 });
    expect((await f.store.desiredFor(CAL)).map((r) => r.sourceId).sort()).toEqual(['a', 'c', 'd']);
    expect((await f.store.desiredFor(ROOM)).map((r) => r.sourceId)).toEqual(['other']);
  });

  it('takes NDJSON', async () => {
    const body = events(['a', 'b']).map((e) => JSON.stringify(e)).join('\n');
    const response = await f.call({ method: 'PUT', url, payload: `${body}\n\n`, headers: { 'content-type': 'application/x-ndjson' } });
    expect(response.statusCode).toBe(202);
    expect(json(response).accepted).toBe(2);
  });

  it('by default applies the valid items and holds the ids of invalid ones; atomic=true applies nothing', async () => {
    await f.call({ method: 'PUT', url, payload: events(['a', 'b', 'c']) });
    const payload = [{ id: 'a', ...eventBody(0, { subject: 'new a' }) }, { id: 'b', ...eventBody(1), end: 'never' }, { id: 'x', ...eventBody(5), calendar: ROOM }, { subject: 'no id' }, 42];
    const atomic = await f.call({ method: 'PUT', url: `${url}?atomic=true`, payload });
    expect(atomic.statusCode).toBe(400);
    expect(json(atomic).errors.map((e: { field: string }) => e.field)).toEqual(['item 2: end', 'item 3: calendar', 'item 4: id', 'item 4: start', 'item 4: end', 'item 4: timeZone', 'item 5: (item)']);
    expect((await f.store.desiredFor(CAL)).find((r) => r.sourceId === 'a')!.event.subject).toBe('Lecture 0');

    const lenient = json(await f.call({ method: 'PUT', url, payload }));
    expect(lenient).toMatchObject({ accepted: 1, rejected: 4, changed: 1, removed: 1 });
    expect(lenient.errors.map((e: { item: number }) => e.item)).toEqual([2, 3, 4, 4, 4, 4, 5]);
    // b was invalid: it keeps its old state; c was left out: removed.
    const after = await f.store.desiredFor(CAL);
    expect(after.map((r) => r.sourceId).sort()).toEqual(['a', 'b']);
    expect(after.find((r) => r.sourceId === 'a')!.event.subject).toBe('new a');
  });

  it('rejects both items of an id given twice, keeping its old state', async () => {
    await f.call({ method: 'PUT', url, payload: events(['a', 'b']) });
    const response = json(await f.call({ method: 'PUT', url, payload: [{ id: 'a', ...eventBody(3) }, { id: 'a', ...eventBody(4) }, { id: 'b', ...eventBody(1) }] }));
    expect(response).toMatchObject({ accepted: 1, rejected: 2 });
    expect(response.errors.every((e: { message: string }) => /more than once/.test(e.message))).toBe(true);
    expect((await f.store.desiredFor(CAL)).find((r) => r.sourceId === 'a')!.event.subject).toBe('Lecture 0');
  });

  it('refuses an empty set unless allowEmpty=true; refuses when no item is valid', async () => {
    await f.call({ method: 'PUT', url, payload: events(['a']) });
    const empty = await f.call({ method: 'PUT', url, payload: [] });
    expect(empty.statusCode).toBe(409);
    expect(json(empty).detail).toMatch(/allowEmpty=true/);
    expect(await f.store.desiredFor(CAL)).toHaveLength(1);
    expect((await f.call({ method: 'PUT', url, payload: [{ id: 'a', start: 'x' }] })).statusCode).toBe(400);
    expect(await f.store.desiredFor(CAL)).toHaveLength(1);
    const allowed = await f.call({ method: 'PUT', url: `${url}?allowEmpty=true`, payload: [] });
    expect(allowed.statusCode).toBe(202);
    expect(json(allowed).removed).toBe(1);
    expect((await f.call({ method: 'PUT', url: `${url}?allowEmpty=maybe`, payload: [] })).statusCode).toBe(400);
  });

  it('refuses a body that is not a list, and more events than replaceMaxEvents (413)', async () => {
    expect((await f.call({ method: 'PUT', url, payload: { subject: 'x' } })).statusCode).toBe(400);
    const small = await apiFixture({ server: { replaceMaxEvents: 2 } });
    try {
      const response = await small.call({ method: 'PUT', url, payload: events(['a', 'b', 'c']) });
      expect(response.statusCode).toBe(413);
      expect(await small.store.desiredFor(CAL)).toEqual([]);
    } finally {
      await small.close();
    }
  });
});

describe('POST /v1/events/batch', () => {
  it('applies upserts and deletes in order with a result per item', async () => {
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'old'), payload: eventBody(1) });
    const response = await f.call({
      method: 'POST',
      url: '/v1/events/batch',
      payload: [
        { calendar: CAL, id: 'a', ...eventBody(1) },
        { op: 'upsert', calendar: ROOM, id: 'b', ...eventBody(2) },
        { op: 'delete', calendar: CAL, id: 'old' },
        { calendar: CAL, id: 'bad', ...eventBody(3), start: 'soon' },
        { op: 'delete', calendar: 'nobody@contoso.edu', id: 'z' },
        { op: 'delete', calendar: CAL, id: 'a' },
        { op: 'rename', calendar: CAL, id: 'q' },
        { op: 'delete', calendar: CAL, id: 'never-there' },
      ],
    });
    expect(response.statusCode).toBe(202);
    const result = json(response);
    expect(result).toMatchObject({ applied: 5, rejected: 3 });
    expect(result.items.map((i: { status: number; result?: string }) => [i.status, i.result ?? null])).toEqual([
      [202, 'added'],
      [202, 'added'],
      [202, 'removed'],
      [400, null],
      [404, null],
      [202, 'removed'],
      [400, null],
      [202, 'absent'],
    ]);
    expect(result.items[3].errors[0]).toMatchObject({ field: 'start', pointer: '/start' });
    expect(result.items[0].statusUrl).toBe(eventUrl(CAL, 'a'));
    expect(await f.store.desiredFor(CAL)).toEqual([]);
    expect((await f.store.desiredFor(ROOM)).map((r) => r.sourceId)).toEqual(['b']);
    expect(new Set(f.nudges)).toEqual(new Set([CAL, ROOM]));
  });

  it('atomic=true applies nothing when one item is bad; a batch with no valid item is 400', async () => {
    const payload = [{ calendar: CAL, id: 'a', ...eventBody(1) }, { calendar: CAL, id: 'b' }];
    const atomic = await f.call({ method: 'POST', url: '/v1/events/batch?atomic=true', payload });
    expect(atomic.statusCode).toBe(400);
    expect(json(atomic).items).toHaveLength(1);
    expect(json(atomic).errors.map((e: { field: string }) => e.field)).toEqual(['item 2: start', 'item 2: end', 'item 2: timeZone']);
    expect(await f.store.desiredFor(CAL)).toEqual([]);
    expect((await f.call({ method: 'POST', url: '/v1/events/batch', payload: [{ calendar: CAL }] })).statusCode).toBe(400);
    expect((await f.call({ method: 'POST', url: '/v1/events/batch', payload: [] })).statusCode).toBe(400);
    expect((await f.call({ method: 'POST', url: '/v1/events/batch', payload: { calendar: CAL } })).statusCode).toBe(400);
  });

  it('takes NDJSON, reporting a bad line as that item', async () => {
    const lines = [JSON.stringify({ calendar: CAL, id: 'a', ...eventBody(1) }), '{not json', JSON.stringify({ op: 'delete', calendar: CAL, id: 'zz' })].join('\n');
    const response = await f.call({ method: 'POST', url: '/v1/events/batch', payload: lines, headers: { 'content-type': 'application/x-ndjson' } });
    expect(response.statusCode).toBe(202);
    expect(json(response).items.map((i: { item: number; status: number }) => [i.item, i.status])).toEqual([
      [1, 202],
      [2, 400],
      [3, 202],
    ]);
  });

  it('413 past batchMaxItems or the bulk body limit', async () => {
    const small = await apiFixture({ server: { batchMaxItems: 2, bulkBodyLimitBytes: 4096 } });
    try {
      const items = (n: number) => Array.from({ length: n }, (_, i) => ({ calendar: CAL, id: `e${i}`, ...eventBody(i) }));
      expect((await small.call({ method: 'POST', url: '/v1/events/batch', payload: items(3) })).statusCode).toBe(413);
      const big = await small.call({ method: 'POST', url: '/v1/events/batch', payload: [{ calendar: CAL, id: 'x', ...eventBody(1, { body: 'y'.repeat(5000) }) }] });
      expect(big.statusCode).toBe(413);
      expect(await small.store.desiredFor(CAL)).toEqual([]);
      expect((await small.call({ method: 'POST', url: '/v1/events/batch', payload: items(2) })).statusCode).toBe(202);
    } finally {
      await small.close();
    }
  });
});

describe('calendars, health, metrics, contract', () => {
  it('GET /v1/calendars/{calendar} and /v1/calendars report counts and state', async () => {
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1) });
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'b'), payload: eventBody(2) });
    const status = json(await f.call({ method: 'GET', url: calendarUrl(CAL), key: 'read' }));
    expect(status).toEqual({
      calendar: CAL,
      state: 'pending',
      upToDate: false,
      desired: 2,
      delivered: 0,
      pending: 0,
      failedEvents: 0,
      lastSyncAt: null,
      lastError: null,
      source: 'api',
    });
    await f.store.recordMailboxFailure(CAL, 'ErrorAccessDenied', 'Access is denied.');
    expect(json(await f.call({ method: 'GET', url: calendarUrl(CAL) }))).toMatchObject({ state: 'failed', lastError: { code: 'ErrorAccessDenied', message: 'Access is denied.' } });
    expect(json(await f.call({ method: 'GET', url: '/v1/calendars' }))).toEqual({ calendars: [{ calendar: CAL, state: 'failed', desired: 2, upToDate: false }] });
  });

  it('health needs no key', async () => {
    const health = await f.app.inject({ method: 'GET', url: '/v1/health' });
    expect(health.statusCode).toBe(200);
    expect(json(health)).toMatchObject({ status: 'ok', store: 'ok', delivery: { state: 'running', delivering: 0, fatal: null }, feeds: 0 });
  });

  it('metrics need no key and count desired events and requests', async () => {
    await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1) });
    await f.app.inject({ method: 'GET', url: eventUrl(CAL, 'a') });
    const metrics = await f.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.statusCode).toBe(200);
    expect(metrics.headers['content-type']).toMatch(/^text\/plain/);
    expect(metrics.body).toMatch(/^calpush_desired_events 1$/m);
    expect(metrics.body).toMatch(/^calpush_pending_operations 0$/m);
    expect(metrics.body).toMatch(/^calpush_http_requests_total\{method="PUT",route="\/v1\/calendars\/:calendar\/events\/:eventId",status="202"\} 1$/m);
    expect(metrics.body).toMatch(/^calpush_http_requests_total\{method="GET",route="\/v1\/calendars\/:calendar\/events\/:eventId",status="401"\} 1$/m);
    expect(metrics.body).toContain('calpush_delivery_latency_seconds_bucket');
  });

  it('serves an OpenAPI 3.1 document that covers every route, and a docs page, both behind a key unless publicDocs', async () => {
    const document = json(await f.call({ method: 'GET', url: '/openapi.json', key: 'read' }));
    expect(document.openapi).toBe('3.1.0');
    for (const route of routeTable(f.app).filter((r) => r.method !== 'HEAD' && r.auth !== 'session')) {
      const path = route.url.replace(/:(\w+)/g, '{$1}');
      expect(document.paths[path]?.[route.method.toLowerCase()], `${route.method} ${path}`).toBeDefined();
    }
    const put = document.paths['/v1/calendars/{calendar}/events/{eventId}'].put;
    expect(put.requestBody.content['application/json'].schema.properties).toHaveProperty('timeZone');
    expect(put.requestBody.content['application/json'].schema.properties.showAs.enum).toContain('workingElsewhere');
    expect(put.responses['400'].content['application/problem+json'].schema).toEqual({ $ref: '#/components/schemas/Problem' });
    expect(put.responses['401']).toBeDefined();
    expect(document.paths['/v1/health'].get.security).toEqual([]);
    expect(document.paths['/v1/events/batch'].post.requestBody.content).toHaveProperty(['application/x-ndjson']);

    const docs = await f.call({ method: 'GET', url: '/docs', key: 'read' });
    expect(docs.headers['content-type']).toMatch(/^text\/html/);
    expect(docs.body).toContain('PUT /v1/calendars/{calendar}/events/{eventId}');
    expect(docs.body).toContain('id="problem-invalid-request"');
    expect(docs.body).not.toMatch(/<script|https?:\/\/(?!json-schema\.org)[a-z]/i);

    const open = await apiFixture({ server: { publicDocs: true } });
    try {
      expect((await open.app.inject({ method: 'GET', url: '/openapi.json' })).statusCode).toBe(200);
      expect((await open.app.inject({ method: 'GET', url: '/docs' })).statusCode).toBe(200);
      expect((await open.app.inject({ method: 'GET', url: '/v1/calendars' })).statusCode).toBe(401);
    } finally {
      await open.close();
    }
  });
});

describe('store methods behind the API', () => {
  it('applyDesiredOps bumps the desired version only of calendars that changed', async () => {
    const a = desired(CAL, 'a');
    expect(await f.store.applyDesiredOps([{ kind: 'upsert', desired: a }])).toEqual(['added']);
    const v1 = (await f.store.mailbox(CAL))!.desiredVersion;
    expect(await f.store.applyDesiredOps([{ kind: 'upsert', desired: a }, { kind: 'remove', calendar: CAL, key: eventKey(CAL, 'zz') }])).toEqual(['unchanged', 'absent']);
    expect((await f.store.mailbox(CAL))!.desiredVersion).toBe(v1);
    expect(await f.store.applyDesiredOps([{ kind: 'upsert', desired: desired(CAL, 'a', { subject: 'x' }) }, { kind: 'remove', calendar: CAL, key: a.key }])).toEqual(['changed', 'removed']);
    expect((await f.store.mailbox(CAL))!.desiredVersion).toBe(v1 + 1);
    expect(await f.store.desiredFor(CAL)).toEqual([]);
  });
});

describe('PUT /v1/calendars/{calendar}/events: retention and dryRun', () => {
  const url = `${calendarUrl(CAL)}/events`;
  const on = (date: string, id: string, subject = id) => ({ id, subject, start: `${date}T09:00`, end: `${date}T10:00`, timeZone: 'Europe/Amsterdam' });

  it('keeps ended events the body leaves out once the clock has moved on; future ones follow the body', async () => {
    const clock = fixedClock('2026-09-01T00:00:00Z');
    const api = await apiFixture({ clock });
    try {
      const term = [on('2026-09-02', 'sep'), on('2026-09-20', 'sep-20'), on('2026-11-02', 'nov'), on('2026-12-02', 'dec')];
      expect((await api.call({ method: 'PUT', url, payload: term })).statusCode).toBe(202);
      clock.advance(60 * 86_400_000);
      const next = await api.call({ method: 'PUT', url, payload: [on('2026-09-20', 'sep-20', 'corrected'), on('2026-12-02', 'dec')] });
      expect(json(next)).toMatchObject({ removed: 1, changed: 1, unchanged: 1, kept: 1 });
      expect((await api.store.desiredFor(CAL)).map((r) => r.sourceId).sort()).toEqual(['dec', 'sep', 'sep-20']);
      // A single-event DELETE still deletes, past or not.
      expect((await api.call({ method: 'DELETE', url: eventUrl(CAL, 'sep') })).statusCode).toBe(202);
      expect((await api.store.desiredFor(CAL)).map((r) => r.sourceId).sort()).toEqual(['dec', 'sep-20']);
    } finally {
      await api.close();
    }
  });

  it('with retention "prune" in the config, removes what ended more than afterDays ago', async () => {
    const clock = fixedClock('2026-09-01T00:00:00Z');
    const api = await apiFixture({ clock, config: { retention: { past: 'prune', afterDays: 30 } } });
    try {
      await api.call({ method: 'PUT', url, payload: [on('2026-09-02', 'sep'), on('2026-10-25', 'oct'), on('2026-12-02', 'dec')] });
      clock.set('2026-11-01T00:00:00Z');
      expect(json(await api.call({ method: 'PUT', url, payload: [on('2026-12-02', 'dec')] }))).toMatchObject({ removed: 1, kept: 1 });
      expect((await api.store.desiredFor(CAL)).map((r) => r.sourceId).sort()).toEqual(['dec', 'oct']);
    } finally {
      await api.close();
    }
  });

  it('dryRun=true answers 200 with the change and the plan, records nothing and starts no delivery', async () => {
    await f.call({ method: 'PUT', url, payload: [on('2026-12-02', 'a'), on('2026-12-03', 'b'), on('2026-12-04', 'c')] });
    const nudges = f.nudges.length;
    const before = JSON.stringify([await f.store.desiredFor(CAL), await f.store.mailboxes()]);
    const body = [on('2026-12-02', 'a', 'renamed'), on('2026-12-03', 'b'), on('2026-12-05', 'd'), { id: 'bad', start: 'never' }, on('2026-03-29', 'gap')];
    body[4] = { ...body[4]!, start: '2026-03-29T02:30', end: '2026-03-29T04:00' };
    const dry = await f.call({ method: 'PUT', url: `${url}?dryRun=true`, payload: body });
    expect(dry.statusCode).toBe(200);
    expect(dry.headers.location).toBeUndefined();
    expect(json(dry)).toMatchObject({
      dryRun: true,
      accepted: 4,
      rejected: 1,
      added: 2,
      changed: 1,
      removed: 1,
      unchanged: 1,
      kept: 0,
      warnings: [{ item: 5, id: 'gap', field: 'start', message: expect.stringContaining('taken as 2026-03-29T03:30:00') }],
      // Never delivered, never listed: the plan says so.
      plan: { calendar: CAL, basis: 'not-listed', create: { count: 4, ids: ['gap', 'a', 'b', 'd'] }, update: { count: 0 }, delete: { count: 0 }, note: expect.stringContaining('a real run lists it first') },
    });
    expect(json(dry).errors.map((e: { item: number; field: string }) => `${e.item} ${e.field}`).sort()).toEqual(['4 end', '4 start', '4 timeZone']);
    expect(JSON.stringify([await f.store.desiredFor(CAL), await f.store.mailboxes()])).toBe(before);
    expect(f.nudges.length).toBe(nudges);

    // Once delivered, the plan compares with what the store recorded.
    for (const row of await f.store.desiredFor(CAL)) {
      await f.store.completeOps([{ op: { calendar: CAL, key: row.key, kind: 'create', itemId: null, contentHash: row.contentHash, transactionId: null, startsAtMs: row.startsAtMs, attempts: 0, lastError: null }, delivered: { calendar: CAL, key: row.key, itemId: `item-${row.sourceId}`, changeKey: null, transactionId: null, contentHash: row.contentHash } }]);
    }
    await f.store.recordInventory(CAL, await f.store.deliveredFor(CAL));
    const planned = json(await f.call({ method: 'PUT', url: `${url}?dryRun=1`, payload: body }));
    expect(planned.plan).toMatchObject({ basis: 'store', create: { count: 2, ids: ['gap', 'd'] }, update: { count: 1, ids: ['a'] }, delete: { count: 1, ids: ['c'] }, unchanged: 1 });
    expect(planned.plan.note).toBeUndefined();
  });
});
