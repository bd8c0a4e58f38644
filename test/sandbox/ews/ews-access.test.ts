// The sandbox's EWS endpoint: authentication (Basic, NTLM), delegate vs impersonation rights and their errors,
// schema rejection, throttling (ErrorServerBusy with BackOffMilliseconds, EWSMaxConcurrency) and X-AnchorMailbox stats.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRequire } from 'node:module';
import type { Agent } from 'node:https';
import { EWS_DELEGATE_ACCOUNTS, EWS_IMPERSONATION_ACCOUNT, EWS_NO_RIGHTS_ACCOUNT, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../../src/sandbox/index.ts';
import { md4, ntowfv2 } from '../../../src/sandbox/ews/ntlm.ts';
import { agentFor, E, faultCode, first, impersonationHeader, messages, post, sentRequests, soap, T, text, xmllintFailures, type Auth, type EwsResponse } from './helpers.ts';

const require = createRequire(import.meta.url);
const ntlmClient = require('@ewsjs/ntlm-client') as {
  createType1Message(workstation?: string, target?: string): string;
  decodeType2Message(header: string): unknown;
  createType3Message(type2: unknown, username: string, password: string, workstation?: string, target?: string): string;
};

const STUDENT = 's0007@contoso.edu';
const delegate: Auth = { kind: 'basic', user: EWS_DELEGATE_ACCOUNTS[1]!, password: EWS_PASSWORD };
const rooms: Auth = { kind: 'basic', user: EWS_IMPERSONATION_ACCOUNT, password: EWS_PASSWORD };
const noRights: Auth = { kind: 'basic', user: EWS_NO_RIGHTS_ACCOUNT, password: EWS_PASSWORD };

let sandbox: SandboxInternals;
let agent: Agent;
let room: string;

const findCalendar = (folder: string) => `<m:FindItem Traversal="Shallow">
      <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape></m:ItemShape>
      <m:IndexedPageItemView MaxEntriesReturned="10" Offset="0" BasePoint="Beginning"/>
      <m:ParentFolderIds>${folder}</m:ParentFolderIds>
    </m:FindItem>`;
const calendarOf = (mailbox: string) => `<t:DistinguishedFolderId Id="calendar"><t:Mailbox><t:EmailAddress>${mailbox}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`;

async function ews(body: string, auth: Auth, header?: string, anchor: string | null = STUDENT, a: Agent = agent): Promise<EwsResponse> {
  return post(sandbox.ewsUrl, a, soap(body, header), auth, anchor ? { 'x-anchormailbox': anchor } : {});
}

beforeAll(async () => {
  sandbox = await startSandbox();
  agent = agentFor(sandbox.caPem);
  room = sandbox.listMailboxes().find((m) => m.kind === 'room')!.address;
});

afterAll(async () => {
  agent.destroy();
  await sandbox.close();
});

describe('EWS authentication', () => {
  it('MD4 and NTOWFv2 match the published test vectors', () => {
    // RFC 1320 A.5; [MS-NLMP] 4.2.4.1.1 (User "User", UserDom "Domain", Passwd "Password").
    expect(md4(Buffer.from('abc')).toString('hex')).toBe('a448017aaf21d8525fc10ae87aa6729d');
    expect(md4(Buffer.from('message digest')).toString('hex')).toBe('d9130a8164549fe818874806e1c7014b');
    expect(ntowfv2('Password', 'User', 'Domain').toString('hex')).toBe('0c868a403bfd7a93a3001ef22ef02e3f');
  });

  it('no credentials → 401 offering NTLM and Basic; a wrong password → 401', async () => {
    const none = await ews(findCalendar(calendarOf(STUDENT)), { kind: 'none' });
    expect(none.status).toBe(401);
    // Two WWW-Authenticate headers (node's client joins them).
    expect(none.headers['www-authenticate']).toBe('NTLM, Basic realm="mail.contoso.edu"');
    const wrong = await ews(findCalendar(calendarOf(STUDENT)), { kind: 'basic', user: EWS_DELEGATE_ACCOUNTS[1]!, password: 'wrong' });
    expect(wrong.status).toBe(401);
    const unknown = await ews(findCalendar(calendarOf(STUDENT)), { kind: 'basic', user: 'nobody@contoso.edu', password: EWS_PASSWORD });
    expect(unknown.status).toBe(401);
  });

  it('Basic works with the UPN and with DOMAIN\\user', async () => {
    const upn = await ews(findCalendar(calendarOf(STUDENT)), delegate);
    expect(upn.status).toBe(200);
    const down = await ews(findCalendar(calendarOf(STUDENT)), { kind: 'basic', user: 'CONTOSO\\svc-mytt-2', password: EWS_PASSWORD });
    expect(down.status).toBe(200);
    expect(messages(down)[0]?.cls).toBe('Success');
  });

  it('NTLMv2 handshake (type 1 → 401 type 2 → type 3) authenticates the connection', async () => {
    const ntlmAgent = agentFor(sandbox.caPem);
    try {
      const before = sandbox.ews.stats();
      const res = await ews(findCalendar(calendarOf(STUDENT)), { kind: 'ntlm', user: 'svc-mytt-3', domain: 'CONTOSO', password: EWS_PASSWORD }, undefined, STUDENT, ntlmAgent);
      expect(res.status).toBe(200);
      expect(messages(res)[0]?.cls).toBe('Success');
      const after = sandbox.ews.stats();
      expect(after.logins.ntlm - before.logins.ntlm).toBe(1);
      expect(after.perAccount[EWS_DELEGATE_ACCOUNTS[2]!]?.requests).toBe(1);
      // Same TCP connection, no Authorization header: still authenticated (as IIS keeps NTLM connections).
      const again = await ews(findCalendar(calendarOf(STUDENT)), { kind: 'none' }, undefined, STUDENT, ntlmAgent);
      expect(again.status).toBe(200);
      expect(sandbox.ews.stats().perAccount[EWS_DELEGATE_ACCOUNTS[2]!]?.requests).toBe(2);
    } finally {
      ntlmAgent.destroy();
    }
    // A new connection without credentials is not.
    const fresh = agentFor(sandbox.caPem);
    try {
      expect((await ews(findCalendar(calendarOf(STUDENT)), { kind: 'none' }, undefined, STUDENT, fresh)).status).toBe(401);
    } finally {
      fresh.destroy();
    }
  });

  it('NTLM with a wrong password → 401', async () => {
    const ntlmAgent = agentFor(sandbox.caPem);
    try {
      const res = await ews(findCalendar(calendarOf(STUDENT)), { kind: 'ntlm', user: 'svc-mytt-3', domain: 'CONTOSO', password: 'not-the-password' }, undefined, STUDENT, ntlmAgent);
      expect(res.status).toBe(401);
    } finally {
      ntlmAgent.destroy();
    }
  });

  it('a third-party NTLM client (@ewsjs/ntlm-client, OEM encoding) authenticates too', async () => {
    const ntlmAgent = agentFor(sandbox.caPem);
    try {
      const body = soap(findCalendar(calendarOf(STUDENT)));
      const challenge = await post(sandbox.ewsUrl, ntlmAgent, body, { kind: 'raw', header: ntlmClient.createType1Message('TESTHOST', 'CONTOSO') });
      expect(challenge.status).toBe(401);
      const type2 = ntlmClient.decodeType2Message(String(challenge.headers['www-authenticate']));
      const res = await post(sandbox.ewsUrl, ntlmAgent, body, { kind: 'raw', header: ntlmClient.createType3Message(type2, 'svc-mytt-4', EWS_PASSWORD, 'TESTHOST', 'CONTOSO') });
      expect(res.status).toBe(200);
      expect(sandbox.ews.stats().perAccount[EWS_DELEGATE_ACCOUNTS[3]!]?.requests).toBeGreaterThanOrEqual(1);
    } finally {
      ntlmAgent.destroy();
    }
  });
});

describe('EWS access: delegate and impersonation', () => {
  it('a delegate account reaches the calendars its group has permission on, not others', async () => {
    expect(messages(await ews(findCalendar(calendarOf(STUDENT)), delegate))[0]?.cls).toBe('Success');
    const denied = await ews(findCalendar(calendarOf('outofscope@contoso.edu')), delegate);
    expect(denied.status).toBe(200);
    expect(messages(denied)[0]).toMatchObject({ cls: 'Error', code: 'ErrorAccessDenied', text: 'Access is denied. Check credentials and try again.' });
    expect(messages(await ews(findCalendar(calendarOf(STUDENT)), noRights))[0]).toMatchObject({ cls: 'Error', code: 'ErrorAccessDenied' });
  });

  it('unknown mailbox → ErrorNonExistentMailbox; no Mailbox for an account without a mailbox → ErrorMissingEmailAddress', async () => {
    expect(messages(await ews(findCalendar(calendarOf('ghost@contoso.edu')), delegate))[0]).toMatchObject({ cls: 'Error', code: 'ErrorNonExistentMailbox' });
    expect(messages(await ews(findCalendar(calendarOf('nomailbox@contoso.edu')), delegate))[0]).toMatchObject({ cls: 'Error', code: 'ErrorNonExistentMailbox' });
    expect(messages(await ews(findCalendar('<t:DistinguishedFolderId Id="calendar"/>'), delegate))[0]).toMatchObject({ cls: 'Error', code: 'ErrorMissingEmailAddress' });
  });

  it('impersonation inside the management scope works (PrimarySmtpAddress, SmtpAddress, PrincipalName)', async () => {
    for (const element of ['PrimarySmtpAddress', 'SmtpAddress', 'PrincipalName']) {
      const res = await ews(findCalendar('<t:DistinguishedFolderId Id="calendar"/>'), rooms, impersonationHeader(room, element), room);
      expect(res.status).toBe(200);
      expect(messages(res)[0]?.cls).toBe('Success');
    }
    const equipment = await ews(findCalendar('<t:DistinguishedFolderId Id="calendar"/>'), rooms, impersonationHeader('vmr-scheduling@contoso.edu'), 'vmr-scheduling@contoso.edu');
    expect(messages(equipment)[0]?.cls).toBe('Success');
  });

  it('impersonation outside the scope, or by an account without the role → SOAP fault ErrorImpersonateUserDenied (HTTP 500)', async () => {
    for (const auth of [rooms, delegate, noRights]) {
      const res = await ews(findCalendar('<t:DistinguishedFolderId Id="calendar"/>'), auth, impersonationHeader(STUDENT), STUDENT);
      expect(res.status).toBe(500);
      expect(faultCode(res)).toBe('ErrorImpersonateUserDenied');
      expect(text(res.root, '', 'faultcode')).toBe('a:ErrorImpersonateUserDenied');
      expect(text(res.root, E, 'Message')).toBe('The account does not have permission to impersonate the requested user.');
    }
    const ghost = await ews(findCalendar('<t:DistinguishedFolderId Id="calendar"/>'), rooms, impersonationHeader('ghost@contoso.edu'), 'ghost@contoso.edu');
    expect(ghost.status).toBe(500);
    expect(faultCode(ghost)).toBe('ErrorNonExistentMailbox');
  });

  it('an impersonating request cannot reach another mailbox through DistinguishedFolderId/Mailbox', async () => {
    const res = await ews(findCalendar(calendarOf(STUDENT)), rooms, impersonationHeader(room), room);
    expect(messages(res)[0]).toMatchObject({ cls: 'Error', code: 'ErrorAccessDenied' });
  });

  it('X-AnchorMailbox: missing and mismatching headers are counted per account', async () => {
    sandbox.ews.resetStats();
    await ews(findCalendar(calendarOf(STUDENT)), delegate, undefined, null);
    await ews(findCalendar('<t:DistinguishedFolderId Id="calendar"/>'), rooms, impersonationHeader(room), STUDENT);
    const stats = sandbox.ews.stats();
    expect(stats.perAccount[EWS_DELEGATE_ACCOUNTS[1]!]).toMatchObject({ requests: 1, anchorMailboxMissing: 1 });
    expect(stats.perAccount[EWS_IMPERSONATION_ACCOUNT]).toMatchObject({ requests: 1, anchorMailboxMissing: 0, anchorMailboxMismatch: 1, impersonated: 1 });
    expect(stats.perAccount[EWS_IMPERSONATION_ACCOUNT]?.anchorMailboxes).toEqual({ [STUDENT]: 1 });
  });
});

describe('EWS schema validation', () => {
  it.runIf(true)('a request that breaks the schema → HTTP 500 ErrorSchemaValidation with line, position and violation', async () => {
    expect(sandbox.ews.schemaValidationAvailable).toBe(true);
    // Location before Start: out of the CalendarItem sequence.
    const body = soap(`<m:CreateItem SendMeetingInvitations="SendToNone">
      <m:SavedItemFolderId>${calendarOf(STUDENT)}</m:SavedItemFolderId>
      <m:Items><t:CalendarItem>
        <t:Subject>Out of order</t:Subject>
        <t:Location>Room 1</t:Location>
        <t:Start>2026-09-01T08:00:00Z</t:Start>
        <t:End>2026-09-01T09:00:00Z</t:End>
      </t:CalendarItem></m:Items>
    </m:CreateItem>`);
    const before = sandbox.listEvents(STUDENT).length;
    const res = await post(sandbox.ewsUrl, agent, body, delegate, { 'x-anchormailbox': STUDENT }, false);
    expect(res.status).toBe(500);
    expect(faultCode(res)).toBe('ErrorSchemaValidation');
    expect(text(res.root, '', 'faultcode')).toBe('a:ErrorSchemaValidation');
    expect(text(res.root, '', 'faultstring')).toMatch(/^The request failed schema validation: /);
    expect(text(res.root, E, 'Message')).toBe('The request failed schema validation.');
    const lineNumber = Number(text(res.root, T, 'LineNumber'));
    expect(body.split('\n')[lineNumber - 1]).toContain('<t:Start>');
    expect(Number(text(res.root, T, 'LinePosition'))).toBeGreaterThan(1);
    expect(text(res.root, T, 'Violation')).toContain('Start');
    expect(sandbox.listEvents(STUDENT).length).toBe(before);
    expect(sandbox.ews.stats().schemaRejected).toBeGreaterThanOrEqual(1);
  });

  it('a PropertySetId in braces is not a GuidType (the client must send the bare GUID)', async () => {
    const body = soap(`<m:FindItem Traversal="Shallow">
      <m:ItemShape><t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties><t:ExtendedFieldURI PropertySetId="{7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c}" PropertyName="CalpushKey" PropertyType="String"/></t:AdditionalProperties></m:ItemShape>
      <m:ParentFolderIds>${calendarOf(STUDENT)}</m:ParentFolderIds>
    </m:FindItem>`);
    const res = await post(sandbox.ewsUrl, agent, body, delegate, { 'x-anchormailbox': STUDENT }, false);
    expect(res.status).toBe(500);
    expect(faultCode(res)).toBe('ErrorSchemaValidation');
    expect(text(res.root, T, 'Violation')).toContain('PropertySetId');
  });

  it('malformed XML → ErrorSchemaValidation too', async () => {
    const res = await post(sandbox.ewsUrl, agent, soap('<m:GetRoomLists>'), delegate, {}, false);
    expect(res.status).toBe(500);
    expect(faultCode(res)).toBe('ErrorSchemaValidation');
  });
});

describe('EWS throttling', () => {
  it('over the rate budget → SOAP fault ErrorServerBusy with BackOffMilliseconds; budgets are per account', async () => {
    sandbox.ews.resetStats();
    sandbox.ews.setThrottling({ budgetItems: 3, budgetWindowMs: 60_000 });
    try {
      for (let i = 0; i < 3; i++) expect((await ews(findCalendar(calendarOf(STUDENT)), delegate)).status).toBe(200);
      const busy = await ews(findCalendar(calendarOf(STUDENT)), delegate);
      expect(busy.status).toBe(500);
      expect(faultCode(busy)).toBe('ErrorServerBusy');
      expect(text(busy.root, '', 'faultcode')).toBe('a:ErrorServerBusy');
      const value = first(busy.root, T, 'Value');
      expect(value?.getAttribute('Name')).toBe('BackOffMilliseconds');
      const backOff = Number(value?.textContent);
      expect(backOff).toBeGreaterThan(50_000);
      expect(backOff).toBeLessThanOrEqual(60_000);
      // Another service account has its own budget (why MyTimetable uses several).
      expect((await ews(findCalendar(calendarOf(STUDENT)), { kind: 'basic', user: EWS_DELEGATE_ACCOUNTS[0]!, password: EWS_PASSWORD })).status).toBe(200);
      const stats = sandbox.ews.stats();
      expect(stats.perAccount[EWS_DELEGATE_ACCOUNTS[1]!]).toMatchObject({ requests: 4, busy: 1 });
    } finally {
      sandbox.ews.setThrottling({ budgetItems: 6000, budgetWindowMs: 60_000 });
    }
  });

  it('more requests in flight than EWSMaxConcurrency → ErrorExceededConnectionCount; stats keep the peak', async () => {
    sandbox.ews.resetStats();
    sandbox.ews.setThrottling({ maxConcurrency: 2 });
    // Without schema validation (serialised xmllint runs would spread the requests out in time).
    sandbox.ews.setSchemaValidation(false);
    sandbox.setLatency({ perRequestMs: 1500 });
    const agents = [0, 1, 2].map(() => agentFor(sandbox.caPem));
    try {
      const body = findCalendar(calendarOf(STUDENT));
      // The three requests would hold their slots for 1.5 s each.
      const results = await Promise.all(agents.map((a) => ews(body, delegate, undefined, STUDENT, a)));
      const codes = results.map((r) => (r.status === 200 ? 'ok' : faultCode(r))).sort();
      expect(codes).toEqual(['ErrorExceededConnectionCount', 'ok', 'ok']);
      expect(sandbox.ews.stats().perAccount[EWS_DELEGATE_ACCOUNTS[1]!]).toMatchObject({ maxConcurrent: 2, overConcurrency: 1 });
    } finally {
      sandbox.setLatency({ perRequestMs: 0 });
      sandbox.ews.setSchemaValidation(true);
      sandbox.ews.setThrottling({ maxConcurrency: 27 });
      for (const a of agents) a.destroy();
    }
  });
});

describe('EWS requests of this file', () => {
  it('validate against messages.xsd', () => {
    expect(xmllintFailures(sentRequests)).toEqual([]);
  });
});
