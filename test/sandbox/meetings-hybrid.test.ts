// Meetings across the merged sandbox: a hybrid organisation (routing) and delegated tokens (/me) meet the meeting
// engine. One store, two protocols: a meeting request to an attendee on-premises reaches that mailbox's store and is
// seen through EWS, not Graph; an online mailbox's inbox is not on-premises; a person signed in with a delegated token
// reaches the documented /me resources of the meetings work (calendarView/delta, accept) in their own mailbox only.
import type { Agent } from 'node:https';
import { ConfidentialClientApplication, CryptoProvider } from '@azure/msal-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, defaultTenantSeed, EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { demoToken, GraphClient, httpsRequest, msalNetworkClient, users } from './helpers.ts';
import { agentFor, impersonationHeader, messages, post, soap, type Auth } from './ews/helpers.ts';

const ORGANIZER = 't0001@contoso.edu';
const ON_PREMISES = 's0001@contoso.edu';
const ONLINE = 's0002@contoso.edu';
const SIGNED_IN = 's0003@contoso.edu';
const REDIRECT = 'http://127.0.0.1:49152/connect/callback';
const SCOPES = ['Calendars.ReadWrite', 'offline_access', 'openid', 'profile', 'User.Read'];
const scheduling: Auth = { kind: 'basic', user: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD };

const seed = defaultTenantSeed({ students: 4, staff: 1, rooms: 1 });
seed.mailboxes.find((m) => m.address === ON_PREMISES)!.home = 'onPremises';
seed.mailboxes.find((m) => m.address === ONLINE)!.home = 'online';
seed.mailboxes.find((m) => m.address === ORGANIZER)!.home = 'online';

let sandbox: SandboxInternals;
let graph: GraphClient;
let agent: Agent;

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed, clock: fixedClock('2026-09-01T08:00:00Z') });
  graph = new GraphClient(sandbox, await demoToken(sandbox, AGENT_CLIENT_ID, AGENT_CLIENT_SECRET));
  agent = agentFor(sandbox.caPem);
});
afterAll(async () => {
  agent?.destroy();
  await sandbox?.close();
});

function meeting(subject: string, attendees: string[], day: string): Record<string, unknown> {
  return {
    subject,
    start: { dateTime: `2026-10-${day}T09:00:00`, timeZone: 'UTC' },
    end: { dateTime: `2026-10-${day}T10:00:00`, timeZone: 'UTC' },
    attendees: attendees.map((address) => ({ emailAddress: { address }, type: 'required' })),
  };
}

const inboxRequest = '<m:FindItem Traversal="Shallow"><m:ItemShape><t:BaseShape>Default</t:BaseShape></m:ItemShape><m:IndexedPageItemView MaxEntriesReturned="100" Offset="0" BasePoint="Beginning"/><m:ParentFolderIds><t:DistinguishedFolderId Id="inbox"/></m:ParentFolderIds></m:FindItem>';
const ewsAs = (mailbox: string, body: string) => post(sandbox.ewsUrl, agent, soap(body, impersonationHeader(mailbox)), scheduling, { 'x-anchormailbox': mailbox });

describe('meetings in a hybrid organisation', () => {
  it('an online organiser’s request reaches an on-premises attendee’s store: EWS shows it, Graph says the mailbox is on-premises', async () => {
    const created = await graph.post(`${users(ORGANIZER)}/events`, meeting('Hybrid kickoff', [ON_PREMISES], '05'));
    expect(created.status).toBe(201);
    expect(sandbox.listMessages(ON_PREMISES)).toEqual([expect.objectContaining({ type: 'meetingRequest', subject: 'Hybrid kickoff', from: ORGANIZER, iCalUId: created.json.iCalUId })]);
    expect(sandbox.listEvents(ON_PREMISES).map((e) => e.iCalUId)).toContain(created.json.iCalUId);

    const found = await ewsAs(ON_PREMISES, inboxRequest);
    expect(messages(found)[0]?.code).toBe('NoError');
    expect(found.text).toContain('Hybrid kickoff');
    for (const path of ['/mailFolders/inbox/messages', '/calendarView/delta?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z']) {
      const refused = await graph.get(`${users(ON_PREMISES)}${path}`);
      expect(refused.status, path).toBe(404);
      expect(refused.json.error.code, path).toBe('MailboxNotEnabledForRESTAPI');
    }
    const subscribed = await graph.post('/subscriptions', { changeType: 'created', notificationUrl: 'https://127.0.0.1:9/hook', resource: `users/${ON_PREMISES}/events`, expirationDateTime: '2026-09-02T08:00:00Z' });
    expect(subscribed.status).toBe(404);
    expect(subscribed.json.error.code).toBe('MailboxNotEnabledForRESTAPI');
  });

  it('an online attendee’s inbox is not on-premises: EWS says ErrorNonExistentMailbox', async () => {
    const created = await graph.post(`${users(ORGANIZER)}/events`, meeting('Online only', [ONLINE], '06'));
    expect(created.status).toBe(201);
    expect(sandbox.listMessages(ONLINE)).toHaveLength(1);
    const explicit = await post(sandbox.ewsUrl, agent, soap(inboxRequest.replace('<t:DistinguishedFolderId Id="inbox"/>', `<t:DistinguishedFolderId Id="inbox"><t:Mailbox><t:EmailAddress>${ONLINE}</t:EmailAddress></t:Mailbox></t:DistinguishedFolderId>`)), scheduling);
    expect(messages(explicit)[0]?.code).toBe('ErrorNonExistentMailbox');
    expect((await graph.get(`${users(ONLINE)}/mailFolders/inbox/messages`)).status).toBe(200);
  });
});

describe('meetings with a delegated token', () => {
  async function signedInToken(user: string): Promise<string> {
    const client = new ConfidentialClientApplication({
      auth: { clientId: sandbox.delegated.clientId, clientSecret: sandbox.delegated.clientSecret, authority: sandbox.authorityUrl, knownAuthorities: [new URL(sandbox.url).host] },
      system: { networkClient: msalNetworkClient(sandbox.caPem) },
    });
    const pkce = await new CryptoProvider().generatePkceCodes();
    const url = await client.getAuthCodeUrl({ scopes: SCOPES, redirectUri: REDIRECT, codeChallenge: pkce.challenge, codeChallengeMethod: 'S256', state: 's1', nonce: 'n1' });
    let cookie = '';
    let response = await httpsRequest(url, { ca: sandbox.caPem });
    for (let step = 0; step < 3 && response.status === 200; step++) {
      const flow = /name="flow" value="([^"]*)"/.exec(response.text)?.[1] ?? '';
      const fields: Record<string, string> = response.text.includes('name="password"') ? { flow, step: 'sign-in', username: user, password: sandbox.delegated.userPassword } : { flow, step: 'consent', decision: 'accept' };
      response = await httpsRequest(url.split('?')[0]!, { ca: sandbox.caPem, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) }, body: new URLSearchParams(fields).toString() });
      cookie = response.headers['set-cookie']?.split(';')[0] ?? cookie;
    }
    const location = new URL(response.headers['location']!);
    const code = location.searchParams.get('code')!;
    const result = await client.acquireTokenByCode({ code, scopes: SCOPES, redirectUri: REDIRECT, codeVerifier: pkce.verifier, state: 's1', nonce: 'n1' }, { code, state: 's1' });
    return result.accessToken;
  }

  it('the person reads their calendarView/delta and accepts a meeting through /me; another person’s delta is refused', async () => {
    const me = new GraphClient(sandbox, await signedInToken(SIGNED_IN));
    const created = await graph.post(`${users(ORGANIZER)}/events`, meeting('Delegated answer', [SIGNED_IN], '07'));
    expect(created.status).toBe(201);

    const delta = await me.get('/me/calendarView/delta?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z');
    expect(delta.status).toBe(200);
    const copy = delta.json.value.find((e: any) => e.iCalUId === created.json.iCalUId);
    expect(copy).toBeDefined();

    const accepted = await me.post(`/me/events/${encodeURIComponent(copy.id)}/accept`, { sendResponse: true, comment: 'Yes' });
    expect(accepted.status).toBe(202);
    expect(sandbox.listMessages(ORGANIZER)).toContainEqual(expect.objectContaining({ type: 'meetingAccepted', from: SIGNED_IN }));

    const other = await me.get(`${users(ORGANIZER)}/calendarView/delta?startDateTime=2026-10-01T00:00:00Z&endDateTime=2026-11-01T00:00:00Z`);
    expect(other.status).toBe(403);
    expect(other.json.error.code).toBe('ErrorAccessDenied');
  });
});
