// Property tests of the push API's payloads: whatever arrives, the answer is 202 or a 4xx with a reason, never
// a crash; a valid event is never lost; what the API accepts is exactly what the file input accepts.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/model/event.ts';
import { apiFixture, eventUrl, type ApiFixture } from './helpers.ts';

let f: ApiFixture;
beforeAll(async () => {
  f = await apiFixture();
});
afterAll(async () => {
  await f.close();
});

const CAL = 'prop@contoso.edu';
let sequence = 0;
const nextId = (base: string) => `${base}#${++sequence}`;

const ZONES = ['Europe/Amsterdam', 'America/New_York', 'UTC', 'Asia/Kolkata', 'Australia/Lord_Howe', 'America/Sao_Paulo'];
const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const local = (ms: number, dateOnly = false) => {
  const d = new Date(ms);
  const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
  return dateOnly ? date : `${date}T${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
};

/** Events every source may send: timed in a zone, or all-day; optional fields in their valid ranges. */
const validEvent = fc
  .record({
    startMs: fc.integer({ min: Date.UTC(2020, 0, 1), max: Date.UTC(2030, 11, 31) }).map((ms) => ms - (ms % 60_000)),
    minutes: fc.integer({ min: 0, max: 10 * 24 * 60 }),
    allDay: fc.boolean(),
    timeZone: fc.constantFrom(...ZONES),
    subject: fc.string({ unit: 'grapheme', maxLength: 60 }),
    location: fc.option(fc.string({ unit: 'grapheme', maxLength: 60 }), { nil: undefined }),
    body: fc.option(fc.oneof(fc.string({ maxLength: 200 }), fc.record({ contentType: fc.constantFrom('text' as const, 'html' as const), content: fc.string({ maxLength: 200 }) })), { nil: undefined }),
    categories: fc.option(fc.array(fc.string({ unit: 'grapheme', minLength: 1, maxLength: 20 }), { maxLength: 5 }), { nil: undefined }),
    showAs: fc.option(fc.constantFrom('free', 'tentative', 'busy', 'oof', 'workingElsewhere', 'unknown'), { nil: undefined }),
    sensitivity: fc.option(fc.constantFrom('normal', 'personal', 'private', 'confidential'), { nil: undefined }),
    reminderMinutes: fc.option(fc.integer({ min: 0, max: 40_320 }), { nil: undefined }),
  })
  .map(({ startMs, minutes, allDay, timeZone, ...rest }) => {
    const fields = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
    return allDay
      ? { ...fields, allDay: true, start: local(startMs, true), end: local(startMs + Math.max(1, Math.ceil(minutes / 1440)) * 86_400_000, true) }
      : { ...fields, start: local(startMs), end: local(startMs + minutes * 60_000), timeZone };
  });

/** Ids as sources have them: any text, with characters that URLs must escape. Not "." or "..", which no URL can carry. */
const eventId = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 40 }).filter((id) => id !== '.' && id !== '..' && id.length <= 512);

const FIELDS = ['subject', 'start', 'end', 'timeZone', 'allDay', 'location', 'body', 'categories', 'showAs', 'sensitivity', 'reminderMinutes', 'calendar', 'id'];
/** Anything: JSON of any shape, and objects with the event's field names holding values of any type. */
const anyBody = fc.oneof(
  fc.jsonValue(),
  fc.dictionary(fc.constantFrom(...FIELDS, 'colour', '__proto__', 'constructor'), fc.jsonValue(), { maxKeys: 8 }),
  validEvent.chain((event) => fc.record({ field: fc.constantFrom(...FIELDS), value: fc.jsonValue() }).map(({ field, value }) => ({ ...event, [field]: value }))),
);

function expectProblem(response: { statusCode: number; headers: Record<string, unknown>; body: string }): void {
  expect(response.statusCode).toBeGreaterThanOrEqual(400);
  expect(response.statusCode).toBeLessThan(500);
  expect(String(response.headers['content-type'])).toMatch(/^application\/problem\+json/);
  const problem = JSON.parse(response.body);
  expect(problem.status).toBe(response.statusCode);
  expect(typeof problem.title).toBe('string');
  if (response.statusCode === 400) {
    expect(problem.errors.length).toBeGreaterThan(0);
    for (const error of problem.errors) {
      expect(typeof error.field).toBe('string');
      expect(error.message.length).toBeGreaterThan(0);
    }
  }
}

describe('API payload properties', () => {
  it('PUT of one event: any body gets 202 or a 4xx naming the bad fields; a 202 stores exactly what the file input would', async () => {
    await fc.assert(
      fc.asyncProperty(anyBody, async (body) => {
        const id = nextId('any');
        const response = await f.call({ method: 'PUT', url: eventUrl(CAL, id), payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
        const asFile = validateEvent({ ...(body && typeof body === 'object' && !Array.isArray(body) ? body : {}), calendar: CAL, id });
        const bodyIsObject = !!body && typeof body === 'object' && !Array.isArray(body);
        const mismatch = bodyIsObject && (('calendar' in body && body.calendar !== CAL) || ('id' in body && body.id !== id));
        if (response.statusCode === 202) {
          expect(asFile.ok).toBe(true);
          const stored = (await f.store.eventState(CAL, asFile.ok ? asFile.desired.key : '')).desired;
          expect(stored?.contentHash).toBe(asFile.ok ? asFile.desired.contentHash : null);
        } else {
          expectProblem(response);
          expect(response.statusCode).toBe(400);
          expect(!bodyIsObject || !asFile.ok || mismatch).toBe(true);
          const state = await f.store.eventState(CAL, asFile.ok ? asFile.desired.key : 'none');
          expect(state.desired).toBeNull();
        }
      }),
      { numRuns: 300 },
    );
  });

  it('PUT of valid events: always 202, never lost, read back as sent', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(eventId, validEvent), { minLength: 1, maxLength: 8 }), async (events) => {
        const calendar = `p${++sequence}@contoso.edu`;
        const last = new Map<string, Record<string, unknown>>();
        for (const [id, event] of events) {
          const response = await f.call({ method: 'PUT', url: eventUrl(calendar, id), payload: event });
          expect(response.statusCode, response.body).toBe(202);
          last.set(id, event);
        }
        const stored = await f.store.desiredFor(calendar);
        expect(stored.map((r) => r.sourceId).sort()).toEqual([...last.keys()].sort());
        for (const [id, event] of last) {
          const got = JSON.parse((await f.call({ method: 'GET', url: eventUrl(calendar, id), key: 'read' })).body);
          expect(got.id).toBe(id);
          const expected = validateEvent({ ...event, calendar, id });
          if (!expected.ok) throw new Error('generator made an invalid event');
          const back = validateEvent({ ...got.event, ...(got.event.allDay ? { timeZone: undefined } : {}) });
          expect(back.ok && back.desired.contentHash).toBe(expected.desired.contentHash);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('batch: a mix of valid and broken items never crashes; every valid item is applied, every broken one answered with a reason', async () => {
    const item = fc.oneof(
      { weight: 3, arbitrary: fc.tuple(eventId, validEvent).map(([id, event]) => ({ valid: true as const, value: { ...event, id } as Record<string, unknown> })) },
      { weight: 2, arbitrary: anyBody.map((value) => ({ valid: false as const, value })) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(item, { minLength: 1, maxLength: 15 }), fc.boolean(), async (items, ndjson) => {
        const calendar = `b${++sequence}@contoso.edu`;
        // Valid items get unique ids so that the expectation does not depend on order.
        const payload = items.map((it, n) => (it.valid ? { ...it.value, calendar, id: `${String(it.value.id)}-${n}` } : it.value));
        const response = await f.call({
          method: 'POST',
          url: '/v1/events/batch',
          payload: ndjson ? payload.map((p) => JSON.stringify(p)).join('\n') : JSON.stringify(payload),
          headers: { 'content-type': ndjson ? 'application/x-ndjson' : 'application/json' },
        });
        expect(response.statusCode).not.toBeGreaterThanOrEqual(500);
        const validIds = payload.filter((_, n) => items[n]!.valid).map((p) => (p as { id: string }).id);
        if (response.statusCode !== 202) {
          expectProblem(response);
          // A JSON document with a "__proto__" key is refused whole by the JSON parser (nothing is applied).
          const poisoned = !ndjson && /"(__proto__|constructor)"/.test(JSON.stringify(payload));
          if (validIds.length && !poisoned) throw new Error(`valid items refused: ${response.body}`);
          return;
        }
        const result = JSON.parse(response.body);
        for (const [n, answer] of (result.items as Array<{ item: number; status: number; errors?: unknown[] }>).entries()) {
          if (answer.status !== 202) expect(answer.errors?.length).toBeGreaterThan(0);
          expect(answer.item).toBe(ndjson ? answer.item : n + 1);
        }
        const stored = new Set((await f.store.desiredFor(calendar)).map((r) => r.sourceId));
        for (const id of validIds) expect(stored.has(id), id).toBe(true);
      }),
      { numRuns: 120 },
    );
  });

  it('full replacement: the calendar ends up with exactly the valid items plus the held ids of broken ones', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(fc.boolean(), validEvent), { minLength: 1, maxLength: 10 }), async (items) => {
        const calendar = `r${++sequence}@contoso.edu`;
        const url = `/v1/calendars/${encodeURIComponent(calendar)}/events`;
        const before = items.map(([, event], n) => ({ ...event, id: `e${n}` }));
        expect((await f.call({ method: 'PUT', url, payload: before })).statusCode).toBe(202);
        // Now break some of them: those keep their old state; the rest are replaced.
        const after = items.map(([broken, event], n) => (broken ? { ...event, id: `e${n}`, start: 'not a time' } : { ...event, id: `e${n}`, subject: 'new' }));
        const response = await f.call({ method: 'PUT', url, payload: after });
        const brokenCount = items.filter(([broken]) => broken).length;
        if (brokenCount === items.length) {
          expect(response.statusCode).toBe(400);
        } else {
          expect(response.statusCode).toBe(202);
          expect(JSON.parse(response.body)).toMatchObject({ accepted: items.length - brokenCount, rejected: brokenCount });
        }
        const stored = new Map((await f.store.desiredFor(calendar)).map((r) => [r.sourceId, r.event.subject]));
        expect(stored.size).toBe(items.length);
        items.forEach(([broken, event], n) => expect(stored.get(`e${n}`)).toBe(broken || brokenCount === items.length ? ((event as { subject?: string }).subject ?? '') : 'new'));
      }),
      { numRuns: 60 },
    );
  });

  it('raw bytes of any kind as a body are answered 4xx, never 5xx', async () => {
    await fc.assert(
      fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('application/json', 'application/x-ndjson', 'text/plain', 'application/octet-stream'), async (bytes, type) => {
        for (const [method, url] of [
          ['PUT', eventUrl(CAL, 'raw')],
          ['POST', '/v1/events/batch'],
          ['PUT', `/v1/calendars/${encodeURIComponent(CAL)}/events`],
        ] as const) {
          const response = await f.call({ method, url, payload: Buffer.from(bytes), headers: { 'content-type': type } });
          expect(response.statusCode, `${method} ${url} ${type}`).toBeLessThan(500);
          if (response.statusCode >= 400) expectProblem(response);
        }
      }),
      { numRuns: 150 },
    );
  });
});
