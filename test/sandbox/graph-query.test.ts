// Graph event queries: list, $filter on extended properties, $expand, $select, $orderby, paging, calendarView.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { GraphClient, lesson, TAG_ID, users } from './helpers.ts';

let sandbox: SandboxInternals;
let graph: GraphClient;
const MAILBOX = 's0020@contoso.edu';
const EVENTS = 25;

beforeAll(async () => {
  sandbox = await startSandbox();
  graph = await GraphClient.demo(sandbox);
  for (let n = 0; n < EVENTS; n++) {
    const r = await graph.post(`${users(MAILBOX)}/events`, lesson(n, n === 24 ? { singleValueExtendedProperties: undefined, subject: 'Untagged' } : {}));
    expect(r.status).toBe(201);
  }
});
afterAll(async () => {
  await sandbox.close();
});

const q = (params: Record<string, string>) => `${users(MAILBOX)}/events?${new URLSearchParams(params).toString()}`;

describe('list and paging', () => {
  it('pages 10 by default with an absolute @odata.nextLink carrying a $skiptoken', async () => {
    const seen: string[] = [];
    let url: string | undefined = `${users(MAILBOX)}/events`;
    let pages = 0;
    while (url) {
      const r = await graph.get(url);
      expect(r.status).toBe(200);
      expect(r.json['@odata.context']).toContain('/events');
      seen.push(...r.json.value.map((e: { id: string }) => e.id));
      url = r.json['@odata.nextLink'];
      if (url) {
        expect(url.startsWith(`${sandbox.graphBaseUrl}/users/`)).toBe(true);
        expect(url).toContain('$skiptoken=');
      }
      pages++;
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(EVENTS);
    expect(new Set(seen).size).toBe(EVENTS);
  });

  it('$top sets the page size (capped at 1000), $skip skips, Prefer odata.maxpagesize applies', async () => {
    const top = await graph.get(q({ $top: '7' }));
    expect(top.json.value).toHaveLength(7);
    const next = await graph.get(top.json['@odata.nextLink']);
    expect(next.json.value).toHaveLength(7);
    expect(next.json['@odata.nextLink']).toContain('%24top=7');
    const all = await graph.get(q({ $top: '5000' }));
    expect(all.json.value).toHaveLength(EVENTS);
    expect(all.json['@odata.nextLink']).toBeUndefined();
    const skip = await graph.get(q({ $top: '100', $skip: '20' }));
    expect(skip.json.value).toHaveLength(EVENTS - 20);
    const pref = await graph.get(`${users(MAILBOX)}/events`, { prefer: 'odata.maxpagesize=4' });
    expect(pref.json.value).toHaveLength(4);
    expect(pref.headers['preference-applied']).toBe('odata.maxpagesize=4');
    const bad = await graph.get(q({ $top: 'ten' }));
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toBe("Invalid value 'ten' for $top query option found. The $top query option requires a non-negative integer value.");
  });

  it('$select returns the chosen properties plus id; unknown properties are 400', async () => {
    const r = await graph.get(q({ $select: 'subject,start', $top: '1' }));
    expect(Object.keys(r.json.value[0]).sort()).toEqual(['@odata.etag', 'id', 'start', 'subject']);
    const withTx = await graph.get(q({ $select: 'id,changeKey,transactionId', $top: '1' }));
    expect(withTx.status).toBe(200);
    const bad = await graph.get(q({ $select: 'subject,colour' }));
    expect(bad.status).toBe(400);
    expect(bad.json.error.message).toBe("Could not find a property named 'colour' on type 'microsoft.graph.event'.");
  });

  it('$orderby start/dateTime asc and desc', async () => {
    const asc = await graph.get(q({ $orderby: 'start/dateTime', $top: '100', $select: 'start' }));
    const times = asc.json.value.map((e: { start: { dateTime: string } }) => e.start.dateTime);
    expect(times).toEqual([...times].sort());
    const desc = await graph.get(q({ $orderby: 'start/dateTime desc', $top: '100', $select: 'start' }));
    expect(desc.json.value.map((e: { start: { dateTime: string } }) => e.start.dateTime)).toEqual([...times].sort().reverse());
  });

  it('unsupported query options and unparsable filters are 400', async () => {
    expect((await graph.get(q({ $search: '"x"' }))).json.error.message).toBe("The query parameter '$search' is not supported.");
    const bad = await graph.get(q({ $filter: "subject eq 'x' and" }));
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ code: 'BadRequest', message: 'Invalid filter clause' });
    const unknown = await graph.get(q({ $filter: "colour eq 'red'" }));
    expect(unknown.json.error.message).toBe("Could not find a property named 'colour' on type 'microsoft.graph.event'.");
  });
});

describe('$filter and $expand on singleValueExtendedProperties', () => {
  it('finds the event by tag id and value (value case-insensitive, id name part case-sensitive)', async () => {
    const filter = `singleValueExtendedProperties/Any(ep: ep/id eq '${TAG_ID}' and ep/value eq 'CALPUSH;TEST;LESSON-7')`;
    const r = await graph.get(q({ $filter: filter }));
    expect(r.status).toBe(200);
    expect(r.json.value.map((e: { subject: string }) => e.subject)).toEqual(['Lesson 7']);
    const upperGuid = TAG_ID.replace('7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c', '7D5C3F2A-1B4E-4C8D-9A6F-0E2B4D6F8A1C');
    expect((await graph.get(q({ $filter: filter.replace(TAG_ID, upperGuid) }))).json.value).toHaveLength(1);
    const wrongName = TAG_ID.replace('CalpushKey', 'calpushkey');
    expect((await graph.get(q({ $filter: filter.replace(TAG_ID, wrongName) }))).json.value).toHaveLength(0);
  });

  it('supports the documented forms (id eq … and startswith/contains/eq/ne on the value) and refuses the id alone', async () => {
    const prefixed = await graph.get(q({ $filter: `singleValueExtendedProperties/Any(ep: ep/id eq '${TAG_ID}' and startswith(ep/value, 'CALPUSH;Test;Lesson-1'))`, $top: '100' }));
    // lesson-1, lesson-10 … lesson-19
    expect(prefixed.json.value).toHaveLength(11);
    const tagged = await graph.get(q({ $filter: `singleValueExtendedProperties/any(ep: ep/id eq '${TAG_ID}' and contains(ep/value, ';'))`, $top: '100' }));
    expect(tagged.json.value).toHaveLength(EVENTS - 1);
    const none = await graph.get(q({ $filter: `not singleValueExtendedProperties/Any(ep: ep/id eq '${TAG_ID}' and contains(ep/value, ';'))` }));
    expect(none.json.value.map((e: { subject: string }) => e.subject)).toEqual(['Untagged']);
    // Not documented on singlevaluelegacyextendedproperty-get: the id alone, endswith, a value-only filter.
    for (const filter of [
      `singleValueExtendedProperties/any(ep: ep/id eq '${TAG_ID}')`,
      `singleValueExtendedProperties/Any(ep: ep/id eq '${TAG_ID}' and endswith(ep/value, '-1'))`,
      `singleValueExtendedProperties/Any(ep: startswith(ep/value, 'calpush'))`,
      `singleValueExtendedProperties/Any(ep: ep/id ne '${TAG_ID}' and ep/value eq 'x')`,
    ]) {
      const refused = await graph.get(q({ $filter: filter }));
      expect(refused.status, filter).toBe(400);
      expect(refused.json.error.message).toMatch(/must be Any\(ep: ep\/id eq/);
    }
  });

  it('$expand=singleValueExtendedProperties($filter=id eq …) returns only the matching property', async () => {
    const r = await graph.get(
      q({ $filter: `singleValueExtendedProperties/Any(ep: ep/id eq '${TAG_ID}' and ep/value eq 'calpush;test;lesson-3')`, $expand: `singleValueExtendedProperties($filter=id eq '${TAG_ID}')`, $select: 'id,subject' }),
    );
    expect(r.json.value).toHaveLength(1);
    expect(r.json.value[0].singleValueExtendedProperties).toEqual([{ id: TAG_ID, value: 'calpush;test;lesson-3' }]);
    const id = r.json.value[0].id as string;
    const item = await graph.get(`${users(MAILBOX)}/events/${encodeURIComponent(id)}?$expand=${encodeURIComponent(`singleValueExtendedProperties($filter=id eq '${TAG_ID}')`)}`);
    expect(item.json.singleValueExtendedProperties).toEqual([{ id: TAG_ID, value: 'calpush;test;lesson-3' }]);
    const other = await graph.get(`${users(MAILBOX)}/events/${encodeURIComponent(id)}?$expand=${encodeURIComponent("singleValueExtendedProperties($filter=id eq 'String {00000000-0000-0000-0000-000000000000} Name Nope')")}`);
    expect(other.json.singleValueExtendedProperties).toBeUndefined();
  });

  it('filters on plain properties and combines with and/or', async () => {
    const r = await graph.get(q({ $filter: "subject eq 'lesson 3' or subject eq 'Lesson 4'", $orderby: 'subject' }));
    expect(r.json.value.map((e: { subject: string }) => e.subject)).toEqual(['Lesson 3', 'Lesson 4']);
    const t = await graph.get(q({ $filter: "start/dateTime ge '2026-10-20T00:00:00' and isAllDay eq false", $top: '100' }));
    expect(t.json.value.length).toBeGreaterThan(0);
    for (const e of t.json.value) expect(e.start.dateTime >= '2026-10-20').toBe(true);
    const cats = await graph.get(q({ $filter: "categories/any(c: c eq 'timetable')", $top: '100' }));
    expect(cats.json.value).toHaveLength(EVENTS);
  });
});

describe('calendarView', () => {
  it('requires startDateTime and endDateTime', async () => {
    const r = await graph.get(`${users(MAILBOX)}/calendarView`);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'ErrorInvalidParameter', message: 'This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.' });
  });

  it('returns events overlapping the window, sorted by start, and pages with the window in the nextLink', async () => {
    // Lessons 0..24 are on October 1..25 (one each); the window holds Oct 3..Oct 8 (UTC, no offset = UTC).
    const r = await graph.get(`${users(MAILBOX)}/calendarView?startDateTime=2026-10-03T00:00:00&endDateTime=2026-10-09T00:00:00&$top=4&$select=subject,start`);
    expect(r.status).toBe(200);
    expect(r.json['@odata.context']).toContain('/calendarView');
    expect(r.json.value.map((e: { subject: string }) => e.subject)).toEqual(['Lesson 2', 'Lesson 3', 'Lesson 4', 'Lesson 5']);
    const next = await graph.get(r.json['@odata.nextLink']);
    expect(next.json.value.map((e: { subject: string }) => e.subject)).toEqual(['Lesson 6', 'Lesson 7']);
    expect(r.json['@odata.nextLink']).toContain('startDateTime=');
    // With an offset in the window bounds.
    const offset = await graph.get(`${users(MAILBOX)}/calendarView?startDateTime=${encodeURIComponent('2026-10-03T10:00:00+02:00')}&endDateTime=${encodeURIComponent('2026-10-03T12:00:00+02:00')}`);
    expect(offset.json.value.map((e: { subject: string }) => e.subject)).toEqual(['Lesson 2']); // 10:00–10:45 CEST
  });

  it('rejects a window over 1825 days', async () => {
    const r = await graph.get(`${users(MAILBOX)}/calendar/calendarView?startDateTime=2020-01-01T00:00:00Z&endDateTime=2026-01-01T00:00:00Z`);
    expect(r.status).toBe(400);
    expect(r.json.error.message).toBe('The range between the start and end dates is greater than the allowed range. Maximum number of days: 1825');
  });

  it('filters on the tag in the calendar view too', async () => {
    const r = await graph.get(
      `${users(MAILBOX)}/calendarView?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z&$top=100&$filter=${encodeURIComponent(`singleValueExtendedProperties/Any(ep: ep/id eq '${TAG_ID}' and contains(ep/value, ';'))`)}`,
    );
    expect(r.json.value).toHaveLength(EVENTS - 1);
  });
});
