// The stand-in may not drift from Microsoft's schema: every EWS answer the sandbox writes (successes, per-item errors
// and SOAP faults) is validated against messages.xsd / types.xsd with xmllint, and every Graph event it returns
// (single, in collections, inside $batch answers) against the v1.0 CSDL (schema/graph-v1.json). The answers come from
// calpush's own traffic (syncs through both targets, with conflicts, lost rights, throttling and paging) and from
// requests other clients send (all shapes, versions, errors).
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Agent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { validateGraphBody, type GraphSchemaFile } from '../../src/sandbox/graph/schema/validate.ts';
import { OUTPUT_PATH as GRAPH_SCHEMA_PATH } from '../../scripts/gen-graph-schema.ts';
import { SCHEMA_DIR } from '../../src/sandbox/ews/validate.ts';
import { runSync } from '../../src/app/sync.ts';
import { createEwsTarget, ewsTargetSchema } from '../../src/targets/ews/config.ts';
import { beforeTheLectures, createWorkspace, lecture, tagged, usableStudents } from '../e2e/harness.ts';
import { requireTool } from '../support/tools.ts';
import { agentFor, impersonationHeader, post, soap, type Auth } from './ews/helpers.ts';
import { demoToken, GraphClient, lesson, users } from './helpers.ts';

const seed = defaultTenantSeed();
const graphSchema = JSON.parse(readFileSync(GRAPH_SCHEMA_PATH, 'utf8')) as GraphSchemaFile;
const answers: Array<{ service: 'graph' | 'ews'; status: number; body: string }> = [];
let sandbox: SandboxInternals;
let graph: GraphClient;
let agent: Agent;
let students: string[];

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed, onResponse: (answer) => answers.push(answer) });
  graph = await GraphClient.demo(sandbox);
  agent = agentFor(sandbox.caPem);
  students = usableStudents(seed).slice(20);
});
afterAll(async () => {
  agent.destroy();
  await sandbox?.close();
});

async function syncEws(instance: string, events: Array<Record<string, unknown>>, extra: Record<string, unknown> = {}) {
  const ws = createWorkspace(sandbox, 'secret', { instance });
  writeFileSync(join(ws.dir, 'ews.pw'), EWS_PASSWORD, { mode: 0o600 });
  const section = ewsTargetSchema.parse({ kind: 'ews', url: sandbox.ews.url, access: 'delegate', auth: 'ntlm', accounts: [{ username: EWS_DELEGATE_ACCOUNTS[0], password: { file: 'ews.pw' } }], caFile: 'ca.pem', ...extra });
  const target = createEwsTarget(section, { instance, baseDir: ws.dir, allDayTimeZone: ws.config.timeZone });
  return { ws, result: await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('in.ndjson', events)], target, clock: beforeTheLectures() }).finally(() => target.close()) };
}

async function syncGraph(instance: string, events: Array<Record<string, unknown>>, batch: string) {
  const ws = createWorkspace(sandbox, 'secret', { instance, batch });
  return runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('in.ndjson', events)], clock: beforeTheLectures() });
}

describe('traffic', () => {
  it('calpush through the EWS target: creates, updates after edits, deletes, lost rights, throttling, paging', async () => {
    const [a, b] = students;
    const events = Array.from({ length: 6 }, (_, n) => lecture(a!, n, { showAs: n % 2 ? 'workingElsewhere' : 'tentative', location: n % 3 ? 'Room' : undefined }));
    await syncEws('resp-ews', events);
    for (const event of tagged(sandbox, a!).slice(0, 2)) await graph.patch(`${users(a!)}/events/${encodeURIComponent(event.id)}`, { subject: 'Edited' });
    await syncEws('resp-ews', events.slice(1).map((e) => ({ ...e, body: 'changed' })));
    sandbox.ews.setDelegateRights(EWS_DELEGATE_ACCOUNTS[0]!, b!, false);
    await syncEws('resp-lost', [lecture(b!, 1)]);
    sandbox.ews.setBehaviour({ delegateDenied: 'ErrorFolderNotFound' });
    await syncEws('resp-lost', [lecture(b!, 1)]);
    sandbox.ews.setBehaviour({ delegateDenied: 'ErrorAccessDenied' });
    sandbox.ews.setDelegateRights(EWS_DELEGATE_ACCOUNTS[0]!, b!, true);
    for (const [form, overrun] of [['fault', 'items'], ['innerError', 'fault']] as const) {
      sandbox.ews.setThrottling({ budgetItems: 8, budgetWindowMs: 1000, form, batchTimeLimitMs: 200, overrun });
      await syncEws(`resp-throttle-${form}`, Array.from({ length: 12 }, (_, n) => lecture(students[2]!, n, { id: `${form}-${n}`, start: '2027-03-01T09:00', end: '2027-03-01T10:00' })));
    }
    sandbox.ews.setThrottling({ budgetItems: 6000, budgetWindowMs: 60_000, form: 'fault', batchTimeLimitMs: 60_000, overrun: 'items' });
    const paged = await syncEws('resp-paging', Array.from({ length: 260 }, (_, n) => lecture(students[3]!, n, { id: `p-${n}` })));
    expect(paged.result.delivery.totals.created).toBe(260);
    rmSync(join(paged.ws.dir, 'state'), { recursive: true, force: true });
    await syncEws('resp-paging', Array.from({ length: 260 }, (_, n) => lecture(students[3]!, n, { id: `p-${n}` })));
  }, 120_000);

  it('calpush through the Graph target: batches and single requests, conflicts, lost access, failing mailboxes', async () => {
    const mailbox = students[4]!;
    for (const batch of ['chain', 'off']) {
      const events = Array.from({ length: 5 }, (_, n) => lecture(mailbox, n, { id: `${batch}-${n}`, allDay: n === 4, ...(n === 4 ? { start: '2026-12-24', end: '2026-12-25', timeZone: undefined } : {}) }));
      await syncGraph(`resp-graph-${batch}`, [...events, lecture('outofscope@contoso.edu', 1), lecture('nomailbox@contoso.edu', 1), lecture('unlicensed@contoso.edu', 1)], batch);
      for (const event of tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;resp-graph-${batch};`)).slice(0, 2)) {
        await graph.patch(`${users(mailbox)}/events/${encodeURIComponent(event.id)}`, { subject: 'Edited' });
      }
      await syncGraph(`resp-graph-${batch}`, events.slice(1).map((e) => ({ ...e, subject: `${e.subject} v2` })), batch);
      sandbox.faults.revokeMailbox(mailbox);
      await syncGraph(`resp-graph-${batch}`, events.slice(2), batch);
      sandbox.faults.revokeMailbox(mailbox, false);
    }
  });

  it('other clients: every EWS shape, version and error', async () => {
    const auth: Auth = { kind: 'basic', user: EWS_DELEGATE_ACCOUNTS[1]!, password: EWS_PASSWORD };
    const mailbox = students[5]!;
    const calendar = `<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>${mailbox}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`;
    const ews = (body: string, version = 'Exchange2016', action?: string) =>
      post(sandbox.ewsUrl, agent, soap(body, `<t:RequestServerVersion Version="${version}"/>`), auth, { 'x-anchormailbox': mailbox, ...(action ? { soapaction: action } : {}) }, false);
    await graph.post(`${users(mailbox)}/events`, lesson(1, { start: { dateTime: '2026-07-01T09:00:00', timeZone: 'Europe/Berlin' }, end: { dateTime: '2026-07-01T10:00:00', timeZone: 'Europe/Berlin' } }));
    await graph.post(`${users(mailbox)}/events`, lesson(2, { start: { dateTime: '2026-10-01T09:00:00', timeZone: 'AUS Eastern Standard Time' }, end: { dateTime: '2026-10-01T10:00:00', timeZone: 'AUS Eastern Standard Time' } }));
    await graph.post(`${users(mailbox)}/events`, lesson(3, { start: { dateTime: '2026-10-01T09:00:00', timeZone: 'India Standard Time' }, end: { dateTime: '2026-10-01T10:00:00', timeZone: 'India Standard Time' }, attendees: [{ emailAddress: { address: 'x@contoso.edu', name: 'X' }, type: 'required' }] }));
    for (const shape of ['IdOnly', 'Default', 'AllProperties']) {
      await ews(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>${shape}</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="5" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds>${calendar}</m:ParentFolderIds></m:FindItem>`);
      await ews(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>${shape}</t:BaseShape></m:ItemShape><m:CalendarView MaxEntriesReturned="5" StartDate="2026-01-01T00:00:00Z" EndDate="2027-12-31T00:00:00Z"/><m:ParentFolderIds>${calendar}</m:ParentFolderIds></m:FindItem>`);
    }
    const ids = [...(await ews(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="20" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds>${calendar}</m:ParentFolderIds></m:FindItem>`)).text.matchAll(/<t:ItemId Id="([^"]+)"/g)].map((m) => m[1]!);
    for (const bodyType of ['Best', 'HTML', 'Text']) {
      await ews(`<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape><t:BodyType>${bodyType}</t:BodyType></m:ItemShape><m:ItemIds>${ids.map((id) => `<t:ItemId Id="${id}"/>`).join('')}<t:ItemId Id="AAMkAMissingItemMissingItemMissingItemMissing"/></m:ItemIds></m:GetItem>`);
    }
    await ews(`<m:UpdateItem ConflictResolution="AlwaysOverwrite" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:ItemId Id="${ids[0]}"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>x</t:Subject></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`);
    await ews(`<m:UpdateItem ConflictResolution="AlwaysOverwrite" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange><t:ItemId Id="${ids[0]}" ChangeKey="AAAAAAAA"/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/><t:CalendarItem><t:Subject>x</t:Subject></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`);
    await ews(`<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds>${calendar}<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>outofscope@contoso.edu</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId></m:FolderIds></m:GetFolder>`);
    await ews('<m:GetRoomLists/>');
    await ews('<m:GetRooms><m:RoomList><t:EmailAddress>rooms@contoso.edu</t:EmailAddress></m:RoomList></m:GetRooms>');
    await ews('<m:GetRooms><m:RoomList><t:EmailAddress>nolist@contoso.edu</t:EmailAddress></m:RoomList></m:GetRooms>');
    await ews(`<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="SendToNone"><m:ItemIds><t:ItemId Id="${ids[0]}"/><t:ItemId Id="AAMkAMissingItemMissingItemMissingItemMissing"/></m:ItemIds></m:DeleteItem>`);
    await ews('<m:GetRoomLists/>', 'Exchange2016', '"http://schemas.microsoft.com/exchange/services/2006/messages/FindItem"');
    await ews(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds>${calendar}</m:ParentFolderIds><m:Bogus/></m:FindItem>`);
    for (const version of ['Exchange2010_SP2', 'Exchange2013'] as const) {
      sandbox.ews.setBehaviour({ serverVersion: version });
      await ews('<m:GetRoomLists/>', 'Exchange2010_SP2');
      await ews('<m:GetRoomLists/>', 'V2017_07_11');
    }
    sandbox.ews.setBehaviour({ serverVersion: 'Exchange2016' });
    sandbox.ews.setThrottling({ budgetItems: 1, form: 'innerError' });
    await ews('<m:GetRoomLists/>');
    await ews(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ParentFolderIds>${calendar}</m:ParentFolderIds></m:FindItem>`);
    sandbox.ews.setThrottling({ budgetItems: 6000, form: 'fault' });
  });

  it('other clients: Graph queries, preferences, paging, errors and $batch', async () => {
    const mailbox = students[6]!;
    for (let n = 0; n < 12; n++) await graph.post(`${users(mailbox)}/events`, lesson(n, n === 3 ? { isAllDay: true, start: { dateTime: '2026-10-05T00:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-10-06T00:00:00', timeZone: 'UTC' } } : {}));
    const first = await graph.get(`${users(mailbox)}/events?$top=5`, { prefer: 'outlook.timezone="W. Europe Standard Time", outlook.body-content-type="text"' });
    await graph.get(first.json['@odata.nextLink']);
    await graph.get(`${users(mailbox)}/calendarView?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z&$select=subject,start,end`);
    await graph.get(`${users(mailbox)}/events/${encodeURIComponent(first.json.value[0].id)}?$expand=${encodeURIComponent("singleValueExtendedProperties($filter=id eq 'String {7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c} Name CalpushKey')")}`);
    await graph.patch(`${users(mailbox)}/events/${encodeURIComponent(first.json.value[0].id)}`, { subject: 'x' }, { 'if-match': 'W/"stale"' });
    await graph.post('/$batch', {
      requests: [
        { id: '1', method: 'POST', url: `${users(mailbox)}/events`, headers: { 'content-type': 'application/json' }, body: lesson(50) },
        { id: '2', method: 'GET', url: `${users(mailbox)}/events?$top=2` },
        { id: '3', method: 'GET', url: `${users(mailbox)}/events/AAMkAnotThere` },
      ],
    });
  });
});

describe('meetings, inboxes, rooms and change tracking (issue #15)', () => {
  it('Graph: a meeting with a user and a room, answers, the inbox, places and a delta round', async () => {
    const [organizer, attendee] = [students[7]!, students[8]!];
    const agentToken = await demoToken(sandbox, AGENT_CLIENT_ID, AGENT_CLIENT_SECRET);
    const agent = new GraphClient(sandbox, agentToken);
    const room = seed.mailboxes.find((m) => m.kind === 'room')!.address;
    const created = await agent.post(`${users(organizer)}/events`, lesson(60, { attendees: [{ emailAddress: { address: attendee }, type: 'required' }, { emailAddress: { address: room }, type: 'resource' }] }));
    expect(created.status).toBe(201);
    const inbox = await agent.get(`${users(attendee)}/messages?$expand=microsoft.graph.eventMessage/event`);
    expect(inbox.json.value.length).toBeGreaterThan(0);
    await agent.get(`${users(attendee)}/mailFolders/inbox/messages/${encodeURIComponent(inbox.json.value[0].id)}`);
    const copy = (await agent.get(`${users(attendee)}/events?$top=100`)).json.value.find((e: any) => e.iCalUId === created.json.iCalUId);
    expect((await agent.post(`${users(attendee)}/events/${encodeURIComponent(copy.id)}/accept`, { comment: 'yes', sendResponse: true })).status).toBe(202);
    await agent.get(`${users(organizer)}/messages`);
    await agent.patch(`${users(organizer)}/events/${encodeURIComponent(created.json.id)}`, { subject: 'Moved' });
    await agent.get(`${users(attendee)}/messages`);
    await agent.get('/places/microsoft.graph.roomlist');
    await agent.get(`/places/${encodeURIComponent(seed.roomLists![0]!.address)}/microsoft.graph.roomlist/rooms?$top=3`);
    const delta = await agent.get(`${users(attendee)}/calendarView/delta?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z`);
    await agent.post(`${users(organizer)}/events/${encodeURIComponent(created.json.id)}/cancel`, { comment: 'off' });
    await agent.get(delta.json['@odata.deltaLink']);
    // The groups of an allowed-organisers policy and their members (src/targets/graph/groups.ts).
    const staff = seed.groups![0]!;
    const found = await agent.get(`/groups?$filter=${encodeURIComponent(`mail eq '${staff.address}'`)}&$select=id`);
    expect(found.json.value).toHaveLength(1);
    const members = await agent.get(`/groups/${encodeURIComponent(found.json.value[0].id)}/transitiveMembers/microsoft.graph.user?$select=mail,userPrincipalName`);
    expect(members.json.value.length).toBeGreaterThan(0);
    // A second meeting stays open, for the EWS view of the inbox below.
    await agent.post(`${users(organizer)}/events`, lesson(61, { attendees: [{ emailAddress: { address: attendee }, type: 'required' }] }));
    await agent.get(`${users(attendee)}/messages`);
  });

  it('EWS: the inbox, SyncFolderItems of a calendar and an inbox, and a response object', async () => {
    const attendee = students[8]!;
    // Delegates of calendars do not see inboxes: the account impersonating every in-scope mailbox does.
    const auth: Auth = { kind: 'basic', user: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD };
    const folder = (id: string) => `<t:DistinguishedFolderId Id="${id}"><t:Mailbox><t:EmailAddress>${attendee}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`;
    const ews = (body: string) => post(sandbox.ewsUrl, agent, soap(body, impersonationHeader(attendee)), auth, { 'x-anchormailbox': attendee }, false);
    const found = await ews(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="50" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds>${folder('inbox')}</m:ParentFolderIds></m:FindItem>`);
    const ids = [...found.text.matchAll(/<t:ItemId Id="([^"]+)"/g)].map((m) => m[1]!);
    expect(ids.length).toBeGreaterThan(0);
    // The organiser's inbox holds the attendee's response.
    const organizer = students[7]!;
    await post(sandbox.ewsUrl, agent, soap(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="50" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>`, impersonationHeader(organizer)), auth, { 'x-anchormailbox': organizer }, false);
    await ews(`<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds>${ids.map((id) => `<t:ItemId Id="${id}"/>`).join('')}</m:ItemIds></m:GetItem>`);
    await ews(`<m:GetFolder><m:FolderShape><t:BaseShape>Default</t:BaseShape></m:FolderShape><m:FolderIds>${folder('inbox')}</m:FolderIds></m:GetFolder>`);
    for (const id of ['calendar', 'inbox']) {
      const first = await ews(`<m:SyncFolderItems><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:SyncFolderId>${folder(id)}</m:SyncFolderId><m:MaxChangesReturned>2</m:MaxChangesReturned></m:SyncFolderItems>`);
      const state = /<m:SyncState>([^<]+)</.exec(first.text)![1];
      await ews(`<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId>${folder(id)}</m:SyncFolderId><m:SyncState>${state}</m:SyncState><m:MaxChangesReturned>100</m:MaxChangesReturned></m:SyncFolderItems>`);
    }
    await ews(`<m:SyncFolderItems><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:SyncFolderId>${folder('calendar')}</m:SyncFolderId><m:SyncState>bm90IGEgc3RhdGU=</m:SyncState><m:MaxChangesReturned>10</m:MaxChangesReturned></m:SyncFolderItems>`);
    const calendar = await ews(`<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="50" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds>${folder('calendar')}</m:ParentFolderIds></m:FindItem>`);
    const event = /<t:ItemId Id="([^"]+)"/.exec(calendar.text)![1];
    await ews(`<m:CreateItem MessageDisposition="SendAndSaveCopy"><m:Items><t:TentativelyAcceptItem><t:ReferenceItemId Id="${event}"/></t:TentativelyAcceptItem></m:Items></m:CreateItem>`);
  });
});

describe('what the sandbox answered', () => {
  it('every EWS answer is valid against messages.xsd / types.xsd (successes, item errors and faults)', () => {
    const xml = answers.filter((a) => a.service === 'ews' && a.body.startsWith('<?xml'));
    const kinds = new Set(xml.map((a) => /<s:Body[^>]*><(?:m:|s:)?(\w+)/.exec(a.body)?.[1]));
    for (const kind of ['CreateItemResponse', 'UpdateItemResponse', 'DeleteItemResponse', 'GetItemResponse', 'FindItemResponse', 'GetFolderResponse', 'GetRoomListsResponse', 'GetRoomsResponse', 'SyncFolderItemsResponse', 'Fault']) expect(kinds).toContain(kind);
    for (const code of ['ErrorStaleObject', 'ErrorChangeKeyRequiredForWriteOperations', 'ErrorItemNotFound', 'ErrorAccessDenied', 'ErrorFolderNotFound', 'ErrorServerBusy', 'ErrorTimeoutExpired', 'ErrorInternalServerError', 'ErrorInvalidServerVersion', 'ErrorSchemaValidation', 'ErrorInvalidRequest', 'ErrorInvalidSyncStateData']) {
      expect(xml.some((a) => a.body.includes(`>${code}<`)), code).toBe(true);
    }
    expect(xml.some((a) => a.body.includes('<t:Periods>'))).toBe(true);
    for (const element of ['<t:MeetingRequest>', '<t:MeetingCancellation>', '<t:MeetingResponse>', '<t:Create>']) expect(xml.some((a) => a.body.includes(element)), element).toBe(true);
    const dir = mkdtempSync(join(tmpdir(), 'calpush-ews-answers-'));
    try {
      const files = xml.map((a, i) => {
        const file = join(dir, `a${i}.xml`);
        writeFileSync(file, a.body);
        return file;
      });
      let output = '';
      try {
        execFileSync(requireTool('xmllint'), ['--noout', '--nonet', '--schema', join(SCHEMA_DIR, 'response.xsd'), ...files], { stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
      } catch (error) {
        output = String((error as { stderr?: Buffer }).stderr ?? '');
      }
      const failures = output.split('\n').filter((line) => / fails to validate$|error/.test(line));
      expect(failures.slice(0, 5)).toEqual([]);
      expect(xml.length).toBeGreaterThan(50);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('every Graph event is valid against the v1.0 CSDL (and carries no property it does not define)', () => {
    const events: Array<Record<string, unknown>> = [];
    const collect = (body: unknown) => {
      if (!body || typeof body !== 'object') return;
      const record = body as Record<string, unknown>;
      // Messages, places, subscriptions, groups and users are checked by the next test.
      if (/messages|mailFolders|places|subscriptions|#groups$|#users$/.test(String(record['@odata.context'] ?? ''))) return;
      if (Array.isArray(record['responses'])) for (const response of record['responses'] as Array<{ body?: unknown }>) collect(response.body);
      if (Array.isArray(record['value'])) for (const event of record['value'] as unknown[]) events.push(event as Record<string, unknown>);
      else if (typeof record['id'] === 'string' && String(record['@odata.context'] ?? '').includes('/events')) events.push(record);
    };
    for (const answer of answers.filter((a) => a.service === 'graph')) collect(JSON.parse(answer.body));
    expect(events.length).toBeGreaterThan(30);
    const problems = events.map((event) => validateGraphBody('event', event, 'response')).filter((problem) => problem !== null);
    expect(problems.slice(0, 5)).toEqual([]);
    expect(events.some((event) => 'uid' in event || 'occurrenceId' in event)).toBe(false);
  });

  it('every eventMessage, room, room list, group and user is valid against the v1.0 CSDL', () => {
    const seen: Record<string, number> = {};
    const problems: unknown[] = [];
    for (const answer of answers.filter((a) => a.service === 'graph' && a.status < 300 && a.body.startsWith('{'))) {
      const body = JSON.parse(answer.body) as Record<string, unknown>;
      const context = String(body['@odata.context'] ?? '');
      const type = /\/messages|mailFolders/.test(context)
        ? 'eventMessage'
        : /microsoft\.graph\.roomList\/rooms$/.test(context)
          ? 'room'
          : /#places\/microsoft\.graph\.roomList$/.test(context)
            ? 'roomList'
            : /\$metadata#groups$/.test(context)
              ? 'group'
              : /\$metadata#users$/.test(context)
                ? 'user'
                : undefined;
      if (!type) continue;
      for (const item of Array.isArray(body['value']) ? (body['value'] as unknown[]) : [body]) {
        seen[type] = (seen[type] ?? 0) + 1;
        const problem = validateGraphBody(type, item, 'response');
        if (problem) problems.push({ type, problem });
        // directoryObject is an open type: the CSDL takes any property, so the sandbox is held to the declared ones.
        if (type === 'group' || type === 'user') {
          const declared = graphSchema.types[`microsoft.graph.${type}`]!.properties;
          const undeclared = Object.keys(item as object).filter((key) => !key.startsWith('@odata.') && !(key in declared));
          if (undeclared.length) problems.push({ type, undeclared });
        }
      }
    }
    expect(problems.slice(0, 5)).toEqual([]);
    for (const type of ['eventMessage', 'room', 'roomList', 'group', 'user']) expect(seen[type] ?? 0, type).toBeGreaterThan(0);
  });
});
