// What the watching side of issue #15 needs from the sandbox: room lists (Graph places, EWS GetRoomLists/GetRooms),
// change tracking (Graph calendarView/delta, EWS SyncFolderItems), change-notification subscriptions with the
// validation handshake, and a control API to act as the person (Outlook). Driven with plain HTTP/SOAP; every Graph
// answer is checked against the v1.0 CSDL at the end, every EWS answer against messages.xsd.
import { createServer, type Server } from 'node:https';
import type { Agent } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { validateGraphBody } from '../../src/sandbox/graph/schema/validate.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { generateCertificate, SERVER_ALT_NAMES } from '../../src/sandbox/tls.ts';
import { agentFor, all, first, messages, post, receivedResponses, soap, T, text, xmllintFailures, type Auth } from './ews/helpers.ts';
import { demoToken, GraphClient, lesson, users } from './helpers.ts';

let now = Date.parse('2026-09-01T08:00:00Z');
const clock = { now: () => now };
const MAILBOX = 's0031@contoso.edu';
const OTHER = 's0032@contoso.edu';
const answers: Array<{ service: 'graph' | 'ews'; status: number; body: string }> = [];
// Its own subject name: a second certificate named like the sandbox's would be looked up as the sandbox's issuer.
const webhookCert = generateCertificate({ commonName: 'calpush webhook receiver', altNames: SERVER_ALT_NAMES, usage: 'server' });
let sandbox: SandboxInternals;
let agent: GraphClient;
let demo: GraphClient;
let ewsAgent: Agent;
const delegate: Auth = { kind: 'basic', user: EWS_DELEGATE_ACCOUNTS[2]!, password: EWS_PASSWORD };

// A many-room tenant, so that room lists are bucketed at 75.
const seed = defaultTenantSeed({ rooms: 160 });

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed, clock, onResponse: (answer) => answers.push(answer), webhooks: { ca: [webhookCert.certPem] } });
  agent = new GraphClient(sandbox, await demoToken(sandbox, AGENT_CLIENT_ID, AGENT_CLIENT_SECRET));
  demo = await GraphClient.demo(sandbox);
  ewsAgent = agentFor(sandbox.caPem);
});
afterAll(async () => {
  ewsAgent?.destroy();
  await sandbox?.close();
});

const ews = (mailbox: string, body: string) => post(sandbox.ewsUrl, ewsAgent, soap(body), delegate, { 'x-anchormailbox': mailbox });

describe('room lists', () => {
  it('Graph lists room lists and their rooms with Place.Read.All; lists hold at most 75 rooms', async () => {
    const lists = await agent.get('/places/microsoft.graph.roomlist');
    expect(lists.status).toBe(200);
    const addresses = lists.json.value.map((l: any) => l.emailAddress);
    expect(addresses).toContain('rooms-1@contoso.edu');
    expect(addresses).not.toContain('rooms@contoso.edu');
    let total = 0;
    for (const address of addresses.filter((a: string) => /^rooms-\d+@/.test(a))) {
      const rooms = await agent.get(`/places/${encodeURIComponent(address)}/microsoft.graph.roomlist/rooms`);
      expect(rooms.status).toBe(200);
      expect(rooms.json.value.length).toBeLessThanOrEqual(75);
      total += rooms.json.value.length;
    }
    expect(total).toBe(160);
    const room = (await agent.get('/places/rooms-1@contoso.edu/microsoft.graph.roomlist/rooms?$top=1')).json.value[0];
    expect(room).toMatchObject({ emailAddress: expect.stringMatching(/^room-/), capacity: expect.any(Number), building: expect.any(String), floorNumber: expect.any(Number) });
  });

  it('pages by 100 with $top/$skiptoken, $count and $select work, $filter and writes are refused, and the token needs Place.Read.All', async () => {
    const first100 = await agent.get('/places/microsoft.graph.room?$count=true');
    expect(first100.json.value).toHaveLength(100);
    expect(first100.json['@odata.count']).toBe(160);
    const rest = await agent.get(first100.json['@odata.nextLink']);
    expect(rest.json.value).toHaveLength(60);
    expect(rest.json['@odata.nextLink']).toBeUndefined();
    const selected = await agent.get('/places/microsoft.graph.room?$top=2&$select=displayName,capacity');
    expect(Object.keys(selected.json.value[0]).sort()).toEqual(['capacity', 'displayName', 'id']);
    expect((await agent.get("/places/microsoft.graph.room?$filter=capacity gt 10")).status).toBe(400);
    expect((await agent.post('/places/microsoft.graph.room', {})).status).toBe(405);
    expect((await agent.get('/places/nolist@contoso.edu/microsoft.graph.roomlist/rooms')).status).toBe(404);
    const denied = await demo.get('/places/microsoft.graph.roomlist');
    expect(denied.status).toBe(403);
    expect(denied.json.error.code).toBe('ErrorAccessDenied');
  });

  it('EWS GetRoomLists and GetRooms show the same lists and rooms', async () => {
    const lists = await ews(MAILBOX, '<m:GetRoomLists/>');
    const names = all(lists.root, T, 'EmailAddress').map((e) => e.textContent);
    expect(names).toContain('rooms-1@contoso.edu');
    const graphRooms = (await agent.get('/places/rooms-1@contoso.edu/microsoft.graph.roomlist/rooms')).json.value.map((r: any) => r.emailAddress).sort();
    const rooms = await ews(MAILBOX, '<m:GetRooms><m:RoomList><t:EmailAddress>rooms-1@contoso.edu</t:EmailAddress></m:RoomList></m:GetRooms>');
    expect(all(rooms.root, T, 'EmailAddress').map((e) => e.textContent).sort()).toEqual(graphRooms);
  });
});

async function drain(url: string): Promise<{ items: any[]; deltaLink: string; pages: number }> {
  const items: any[] = [];
  let next: string | undefined = url;
  let pages = 0;
  for (;;) {
    const page = await agent.get(next!, { prefer: 'odata.maxpagesize=3' });
    expect(page.status).toBe(200);
    pages++;
    items.push(...page.json.value);
    if (page.json['@odata.deltaLink']) return { items, deltaLink: page.json['@odata.deltaLink'], pages };
    next = page.json['@odata.nextLink'];
    expect(next).toBeDefined();
  }
}

describe('Graph calendarView delta', () => {
  const window = `${users(MAILBOX)}/calendarView/delta?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z`;
  it('a first round pages every event in the window; the next round brings what changed, deletions as @removed', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 7; n++) ids.push((await agent.post(`${users(MAILBOX)}/events`, lesson(n))).json.id);
    // Outside the window: not in the first round.
    await agent.post(`${users(MAILBOX)}/events`, lesson(1, { start: { dateTime: '2027-03-01T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2027-03-01T10:00:00', timeZone: 'UTC' } }));
    const round1 = await drain(window);
    expect(round1.pages).toBe(3);
    expect(round1.items.map((e) => e.id).sort()).toEqual([...ids].sort());
    expect(round1.items.every((e) => e['@removed'] === undefined)).toBe(true);

    const quiet = await drain(round1.deltaLink);
    expect(quiet.items).toEqual([]);

    await agent.patch(`${users(MAILBOX)}/events/${encodeURIComponent(ids[0]!)}`, { subject: 'Moved by the source' });
    await agent.delete(`${users(MAILBOX)}/events/${encodeURIComponent(ids[1]!)}`);
    const added = (await agent.post(`${users(MAILBOX)}/events`, lesson(9))).json.id;
    const round2 = await drain(quiet.deltaLink);
    expect(round2.items.find((e) => e.id === ids[0])?.subject).toBe('Moved by the source');
    expect(round2.items.find((e) => e.id === ids[1])).toEqual({ '@odata.type': '#microsoft.graph.event', id: ids[1], '@removed': { reason: 'deleted' } });
    expect(round2.items.find((e) => e.id === added)).toBeDefined();
    expect(round2.items).toHaveLength(3);
    // Another mailbox's changes are not in this mailbox's delta.
    await agent.post(`${users(OTHER)}/events`, lesson(3));
    expect((await drain(round2.deltaLink)).items).toEqual([]);
  });

  it('refuses what the delta doc rules out and a missing window; an expired token answers 410 SyncStateNotFound', async () => {
    expect((await agent.get(`${window}&$select=subject`)).status).toBe(400);
    expect((await agent.get(`${window}&$filter=subject eq 'x'`)).status).toBe(400);
    expect((await agent.get(`${users(MAILBOX)}/calendarView/delta`)).json.error.code).toBe('ErrorInvalidParameter');
    const round = await drain(window);
    expect((await agent.get(round.deltaLink.replace(/\/users\/[^/]+\//, `/users/${encodeURIComponent(OTHER)}/`))).status).toBe(410);
    sandbox.faults.expireSyncStates();
    const gone = await agent.get(round.deltaLink);
    expect(gone.status).toBe(410);
    expect(gone.json.error.code).toBe('SyncStateNotFound');
    // Starting over works.
    expect((await drain(window)).items.length).toBeGreaterThan(0);
  });
});

const SYNC_FOLDER = (mailbox: string) => `<m:SyncFolderId><t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>${mailbox}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:SyncFolderId>`;

async function syncFolder(mailbox: string, state: string | undefined, max: number) {
  const answer = await ews(mailbox, `<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>${SYNC_FOLDER(mailbox)}${state ? `<m:SyncState>${state}</m:SyncState>` : ''}<m:MaxChangesReturned>${max}</m:MaxChangesReturned></m:SyncFolderItems>`);
  const message = messages(answer)[0]!;
  const changes = first(answer.root, 'http://schemas.microsoft.com/exchange/services/2006/messages', 'Changes');
  const kinds = changes ? [...changes.childNodes].filter((n: any) => n.nodeType === 1).map((n: any) => `${n.localName}:${first(n, T, 'ItemId')!.getAttribute('Id')}`) : [];
  return { code: message.code, state: text(answer.root, 'http://schemas.microsoft.com/exchange/services/2006/messages', 'SyncState'), last: text(answer.root, 'http://schemas.microsoft.com/exchange/services/2006/messages', 'IncludesLastItemInRange') === 'true', kinds };
}

async function syncAll(mailbox: string, state: string | undefined): Promise<{ state: string; kinds: string[]; calls: number }> {
  const kinds: string[] = [];
  let calls = 0;
  for (;;) {
    const page = await syncFolder(mailbox, state, 2);
    expect(page.code).toBe('NoError');
    calls++;
    kinds.push(...page.kinds);
    state = page.state;
    if (page.last) return { state: state!, kinds, calls };
  }
}

describe('EWS SyncFolderItems', () => {
  const mailbox = 's0033@contoso.edu';
  it('first every item as a Create, MaxChangesReturned at a time; then Create, Update and Delete since the SyncState', async () => {
    const ids: string[] = [];
    for (let n = 0; n < 5; n++) ids.push((await agent.post(`${users(mailbox)}/events`, lesson(n))).json.id);
    const initial = await syncAll(mailbox, undefined);
    expect(initial.calls).toBe(3);
    expect(initial.kinds.every((k) => k.startsWith('Create:'))).toBe(true);
    expect(initial.kinds).toHaveLength(5);
    expect((await syncAll(mailbox, initial.state)).kinds).toEqual([]);

    await agent.patch(`${users(mailbox)}/events/${encodeURIComponent(ids[2]!)}`, { subject: 'Edited' });
    await agent.delete(`${users(mailbox)}/events/${encodeURIComponent(ids[3]!)}`);
    await agent.post(`${users(mailbox)}/events`, lesson(7));
    // Created and deleted between two syncs: the client never hears of it.
    const fleeting = (await agent.post(`${users(mailbox)}/events`, lesson(8))).json.id;
    await agent.delete(`${users(mailbox)}/events/${encodeURIComponent(fleeting)}`);
    const next = await syncAll(mailbox, initial.state);
    expect(next.kinds.map((k) => k.split(':')[0]).sort()).toEqual(['Create', 'Delete', 'Update']);
  });

  it('a SyncState of another folder, garbage, or one expired answers ErrorInvalidSyncStateData', async () => {
    const state = (await syncAll(mailbox, undefined)).state;
    expect((await syncFolder('s0034@contoso.edu', state, 10)).code).toBe('ErrorInvalidSyncStateData');
    expect((await syncFolder(mailbox, 'bm90IGEgc3RhdGU=', 10)).code).toBe('ErrorInvalidSyncStateData');
    sandbox.faults.expireSyncStates();
    expect((await syncFolder(mailbox, state, 10)).code).toBe('ErrorInvalidSyncStateData');
  });
});

/** A webhook receiver on HTTPS, answering validation tokens (or not) and recording notifications. */
async function receiver(answerValidation = true): Promise<{ url: string; received: any[]; validations: number; close(): Promise<void> }> {
  const state = { received: [] as any[], validations: 0 };
  const server: Server = createServer({ cert: webhookCert.certPem, key: webhookCert.keyPem }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://localhost');
    const token = url.searchParams.get('validationToken');
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (token !== null) {
        state.validations++;
        if (!answerValidation) return void res.writeHead(404).end();
        return void res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
      }
      state.received.push(...JSON.parse(Buffer.concat(chunks).toString('utf8')).value);
      res.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://127.0.0.1:${port}/hook`,
    received: state.received,
    get validations() {
      return state.validations;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

describe('change notifications', () => {
  const mailbox = 's0035@contoso.edu';
  const expiry = (minutes: number) => new Date(now + minutes * 60_000).toISOString();

  it('validates the notificationUrl, then notifies created, updated and deleted events with the clientState', async () => {
    const hook = await receiver();
    try {
      const created = await agent.post('/subscriptions', { changeType: 'created,updated,deleted', notificationUrl: hook.url, lifecycleNotificationUrl: hook.url, resource: `users/${mailbox}/events`, expirationDateTime: expiry(60), clientState: 'calpush-secret-state' });
      expect(created.status).toBe(201);
      expect(hook.validations).toBe(2);
      expect(created.json).toMatchObject({ changeType: 'created,updated,deleted', resource: `users/${mailbox}/events`, clientState: 'calpush-secret-state' });
      const id = (await agent.post(`${users(mailbox)}/events`, lesson(1))).json.id;
      await agent.patch(`${users(mailbox)}/events/${encodeURIComponent(id)}`, { subject: 'x' });
      sandbox.outlook(mailbox).deleteEvent(id);
      await agent.post(`${users(OTHER)}/events`, lesson(2));
      await sandbox.subscriptions.flush();
      // Each is its own POST, sent as the change happens; they may arrive in any order.
      expect(hook.received.map((n) => n.changeType).sort()).toEqual(['created', 'deleted', 'updated']);
      expect(hook.received.every((n) => n.clientState === 'calpush-secret-state' && n.subscriptionId === created.json.id && n.resourceData.id === id)).toBe(true);

      sandbox.subscriptions.lifecycle(created.json.id, 'reauthorizationRequired');
      await sandbox.subscriptions.flush();
      expect(hook.received.at(-1)).toMatchObject({ lifecycleEvent: 'reauthorizationRequired', subscriptionId: created.json.id });
    } finally {
      await hook.close();
    }
  });

  it('refuses an endpoint that fails the handshake, plain HTTP, expirations beyond 10,080 minutes, and unknown resources', async () => {
    const silent = await receiver(false);
    try {
      const base = { changeType: 'created', resource: `users/${mailbox}/events`, expirationDateTime: expiry(60) };
      const refused = await agent.post('/subscriptions', { ...base, notificationUrl: silent.url });
      expect(refused.status).toBe(400);
      expect(silent.validations).toBe(1);
      expect((await agent.post('/subscriptions', { ...base, notificationUrl: silent.url.replace('https:', 'http:') })).status).toBe(400);
      expect((await agent.post('/subscriptions', { ...base, notificationUrl: silent.url, expirationDateTime: expiry(10_081) })).status).toBe(400);
      expect((await agent.post('/subscriptions', { ...base, notificationUrl: silent.url, resource: `users/${mailbox}/contacts` })).status).toBe(400);
      expect((await agent.post('/subscriptions', { ...base, notificationUrl: silent.url, resource: 'users/outofscope@contoso.edu/events' })).status).toBe(403);
      // A malformed escape in the resource names no mailbox: 404, not a server error.
      expect((await agent.post('/subscriptions', { ...base, notificationUrl: silent.url, resource: 'users/%E0%A4%A/events' })).status).toBe(404);
      expect(silent.validations).toBe(1);
    } finally {
      await silent.close();
    }
  });

  it('renewal moves the expiration; past it the subscription is gone; another app cannot see it', async () => {
    const hook = await receiver();
    try {
      const created = await agent.post('/subscriptions', { changeType: 'updated', notificationUrl: hook.url, resource: `users/${mailbox}/events`, expirationDateTime: expiry(30) });
      const id = created.json.id;
      expect((await demo.get(`/subscriptions/${id}`)).status).toBe(404);
      const renewed = await agent.patch(`/subscriptions/${id}`, { expirationDateTime: expiry(120) });
      expect(renewed.status).toBe(200);
      expect(Date.parse(renewed.json.expirationDateTime)).toBe(now + 120 * 60_000);
      expect((await agent.patch(`/subscriptions/${id}`, { notificationUrl: hook.url })).status).toBe(400);
      now += 121 * 60_000;
      expect((await agent.get(`/subscriptions/${id}`)).status).toBe(404);
      expect(sandbox.subscriptions.list().some((s) => s.id === id)).toBe(false);
    } finally {
      await hook.close();
    }
  });

  it('an inbox subscription hears of a meeting request arriving; subscriptionRemoved ends the subscription', async () => {
    const hook = await receiver();
    try {
      const attendee = 's0038@contoso.edu';
      const created = await agent.post('/subscriptions', { changeType: 'created', notificationUrl: hook.url, lifecycleNotificationUrl: hook.url, resource: `users/${attendee}/mailFolders('inbox')/messages`, expirationDateTime: expiry(60) });
      expect(created.status).toBe(201);
      await agent.post(`${users('t0004@contoso.edu')}/events`, lesson(5, { attendees: [{ emailAddress: { address: attendee }, type: 'required' }] }));
      await sandbox.subscriptions.flush();
      const request = (await agent.get(`${users(attendee)}/messages`)).json.value[0];
      expect(hook.received).toHaveLength(1);
      expect(hook.received[0]).toMatchObject({ changeType: 'created', resourceData: { id: request.id, '@odata.type': '#Microsoft.Graph.Message' } });
      sandbox.subscriptions.lifecycle(created.json.id, 'subscriptionRemoved');
      await sandbox.subscriptions.flush();
      expect(hook.received.at(-1)).toMatchObject({ lifecycleEvent: 'subscriptionRemoved' });
      expect((await agent.get(`/subscriptions/${created.json.id}`)).status).toBe(404);
    } finally {
      await hook.close();
    }
  });

  it('a mailbox holds at most 1000 active subscriptions, for all apps together', async () => {
    const hook = await receiver();
    try {
      const full = 's0037@contoso.edu';
      const body = { changeType: 'created', notificationUrl: hook.url, resource: `users/${full}/events`, expirationDateTime: expiry(60) };
      for (let n = 0; n < 1000; n += 4) {
        const answers = await Promise.all([0, 1, 2, 3].map(() => agent.post('/subscriptions', body)));
        expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
      }
      // The quota counts every app's subscriptions.
      const refused = await demo.post('/subscriptions', body);
      expect(refused.status).toBe(403);
      // Another mailbox is not affected; a deleted subscription frees its place.
      expect((await agent.post('/subscriptions', { ...body, resource: `users/${mailbox}/events` })).status).toBe(201);
      const one = sandbox.subscriptions.list().find((s) => s.mailbox === full)!;
      expect((await agent.delete(`/subscriptions/${one.id}`)).status).toBe(204);
      expect((await agent.post('/subscriptions', body)).status).toBe(201);
    } finally {
      await hook.close();
    }
  }, 60_000);
});

describe('acting as the person (Outlook)', () => {
  it('edits and deletions made in Outlook reach delta like any other change, and bad edits are refused', async () => {
    const mailbox = 's0036@contoso.edu';
    const window = `${users(mailbox)}/calendarView/delta?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z`;
    const a = (await agent.post(`${users(mailbox)}/events`, lesson(1))).json.id;
    const b = (await agent.post(`${users(mailbox)}/events`, lesson(2))).json.id;
    const round = await drain(window);
    const person = sandbox.outlook(mailbox);
    person.updateEvent(a, { subject: 'Moved by the lecturer', start: { dateTime: '2026-10-20T12:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-20T13:00:00', timeZone: 'UTC' } });
    person.deleteEvent(b);
    const mine = person.createEvent({ subject: 'Dentist', start: { dateTime: '2026-10-21T12:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-21T13:00:00', timeZone: 'UTC' } });
    const changes = (await drain(round.deltaLink)).items;
    expect(changes.find((e) => e.id === a)?.subject).toBe('Moved by the lecturer');
    expect(changes.find((e) => e.id === b)?.['@removed']).toEqual({ reason: 'deleted' });
    expect(changes.find((e) => e.id === mine.id)?.subject).toBe('Dentist');
    expect(() => person.updateEvent(a, { subject: 42 })).toThrow(/Outlook would not save/);
    expect(() => person.deleteEvent('AAMkAnotThere')).toThrow(/has no event/);
    expect(() => sandbox.outlook('nobody@contoso.edu')).toThrow(/no mailbox/);
  });
});

describe('what the sandbox answered', () => {
  it('every Graph event, room, room list and subscription is valid against the v1.0 CSDL', () => {
    const bodies = answers.filter((a) => a.service === 'graph' && a.status < 300 && a.body.startsWith('{')).map((a) => JSON.parse(a.body) as Record<string, unknown>);
    const counts: Record<string, number> = {};
    const problems: unknown[] = [];
    for (const body of bodies) {
      const context = String(body['@odata.context'] ?? '');
      const type = context.includes('microsoft.graph.roomList/rooms') || context.includes('places/microsoft.graph.room') && !context.endsWith('roomList') ? 'room' : context.endsWith('microsoft.graph.roomList') ? 'roomList' : context.includes('#subscriptions') ? 'subscription' : /events|Collection\(event\)|calendarView/.test(context) ? 'event' : undefined;
      if (!type) continue;
      const items = Array.isArray(body['value']) ? (body['value'] as Array<Record<string, unknown>>) : [body];
      for (const item of items) {
        if (item['@removed']) continue;
        counts[type] = (counts[type] ?? 0) + 1;
        const problem = validateGraphBody(type, item, 'response');
        if (problem) problems.push({ type, problem });
      }
    }
    expect(problems.slice(0, 5)).toEqual([]);
    for (const type of ['room', 'roomList', 'subscription', 'event']) expect(counts[type] ?? 0, type).toBeGreaterThan(0);
  });

  it('every EWS answer (GetRoomLists, GetRooms, SyncFolderItems and its errors) is valid against messages.xsd', () => {
    const xml = answers.filter((a) => a.service === 'ews' && a.body.startsWith('<?xml')).map((a) => a.body);
    expect(xml.some((body) => body.includes('SyncFolderItemsResponse'))).toBe(true);
    expect(xml.some((body) => body.includes('>ErrorInvalidSyncStateData<'))).toBe(true);
    expect(xmllintFailures(xml)).toEqual([]);
    expect(xmllintFailures(receivedResponses)).toEqual([]);
  });
});
