// Graph event CRUD against the sandbox: create, get, patch, delete, transactionId, mailbox errors, validation.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { GraphClient, lesson, TAG_ID, users } from './helpers.ts';

let sandbox: SandboxInternals;
let graph: GraphClient;
beforeAll(async () => {
  sandbox = await startSandbox();
  graph = await GraphClient.demo(sandbox);
});
afterAll(async () => {
  await sandbox.close();
});

const MAILBOX = 's0010@contoso.edu';

describe('create', () => {
  it('POST /users/{id}/events answers 201 with the event in Graph shape, without extended properties', async () => {
    const r = await graph.post(`${users(MAILBOX)}/events`, lesson(1), { prefer: 'IdType="ImmutableId"' });
    expect(r.status).toBe(201);
    expect(r.headers['preference-applied']).toBe('IdType="ImmutableId"');
    expect(r.headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const e = r.json;
    expect(e['@odata.context']).toContain("$metadata#users('s0010%40contoso.edu')/events/$entity");
    expect(e).toMatchObject({
      subject: 'Lesson 1',
      start: { dateTime: '2026-10-02T07:00:00.0000000', timeZone: 'UTC' }, // 09:00 CEST = 07:00 UTC
      end: { dateTime: '2026-10-02T07:45:00.0000000', timeZone: 'UTC' },
      originalStartTimeZone: 'W. Europe Standard Time',
      isAllDay: false,
      showAs: 'busy',
      sensitivity: 'normal',
      isReminderOn: true,
      reminderMinutesBeforeStart: 15,
      type: 'singleInstance',
      categories: ['Timetable'],
      location: { displayName: 'Room 1' },
      organizer: { emailAddress: { address: MAILBOX } },
    });
    expect(e.id).toMatch(/^AAMkA[A-Za-z0-9_=-]+$/);
    expect(e.changeKey).toBeTruthy();
    expect(e['@odata.etag']).toBe(`W/"${e.changeKey}"`);
    expect(e.iCalUId).toMatch(/^040000008200E00074C5B7101A82E008/);
    expect(e.createdDateTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}Z$/);
    expect(e.transactionId).toBeUndefined();
    expect(e.singleValueExtendedProperties).toBeUndefined();
    // The text body is stored and returned as HTML by default.
    expect(e.body.contentType).toBe('html');
    expect(e.body.content).toContain('Lesson 1 body');
    // The sandbox keeps the extended property.
    const stored = sandbox.listEvents(MAILBOX).find((x) => x.id === e.id)!;
    expect(stored.singleValueExtendedProperties).toEqual([{ id: TAG_ID, value: 'calpush;test;lesson-1' }]);
  });

  it('also accepts /users/{id}/calendar/events and the user object id, and ids are case-insensitive addresses', async () => {
    const viaCalendar = await graph.post(`${users('S0010@Contoso.EDU')}/calendar/events`, lesson(2));
    expect(viaCalendar.status).toBe(201);
    const { objectIdFor } = await import('../../src/sandbox/index.ts');
    const byId = await graph.get(`/users/${objectIdFor(MAILBOX)}/events/${encodeURIComponent(viaCalendar.json.id)}`);
    expect(byId.status).toBe(200);
    expect(byId.json.subject).toBe('Lesson 2');
  });

  it('rejects an unknown property with the schema check (400, nothing stored)', async () => {
    const before = sandbox.listEvents(MAILBOX).length;
    const r = await graph.post(`${users(MAILBOX)}/events`, { ...lesson(3), colour: 'red' });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBeTruthy();
    expect(r.json.error.message).toContain('colour');
    expect(sandbox.listEvents(MAILBOX).length).toBe(before);
  });

  it('requires start and end, a supported time zone, end not before start, midnight all-day events', async () => {
    const { start: _s, ...noStart } = lesson(4);
    expect((await graph.post(`${users(MAILBOX)}/events`, noStart)).status).toBe(400);
    const badZone = await graph.post(`${users(MAILBOX)}/events`, lesson(4, { start: { dateTime: '2026-10-05T09:00:00', timeZone: 'Mars/Olympus_Mons' } }));
    expect(badZone.status).toBe(400);
    expect(badZone.json.error).toMatchObject({ code: 'TimeZoneNotSupportedException', message: "A valid TimeZone value must be specified. The following TimeZone value is not supported: 'Mars/Olympus_Mons'." });
    const iana = await graph.post(`${users(MAILBOX)}/events`, lesson(4, { start: { dateTime: '2026-10-05T09:00:00', timeZone: 'Europe/Berlin' }, end: { dateTime: '2026-10-05T10:00:00', timeZone: 'Europe/Berlin' } }));
    expect(iana.status).toBe(201);
    expect(iana.json.start.dateTime).toBe('2026-10-05T07:00:00.0000000');
    expect(iana.json.originalStartTimeZone).toBe('Europe/Berlin');
    const backwards = await graph.post(`${users(MAILBOX)}/events`, lesson(5, { end: { dateTime: '2026-10-01T07:00:00', timeZone: 'UTC' } }));
    expect(backwards.status).toBe(400);
    expect(backwards.json.error).toMatchObject({ code: 'ErrorPropertyValidationFailure', message: 'At least one property failed validation.' });
    const allDayBad = await graph.post(`${users(MAILBOX)}/events`, lesson(6, { isAllDay: true }));
    expect(allDayBad.status).toBe(400);
    const allDay = await graph.post(`${users(MAILBOX)}/events`, lesson(6, { isAllDay: true, start: { dateTime: '2026-10-07T00:00:00', timeZone: 'W. Europe Standard Time' }, end: { dateTime: '2026-10-08T00:00:00', timeZone: 'W. Europe Standard Time' } }));
    expect(allDay.status).toBe(201);
    // All-day events come back midnight to midnight whatever the zone.
    expect(allDay.json.start).toEqual({ dateTime: '2026-10-07T00:00:00.0000000', timeZone: 'UTC' });
  });

  it('answers a body that is not JSON with 400 and a body over 4 MB with 413', async () => {
    const notJson = await graph.request('POST', `${users(MAILBOX)}/events`, '{not json');
    expect(notJson.status).toBe(400);
    expect(notJson.json.error.message).toContain('Unable to read JSON request payload');
    const big = await graph.post(`${users(MAILBOX)}/events`, lesson(7, { body: { contentType: 'text', content: 'x'.repeat(4 * 1024 * 1024 + 10) } }));
    expect(big.status).toBe(413);
    expect(big.json.error.message).toBe('The maximum request length supported is 4MB.');
  });
});

describe('transactionId', () => {
  it('re-POST of the same body with the same transactionId answers 201 with the same event, no duplicate', async () => {
    const body = lesson(20, { transactionId: 'tx-20' });
    const first = await graph.post(`${users(MAILBOX)}/events`, body);
    const second = await graph.post(`${users(MAILBOX)}/events`, body);
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.json.id).toBe(first.json.id);
    expect(first.json.transactionId).toBe('tx-20');
    expect(sandbox.listEvents(MAILBOX).filter((e) => e.transactionId === 'tx-20')).toHaveLength(1);
  });

  it('the same transactionId with different content → 400 ErrorDuplicateTransactionId', async () => {
    await graph.post(`${users(MAILBOX)}/events`, lesson(21, { transactionId: 'tx-21' }));
    const other = await graph.post(`${users(MAILBOX)}/events`, lesson(22, { transactionId: 'tx-21' }));
    expect(other.status).toBe(400);
    expect(other.json.error).toMatchObject({ code: 'ErrorDuplicateTransactionId', message: "Your request can't be completed. The TransactionId specified in the request has already been used to create a different event." });
  });

  it('is per mailbox, and free again once the event is deleted', async () => {
    const body = lesson(23, { transactionId: 'tx-23' });
    const a = await graph.post(`${users(MAILBOX)}/events`, body);
    const b = await graph.post(`${users('s0011@contoso.edu')}/events`, body);
    expect(b.status).toBe(201);
    expect(b.json.id).not.toBe(a.json.id);
    expect((await graph.delete(`${users(MAILBOX)}/events/${encodeURIComponent(a.json.id)}`)).status).toBe(204);
    const again = await graph.post(`${users(MAILBOX)}/events`, body);
    expect(again.status).toBe(201);
    expect(again.json.id).not.toBe(a.json.id);
  });

  it('cannot be changed by PATCH', async () => {
    const created = await graph.post(`${users(MAILBOX)}/events`, lesson(24, { transactionId: 'tx-24' }));
    const r = await graph.patch(`${users(MAILBOX)}/events/${encodeURIComponent(created.json.id)}`, { transactionId: 'tx-other' });
    expect(r.status).toBe(400);
    const same = await graph.patch(`${users(MAILBOX)}/events/${encodeURIComponent(created.json.id)}`, { transactionId: 'tx-24', subject: 'ok' });
    expect(same.status).toBe(200);
  });
});

describe('get, patch, delete', () => {
  it('PATCH updates fields, upserts extended properties by id and changes the changeKey', async () => {
    const created = (await graph.post(`${users(MAILBOX)}/events`, lesson(30))).json;
    const path = `${users(MAILBOX)}/events/${encodeURIComponent(created.id)}`;
    const patched = await graph.patch(path, {
      subject: 'Lesson 30 (moved)',
      location: { displayName: 'Aula' },
      // same property, id spelled with other case in type/GUID: upsert, not a second property
      singleValueExtendedProperties: [
        { id: TAG_ID.replace('String', 'string').toUpperCase().replace('NAME CALPUSHKEY', 'Name CalpushKey'), value: 'calpush;test;lesson-30;v2' },
        { id: 'String {7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c} Name Other', value: 'x' },
      ],
    });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ id: created.id, subject: 'Lesson 30 (moved)', location: { displayName: 'Aula' } });
    expect(patched.json.changeKey).not.toBe(created.changeKey);
    expect(Date.parse(patched.json.lastModifiedDateTime)).toBeGreaterThan(Date.parse(created.lastModifiedDateTime));
    const stored = sandbox.listEvents(MAILBOX).find((e) => e.id === created.id)!;
    expect(stored.singleValueExtendedProperties).toEqual([
      { id: TAG_ID, value: 'calpush;test;lesson-30;v2' },
      { id: 'String {7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c} Name Other', value: 'x' },
    ]);
    // name part is case-sensitive: a differently cased name is another property
    await graph.patch(path, { singleValueExtendedProperties: [{ id: TAG_ID.replace('CalpushKey', 'calpushkey'), value: 'y' }] });
    expect(sandbox.listEvents(MAILBOX).find((e) => e.id === created.id)!.singleValueExtendedProperties).toHaveLength(3);
    const got = await graph.get(path);
    expect(got.json.subject).toBe('Lesson 30 (moved)');
    expect(got.json.singleValueExtendedProperties).toBeUndefined();
  });

  it('PATCH validates the body (schema and times)', async () => {
    const created = (await graph.post(`${users(MAILBOX)}/events`, lesson(31))).json;
    const path = `${users(MAILBOX)}/events/${encodeURIComponent(created.id)}`;
    expect((await graph.patch(path, { nonsense: 1 })).status).toBe(400);
    expect((await graph.patch(path, { end: { dateTime: '2000-01-01T00:00:00', timeZone: 'UTC' } })).status).toBe(400);
    expect(sandbox.listEvents(MAILBOX).find((e) => e.id === created.id)!.subject).toBe('Lesson 31');
  });

  it('DELETE answers 204; unknown ids answer 404 ErrorItemNotFound; ids are case-sensitive', async () => {
    const created = (await graph.post(`${users(MAILBOX)}/events`, lesson(32))).json;
    const path = `${users(MAILBOX)}/events/${encodeURIComponent(created.id)}`;
    const wrongCase = await graph.get(`${users(MAILBOX)}/events/${encodeURIComponent(created.id.toLowerCase())}`);
    expect(wrongCase.status).toBe(404);
    const del = await graph.delete(path);
    expect(del.status).toBe(204);
    for (const r of [await graph.get(path), await graph.delete(path), await graph.patch(path, { subject: 'x' })]) {
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({ code: 'ErrorItemNotFound', message: 'The specified object was not found in the store.' });
      expect(r.json.error.innerError).toHaveProperty('request-id');
      expect(r.json.error.innerError).toHaveProperty('date');
    }
    expect(sandbox.listEvents(MAILBOX).some((e) => e.id === created.id)).toBe(false);
  });

  it('Prefer: outlook.timezone converts start/end; outlook.body-content-type="text" returns text', async () => {
    const created = (await graph.post(`${users(MAILBOX)}/events`, lesson(33))).json;
    const r = await graph.get(`${users(MAILBOX)}/events/${encodeURIComponent(created.id)}`, { prefer: 'outlook.timezone="Pacific Standard Time", outlook.body-content-type="text"' });
    expect(r.json.start).toEqual({ dateTime: '2026-10-06T05:00:00.0000000', timeZone: 'Pacific Standard Time' }); // 14:00 CEST = 05:00 PDT
    expect(r.json.body).toEqual({ contentType: 'text', content: 'Lesson 33 body' });
    expect(r.headers['preference-applied']).toContain('outlook.timezone="Pacific Standard Time"');
  });
});

describe('mailboxes and permissions', () => {
  it('403 out of scope, 404 unknown user / no mailbox / unlicensed', async () => {
    const out = await graph.post(`${users('outofscope@contoso.edu')}/events`, lesson(40));
    expect(out.status).toBe(403);
    expect(out.json.error).toMatchObject({ code: 'ErrorAccessDenied', message: 'Access to OData is disabled.' });
    const unknown = await graph.get(`${users('nobody@contoso.edu')}/events`);
    expect(unknown.status).toBe(404);
    expect(unknown.json.error).toMatchObject({ code: 'ErrorInvalidUser', message: "The requested user 'nobody@contoso.edu' is invalid." });
    expect((await graph.get(`${users('nomailbox@contoso.edu')}/events`)).json.error.code).toBe('ErrorInvalidUser');
    const unlicensed = await graph.get(`${users('unlicensed@contoso.edu')}/events`);
    expect(unlicensed.status).toBe(404);
    expect(unlicensed.json.error).toMatchObject({ code: 'MailboxNotEnabledForRESTAPI', message: 'REST API is not yet supported for this mailbox.' });
  });

  it('an app with Calendars.Read only may read but not write', async () => {
    const readOnly = await startSandbox({
      tenant: { tenantId: '0f0f0f0f-0000-4000-8000-000000000001', domain: 'ro.example', mailboxes: [{ address: 'a@ro.example', displayName: 'A', kind: 'user' }], apps: [{ clientId: 'ro-app', displayName: 'ro', secrets: ['s3cret'], roles: ['Calendars.Read'] }] },
    });
    try {
      const client = new GraphClient(readOnly, await (await import('./helpers.ts')).demoToken(readOnly, 'ro-app', 's3cret'));
      expect((await client.get(`${users('a@ro.example')}/events`)).status).toBe(200);
      const write = await client.post(`${users('a@ro.example')}/events`, lesson(1));
      expect(write.status).toBe(403);
      expect(write.json.error).toMatchObject({ code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' });
    } finally {
      await readOnly.close();
    }
  });

  it('/me is refused for app-only tokens, unknown segments are 400, wrong methods 405', async () => {
    expect((await graph.get('/me/events')).json.error.message).toBe('/me request is only valid with delegated authentication flow.');
    expect((await graph.get('/drives')).json.error.message).toBe("Resource not found for the segment 'drives'.");
    expect((await graph.request('PUT', `${users(MAILBOX)}/events`, {})).status).toBe(405);
  });
});

describe('seeded foreign events and the in-process API', () => {
  it('listEvents returns deep copies in creation order, addEvent seeds a foreign event', async () => {
    const room = sandbox.listMailboxes().find((m) => m.kind === 'room')!.address;
    const seeded = sandbox.listEvents(room);
    expect(seeded.map((e) => e.subject)).toEqual(['Study group (booked in Outlook)', 'Exam (room planning system)']);
    seeded[0]!.subject = 'mutated';
    expect(sandbox.listEvents(room)[0]!.subject).toBe('Study group (booked in Outlook)');
    const added = sandbox.addEvent(room, { subject: 'Added', start: { dateTime: '2026-09-15T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-15T11:00:00', timeZone: 'UTC' } });
    expect(sandbox.listEvents(room).at(-1)!.id).toBe(added.id);
    expect(() => sandbox.addEvent('nobody@contoso.edu', {})).toThrow(/no mailbox/);
  });
});

describe('as strict as Graph', () => {
  it('PATCH and DELETE with a stale If-Match answer 412 and change nothing; the current etag (or *) is applied', async () => {
    const created = (await graph.post(`${users(MAILBOX)}/events`, lesson(40))).json;
    const url = `${users(MAILBOX)}/events/${encodeURIComponent(created.id)}`;
    const current = created['@odata.etag'] as string;
    // Someone edits the event: its etag moves on.
    const edited = (await graph.patch(url, { subject: 'Edited in Outlook' })).json;
    expect(edited['@odata.etag']).not.toBe(current);
    const stale = await graph.patch(url, { subject: 'From the source' }, { 'if-match': current });
    expect(stale.status).toBe(412);
    expect(stale.json.error.code).toBe('ErrorIrresolvableConflict');
    expect(stale.headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect((await graph.delete(url, { 'if-match': current })).status).toBe(412);
    expect(sandbox.listEvents(MAILBOX).find((e) => e.id === created.id)!.subject).toBe('Edited in Outlook');
    const applied = await graph.patch(url, { subject: 'From the source' }, { 'if-match': edited['@odata.etag'] });
    expect(applied.status).toBe(200);
    expect((await graph.patch(url, { subject: 'Any version' }, { 'if-match': '*' })).status).toBe(200);
    expect((await graph.delete(url, { 'if-match': (await graph.get(url)).json['@odata.etag'] })).status).toBe(204);
  });

  it('returns only what the v1.0 CSDL defines for an event: no uid, no occurrenceId', async () => {
    const created = (await graph.post(`${users(MAILBOX)}/events`, lesson(41))).json;
    expect(created).not.toHaveProperty('uid');
    expect(created).not.toHaveProperty('occurrenceId');
    expect((await graph.get(`${users(MAILBOX)}/events?$select=uid`)).status).toBe(400);
  });

  it('echoes the client-request-id and sends a request-id', async () => {
    const r = await graph.get(`${users(MAILBOX)}/events?$top=1`, { 'client-request-id': '0b6a4f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b', 'return-client-request-id': 'true' });
    expect(r.headers['client-request-id']).toBe('0b6a4f7e-1c2d-4e5f-8a9b-0c1d2e3f4a5b');
    expect(r.headers['request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('faults.revokeMailbox: events answer 404 ErrorItemNotFound, the collection 403, until access returns', async () => {
    const created = (await graph.post(`${users(MAILBOX)}/events`, lesson(42))).json;
    const url = `${users(MAILBOX)}/events/${encodeURIComponent(created.id)}`;
    sandbox.faults.revokeMailbox(MAILBOX);
    try {
      expect((await graph.delete(url)).json.error.code).toBe('ErrorItemNotFound');
      expect((await graph.patch(url, { subject: 'x' })).status).toBe(404);
      const list = await graph.get(`${users(MAILBOX)}/events?$top=1`);
      expect(list.status).toBe(403);
      expect(list.json.error.code).toBe('ErrorAccessDenied');
    } finally {
      sandbox.faults.revokeMailbox(MAILBOX, false);
    }
    expect((await graph.get(url)).status).toBe(200);
  });
});
