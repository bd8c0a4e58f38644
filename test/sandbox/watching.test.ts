// What the watching side of issue #15 needs from the sandbox: room lists (Graph places, EWS GetRoomLists/GetRooms),
// change tracking (Graph calendarView/delta, EWS SyncFolderItems), change-notification subscriptions with the
// validation handshake, and a control API to act as the person (Outlook). Driven with plain HTTP/SOAP; every Graph
// answer is checked against the v1.0 CSDL at the end, every EWS answer against messages.xsd.
import type { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { validateGraphBody } from '../../src/sandbox/graph/schema/validate.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { agentFor, all, post, soap, T, xmllintFailures, type Auth } from './ews/helpers.ts';
import { demoToken, GraphClient } from './helpers.ts';

const clock = fixedClock('2026-09-01T08:00:00Z');
const MAILBOX = 's0031@contoso.edu';
const answers: Array<{ service: 'graph' | 'ews'; status: number; body: string }> = [];
let sandbox: SandboxInternals;
let agent: GraphClient;
let demo: GraphClient;
let ewsAgent: Agent;
const delegate: Auth = { kind: 'basic', user: EWS_DELEGATE_ACCOUNTS[2]!, password: EWS_PASSWORD };

// A many-room tenant, so that room lists are bucketed at 75.
const seed = defaultTenantSeed({ rooms: 160 });

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed, clock, onResponse: (answer) => answers.push(answer) });
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

describe('what the sandbox answered', () => {
  it('every Graph event, room and room list is valid against the v1.0 CSDL', () => {
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
    for (const type of ['room', 'roomList']) expect(counts[type] ?? 0, type).toBeGreaterThan(0);
  });

  it('every EWS answer (GetRoomLists, GetRooms) is valid against messages.xsd', () => {
    const xml = answers.filter((a) => a.service === 'ews' && a.body.startsWith('<?xml')).map((a) => a.body);
    expect(xml.some((body) => body.includes('GetRoomsResponse'))).toBe(true);
    expect(xmllintFailures(xml)).toEqual([]);
  });
});
