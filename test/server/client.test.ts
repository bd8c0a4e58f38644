// The typed client (calpush/client) against a listening server: every method, and errors as problems.
import { CalpushApiError, CalpushClient } from 'calpush/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiFixture, CAL, eventBody, type ApiFixture } from './helpers.ts';

let f: ApiFixture;
let baseUrl: string;
beforeAll(async () => {
  f = await apiFixture();
  await f.app.listen({ host: '127.0.0.1', port: 0 });
  const address = f.app.server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
});
afterAll(async () => {
  await f.close();
});

describe('CalpushClient', () => {
  it('covers every route', async () => {
    const client = new CalpushClient({ baseUrl: `${baseUrl}/`, apiKey: f.keys.write });
    const id = 'UID/with spaces@20261201T080000Z?#%';
    expect(await client.putEvent(CAL, id, { subject: 'S', start: '2026-12-01T09:00', end: '2026-12-01T10:00', timeZone: 'Europe/Amsterdam' })).toMatchObject({ result: 'added', id });
    expect(await client.getEvent(CAL, id)).toMatchObject({ status: 'pending', id, event: { subject: 'S' } });
    expect(await client.replaceEvents(CAL, [{ id, subject: 'S', start: '2026-12-01T09:00', end: '2026-12-01T10:00', timeZone: 'Europe/Amsterdam' }, { id: 'two', ...eventBody(2) } as never])).toMatchObject({ added: 1, unchanged: 1 });
    expect(await client.batch([{ op: 'delete', calendar: CAL, id: 'two' }, { calendar: CAL, id: '.', ...eventBody(3) } as never])).toMatchObject({ applied: 2 });
    expect(await client.getCalendar(CAL)).toMatchObject({ calendar: CAL, desired: 2 });
    expect(await client.listCalendars()).toEqual({ calendars: [expect.objectContaining({ calendar: CAL })] });
    expect(await client.deleteEvent(CAL, id)).toMatchObject({ result: 'removed' });
    expect(await client.health()).toMatchObject({ status: 'ok' });
    expect(await client.openApi()).toMatchObject({ openapi: '3.1.0' });
    expect(await client.replaceEvents(CAL, [], { allowEmpty: true, dryRun: true })).toMatchObject({ dryRun: true, removed: 1, plan: { calendar: CAL } });
    expect(await client.replaceEvents(CAL, [], { allowEmpty: true })).toMatchObject({ removed: 1 });
  });

  it('throws CalpushApiError carrying the problem document', async () => {
    const client = new CalpushClient({ baseUrl, apiKey: f.keys.write });
    const error = await client.putEvent(CAL, 'bad', { start: 'tomorrow', end: '2026-12-01T10:00', timeZone: 'UTC' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CalpushApiError);
    expect(error).toMatchObject({ status: 400, problem: { errors: [{ field: 'start', pointer: '/start' }] } });
    expect((error as Error).message).toMatch(/^400 The request is invalid: .*start/);
    await expect(new CalpushClient({ baseUrl }).listCalendars()).rejects.toMatchObject({ status: 401 });
    await expect(new CalpushClient({ baseUrl, apiKey: f.keys.read }).deleteEvent(CAL, 'x')).rejects.toMatchObject({ status: 403 });
    await expect(client.getEvent(CAL, '..')).rejects.toThrow(/batch/);
    expect(await client.waitForDelivery(CAL, 'never-existed', { timeoutMs: 100 })).toBeNull();
  });
});
