// The sandbox's EWS endpoint answers as strictly as Exchange documents it (issue #19): ChangeKeys on UpdateItem, an
// item without rights is "not found", the delegate refusal in both documented forms, the three throttling forms with
// per-item budget checks and the one-minute batch limit, FindItem page caps per version, the version a server
// speaks, time zones as Exchange writes them, and SOAPAction as Services.wsdl binds it.
import type { Agent } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../../src/sandbox/index.ts';
import { agentFor, all, E, faultCode, first, itemIds, messages, post, soap, T, text, type Auth, type EwsResponse } from './helpers.ts';

const ACCOUNT = EWS_DELEGATE_ACCOUNTS[2]!;
const delegate: Auth = { kind: 'basic', user: ACCOUNT, password: EWS_PASSWORD };
const TAG_URI = '<t:ExtendedFieldURI PropertySetId="8d406dd4-a20c-41db-a3a3-9f6d092c9a1c" PropertyName="CalpushKey" PropertyType="String"/>';
const ACTION = (operation: string) => `"http://schemas.microsoft.com/exchange/services/2006/messages/${operation}"`;

let sandbox: SandboxInternals;
let agent: Agent;
beforeAll(async () => {
  sandbox = await startSandbox();
  agent = agentFor(sandbox.caPem);
});
afterAll(async () => {
  agent.destroy();
  await sandbox.close();
});

const calendarOf = (mailbox: string) => `<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>${mailbox}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`;
const operationOf = (body: string) => /<m:(\w+)/.exec(body)![1]!;

function ews(body: string, mailbox: string, options: { version?: string; action?: string | null } = {}): Promise<EwsResponse> {
  const headers: Record<string, string> = { 'x-anchormailbox': mailbox };
  if (options.action !== null) headers['soapaction'] = options.action ?? ACTION(operationOf(body));
  return post(sandbox.ewsUrl, agent, soap(body, `<t:RequestServerVersion Version="${options.version ?? 'Exchange2013'}"/>`), delegate, headers);
}

function calendarItem(n: number, extra = ''): string {
  return `<t:CalendarItem><t:Subject>Item ${n}</t:Subject><t:ExtendedProperty>${TAG_URI}<t:Value>v1;strict;${n}</t:Value></t:ExtendedProperty>` +
    `<t:Start>2026-10-0${1 + (n % 9)}T08:00:00Z</t:Start><t:End>2026-10-0${1 + (n % 9)}T09:00:00Z</t:End>${extra}</t:CalendarItem>`;
}

async function create(mailbox: string, count: number, extra = ''): Promise<Array<{ id: string; changeKey: string }>> {
  const items = Array.from({ length: count }, (_, n) => calendarItem(n, extra)).join('');
  const r = await ews(`<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>${calendarOf(mailbox)}</m:SavedItemFolderId><m:Items>${items}</m:Items></m:CreateItem>`, mailbox);
  expect(messages(r).every((m) => m.cls === 'Success')).toBe(true);
  return itemIds(r);
}

const update = (id: string, changeKey: string | null, subject: string, mode = 'AlwaysOverwrite') =>
  `<m:UpdateItem ConflictResolution="${mode}" SendMeetingInvitationsOrCancellations="SendToNone"><m:ItemChanges><t:ItemChange>` +
  `<t:ItemId Id="${id}"${changeKey === null ? '' : ` ChangeKey="${changeKey}"`}/><t:Updates><t:SetItemField><t:FieldURI FieldURI="item:Subject"/>` +
  `<t:CalendarItem><t:Subject>${subject}</t:Subject></t:CalendarItem></t:SetItemField></t:Updates></t:ItemChange></m:ItemChanges></m:UpdateItem>`;
const remove = (ids: Array<{ id: string }>) => `<m:DeleteItem DeleteType="HardDelete" SendMeetingCancellations="SendToNone"><m:ItemIds>${ids.map((i) => `<t:ItemId Id="${i.id}"/>`).join('')}</m:ItemIds></m:DeleteItem>`;

describe('ChangeKey (case 1)', () => {
  it('UpdateItem needs the current ChangeKey even under AlwaysOverwrite: none → ErrorChangeKeyRequiredForWriteOperations, stale → ErrorStaleObject', async () => {
    const mailbox = 's0031@contoso.edu';
    const [item] = await create(mailbox, 1);
    expect(messages(await ews(update(item!.id, null, 'x'), mailbox))[0]).toMatchObject({ cls: 'Error', code: 'ErrorChangeKeyRequiredForWriteOperations' });
    const first = await ews(update(item!.id, item!.changeKey, 'First'), mailbox);
    expect(messages(first)[0]!.cls).toBe('Success');
    expect(messages(await ews(update(item!.id, item!.changeKey, 'Stale'), mailbox))[0]).toMatchObject({ cls: 'Error', code: 'ErrorStaleObject' });
    expect(messages(await ews(update(item!.id, item!.changeKey, 'Stale', 'NeverOverwrite'), mailbox))[0]).toMatchObject({ cls: 'Error', code: 'ErrorIrresolvableConflict' });
    expect(messages(await ews(update(item!.id, itemIds(first)[0]!.changeKey, 'Second', 'AutoResolve'), mailbox))[0]!.cls).toBe('Success');
  });
});

describe('rights (cases 2 and 5)', () => {
  it('an item in a calendar the account may not open is ErrorItemNotFound; the calendar itself ErrorAccessDenied or ErrorFolderNotFound', async () => {
    const mailbox = 's0032@contoso.edu';
    const [item] = await create(mailbox, 1);
    sandbox.ews.setDelegateRights(ACCOUNT, mailbox, false);
    try {
      for (const body of [update(item!.id, item!.changeKey, 'x'), remove([item!]), `<m:GetItem><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="${item!.id}"/></m:ItemIds></m:GetItem>`]) {
        expect(messages(await ews(body, mailbox))[0]).toMatchObject({ cls: 'Error', code: 'ErrorItemNotFound' });
      }
      const folder = `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${calendarOf(mailbox)}</m:FolderIds></m:GetFolder>`;
      expect(messages(await ews(folder, mailbox))[0]).toMatchObject({ cls: 'Error', code: 'ErrorAccessDenied' });
      sandbox.ews.setBehaviour({ delegateDenied: 'ErrorFolderNotFound' });
      expect(messages(await ews(folder, mailbox))[0]).toMatchObject({ cls: 'Error', code: 'ErrorFolderNotFound' });
    } finally {
      sandbox.ews.setBehaviour({ delegateDenied: 'ErrorAccessDenied' });
      sandbox.ews.setDelegateRights(ACCOUNT, mailbox, true);
    }
    expect(sandbox.listEvents(mailbox)).toHaveLength(1);
  });
});

describe('throttling forms (case 3)', () => {
  const over = async (form: 'fault' | 'http503' | 'innerError') => {
    sandbox.ews.setThrottling({ budgetItems: 2, budgetWindowMs: 60_000, form });
    const mailbox = 's0033@contoso.edu';
    const body = `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${calendarOf(mailbox)}</m:FolderIds></m:GetFolder>`;
    await ews(body, mailbox);
    await ews(body, mailbox);
    return ews(body, mailbox);
  };
  afterAll(() => sandbox.ews.setThrottling({ budgetItems: 6000, budgetWindowMs: 60_000, form: 'fault', batchTimeLimitMs: 60_000, overrun: 'items' }));

  it('HTTP 500 with ErrorServerBusy and BackOffMilliseconds', async () => {
    const r = await over('fault');
    expect(r.status).toBe(500);
    expect(faultCode(r)).toBe('ErrorServerBusy');
    expect(Number(text(r.root, T, 'Value'))).toBeGreaterThan(0);
  });

  it('HTTP 503 from IIS, no SOAP', async () => {
    const r = await over('http503');
    expect(r.status).toBe(503);
    expect(r.text).toMatch(/Service Unavailable/);
  });

  it('HTTP 200 whose items carry ErrorInternalServerError with an inner ErrorServerBusy', async () => {
    const r = await over('innerError');
    expect(r.status).toBe(200);
    expect(messages(r)[0]).toMatchObject({ cls: 'Error', code: 'ErrorInternalServerError' });
    const values = all(r.root, T, 'Value').map((v) => [v.getAttribute('Name'), v.textContent]);
    expect(values).toContainEqual(['InnerErrorResponseCode', 'ErrorServerBusy']);
    expect(values.find(([name]) => name === 'BackOffMilliseconds')).toBeTruthy();
  });

  it('checks the budget after each item: later items wait, and past the time limit the batch comes back half done', async () => {
    const mailbox = 's0034@contoso.edu';
    const createSix = () =>
      ews(`<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>${calendarOf(mailbox)}</m:SavedItemFolderId><m:Items>${Array.from({ length: 6 }, (_, n) => calendarItem(n)).join('')}</m:Items></m:CreateItem>`, mailbox);
    const before = sandbox.listEvents(mailbox).length;
    sandbox.ews.setSchemaValidation(false);
    try {
      // Three items per 300 ms: the fourth waits for the budget, inside the time limit; all six are done.
      sandbox.ews.setThrottling({ budgetItems: 3, budgetWindowMs: 300, perItem: true, batchTimeLimitMs: 10_000, overrun: 'items' });
      const started = Date.now();
      const delayed = await createSix();
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
      expect(messages(delayed).map((m) => m.code)).toEqual(Array(6).fill('NoError'));
      expect(sandbox.listEvents(mailbox).length - before).toBe(6);

      // Three items per 10 s and a limit of 250 ms: the rest is not done and says so.
      sandbox.ews.setThrottling({ budgetItems: 3, budgetWindowMs: 10_000, batchTimeLimitMs: 250, overrun: 'items' });
      const half = await createSix();
      expect(messages(half).map((m) => m.code)).toEqual(['NoError', 'NoError', 'NoError', 'ErrorTimeoutExpired', 'ErrorTimeoutExpired', 'ErrorTimeoutExpired']);
      expect(sandbox.listEvents(mailbox).length - before).toBe(9);

      // The other answer to the time limit: a fault, although the first items were done.
      sandbox.ews.setThrottling({ overrun: 'fault' });
      const cut = await createSix();
      expect(cut.status).toBe(500);
      expect(faultCode(cut)).toBe('ErrorTimeoutExpired');
      expect(sandbox.listEvents(mailbox).length - before).toBe(12);
    } finally {
      sandbox.ews.setSchemaValidation(true);
    }
  });
});

describe('versions (case 4 and #14 item 4)', () => {
  afterAll(() => sandbox.ews.setBehaviour({ serverVersion: 'Exchange2016' }));
  const find = (mailbox: string, restricted: boolean) =>
    `<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="1000" Offset="0" BasePoint="Beginning"/>` +
    `${restricted ? `<m:Restriction><t:Exists>${TAG_URI}</t:Exists></m:Restriction>` : ''}<m:ParentFolderIds>${calendarOf(mailbox)}</m:ParentFolderIds></m:FindItem>`;

  it('a restricted FindItem page holds 250 items from Exchange 2013 on, 1000 on Exchange 2010; without a restriction 1000', async () => {
    const mailbox = 's0035@contoso.edu';
    for (let n = 0; n < 3; n++) await create(mailbox, 100);
    const page = (r: EwsResponse) => ({ items: all(r.root, T, 'ItemId').length, last: first(r.root, 'http://schemas.microsoft.com/exchange/services/2006/messages', 'RootFolder')!.getAttribute('IncludesLastItemInRange') });
    expect(page(await ews(find(mailbox, true), mailbox))).toEqual({ items: 250, last: 'false' });
    expect(page(await ews(find(mailbox, false), mailbox))).toEqual({ items: 300, last: 'true' });
    sandbox.ews.setBehaviour({ serverVersion: 'Exchange2010_SP2' });
    expect(page(await ews(find(mailbox, true), mailbox, { version: 'Exchange2010_SP2' }))).toEqual({ items: 300, last: 'true' });
  });

  it('Exchange 2010 SP2 refuses a newer RequestServerVersion, and WorkingElsewhere fails its schema', async () => {
    const mailbox = 's0036@contoso.edu';
    sandbox.ews.setBehaviour({ serverVersion: 'Exchange2010_SP2' });
    const newer = await ews(find(mailbox, false), mailbox, { version: 'Exchange2013' });
    expect(faultCode(newer)).toBe('ErrorInvalidServerVersion');
    const body = `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>${calendarOf(mailbox)}</m:SavedItemFolderId><m:Items>${calendarItem(1, '<t:LegacyFreeBusyStatus>WorkingElsewhere</t:LegacyFreeBusyStatus>').replace('</t:End><t:LegacyFreeBusyStatus>', '</t:End><t:IsAllDayEvent>false</t:IsAllDayEvent><t:LegacyFreeBusyStatus>')}</m:Items></m:CreateItem>`;
    const refused = await ews(body, mailbox, { version: 'Exchange2010_SP2' });
    expect(faultCode(refused)).toBe('ErrorSchemaValidation');
    expect(text(refused.root, T, 'Violation')).toMatch(/WorkingElsewhere/);
    const ok = await ews(find(mailbox, false), mailbox, { version: 'Exchange2010_SP2' });
    expect(first(ok.root, T, 'ServerVersionInfo')!.getAttribute('Version')).toBe('Exchange2010_SP2');
    sandbox.ews.setBehaviour({ serverVersion: 'Exchange2016' });
    expect(messages(await ews(body, mailbox))[0]!.cls).toBe('Success');
  });
});

describe('time zones (case 6)', () => {
  it('items carry the full StartTimeZone definition and the Windows display name in TimeZone', async () => {
    const mailbox = 's0037@contoso.edu';
    const r0 = await ews(
      `<m:CreateItem SendMeetingInvitations="SendToNone"><m:SavedItemFolderId>${calendarOf(mailbox)}</m:SavedItemFolderId><m:Items><t:CalendarItem><t:Subject>Zoned</t:Subject>` +
        `<t:Start>2026-10-01T09:00:00</t:Start><t:End>2026-10-01T10:00:00</t:End><t:StartTimeZone Id="W. Europe Standard Time"/><t:EndTimeZone Id="W. Europe Standard Time"/></t:CalendarItem></m:Items></m:CreateItem>`,
      mailbox,
    );
    const [item] = itemIds(r0);
    const r = await ews(
      `<m:GetItem><m:ItemShape><t:BaseShape>AllProperties</t:BaseShape></m:ItemShape><m:ItemIds><t:ItemId Id="${item!.id}"/></m:ItemIds></m:GetItem>`,
      mailbox,
    );
    expect(text(r.root, T, 'TimeZone')).toBe('(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna');
    const start = first(r.root, T, 'StartTimeZone')!;
    expect(start.getAttribute('Id')).toBe('W. Europe Standard Time');
    expect(start.getAttribute('Name')).toBe('(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna');
    const periods = all(start, T, 'Period').map((p) => [p.getAttribute('Name'), p.getAttribute('Bias')]);
    expect(periods).toEqual([
      ['Standard', '-PT1H'],
      ['Daylight', '-PT2H'],
    ]);
    // Last Sunday of March at 02:00 to summer time, last Sunday of October at 03:00 back.
    const transitions = all(start, T, 'RecurringDayTransition').map((t) => ['Month', 'DayOfWeek', 'Occurrence', 'TimeOffset'].map((n) => text(t, T, n)).join(' '));
    expect(transitions).toEqual(['3 Sunday -1 PT2H', '10 Sunday -1 PT3H']);
    expect(text(r.root, T, 'Start')).toBe('2026-10-01T07:00:00Z');
  });
});

describe('SOAPAction', () => {
  it('is recorded when missing and refused when it names another operation', async () => {
    const mailbox = 's0038@contoso.edu';
    sandbox.ews.resetStats();
    const body = `<m:GetFolder><m:FolderShape><t:BaseShape>IdOnly</t:BaseShape></m:FolderShape><m:FolderIds>${calendarOf(mailbox)}</m:FolderIds></m:GetFolder>`;
    expect((await ews(body, mailbox)).status).toBe(200);
    expect((await ews(body, mailbox, { action: null })).status).toBe(200);
    const wrong = await ews(body, mailbox, { action: ACTION('DeleteItem') });
    expect(wrong.status).toBe(500);
    expect(text(wrong.root, '', 'faultcode')).toBe('s:Client');
    expect(text(wrong.root, E, 'ResponseCode')).toBe('ErrorInvalidRequest');
    expect(sandbox.ews.stats()).toMatchObject({ soapActionMissing: 1, soapActionMismatch: 1 });
  });
});
