// The sandbox's delegated access, driven as a browser and msal-node would: /authorize with its sign-in form and
// consent screen, the code redeemed with PKCE (msal-node's own getAuthCodeUrl and acquireTokenByCode), refresh tokens
// that rotate (the old one staying valid, as Entra's do), expire and are revoked, and delegated tokens that Graph
// accepts for the signed-in user's own mailbox only.
import { ConfidentialClientApplication, CryptoProvider } from '@azure/msal-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { studentAddress } from '../../src/sandbox/tenant.ts';
import { httpsRequest, msalNetworkClient, tokenRequest } from './helpers.ts';

let sandbox: SandboxInternals;
const REDIRECT = 'http://127.0.0.1:49152/connect/callback';
const SCOPES = ['Calendars.ReadWrite', 'offline_access', 'openid', 'profile', 'User.Read'];
const alice = studentAddress(1);
const bob = studentAddress(2);

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: defaultTenantSeed({ students: 4, staff: 1, rooms: 1 }) });
});
afterAll(async () => sandbox?.close());

function app(): ConfidentialClientApplication {
  return new ConfidentialClientApplication({
    auth: { clientId: sandbox.delegated.clientId, clientSecret: sandbox.delegated.clientSecret, authority: sandbox.authorityUrl, knownAuthorities: [new URL(sandbox.url).host] },
    system: { networkClient: msalNetworkClient(sandbox.caPem) },
  });
}

const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

/** A person's browser: follows the sign-in form and the consent screen, returns where Entra sent it back. */
async function signIn(url: string, user: string, options: { password?: string; decision?: 'accept' | 'cancel'; cookie?: string } = {}): Promise<{ location: URL; cookie: string; pages: string[] }> {
  const pages: string[] = [];
  let cookie = options.cookie ?? '';
  let response = await httpsRequest(url, { ca: sandbox.caPem, headers: cookie ? { cookie } : {} });
  const post = async (fields: Record<string, string>) =>
    httpsRequest(url.split('?')[0]!, { ca: sandbox.caPem, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) }, body: form(fields) });
  for (let step = 0; step < 3 && response.status === 200; step++) {
    pages.push(response.text);
    const flow = hidden(response.text, 'flow');
    if (response.text.includes('name="password"')) response = await post({ flow, step: 'sign-in', username: user, password: options.password ?? sandbox.delegated.userPassword });
    else response = await post({ flow, step: 'consent', decision: options.decision ?? 'accept' });
    cookie = response.headers['set-cookie']?.split(';')[0] ?? cookie;
  }
  if (response.status !== 302) throw new Error(`no redirect: ${response.status} ${response.text.slice(0, 300)}`);
  return { location: new URL(response.headers['location']!), cookie, pages };
}

async function connect(user: string) {
  const client = app();
  const pkce = await new CryptoProvider().generatePkceCodes();
  const url = await client.getAuthCodeUrl({ scopes: SCOPES, redirectUri: REDIRECT, codeChallenge: pkce.challenge, codeChallengeMethod: 'S256', state: 's1', nonce: 'n1', prompt: 'select_account' });
  const { location, pages } = await signIn(url, user);
  const code = location.searchParams.get('code')!;
  const result = await client.acquireTokenByCode({ code, scopes: SCOPES, redirectUri: REDIRECT, codeVerifier: pkce.verifier, state: 's1', nonce: 'n1' }, { code, state: location.searchParams.get('state')! });
  return { client, result, pages, code, verifier: pkce.verifier };
}

const graph = (token: string, path: string, method = 'GET', body?: unknown) =>
  httpsRequest(`${sandbox.graphBaseUrl}${path}`, { ca: sandbox.caPem, method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });

describe('delegated access in the sandbox', () => {
  it('signs a user in, asks for consent, and msal-node redeems the code with PKCE', async () => {
    const { result, pages } = await connect(alice);
    expect(pages[0]).toContain('<label for="username">Email address</label>');
    expect(pages[1]).toContain('Permissions requested');
    expect(pages[1]).toContain('Have full access to your calendars');
    expect(result.account?.username).toBe(alice);
    expect(result.idTokenClaims).toMatchObject({ preferred_username: alice, nonce: 'n1', tid: sandbox.tenantId });
    expect(result.scopes).toContain('Calendars.ReadWrite');
    expect(sandbox.delegated.hasConsent(alice)).toBe(true);
  });

  it('refuses a wrong password, a code redeemed twice, and a verifier that does not match', async () => {
    const client = app();
    const pkce = await new CryptoProvider().generatePkceCodes();
    const url = await client.getAuthCodeUrl({ scopes: SCOPES, redirectUri: REDIRECT, codeChallenge: pkce.challenge, codeChallengeMethod: 'S256' });
    const first = await httpsRequest(url, { ca: sandbox.caPem });
    const wrong = await httpsRequest(url.split('?')[0]!, { ca: sandbox.caPem, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form({ flow: hidden(first.text, 'flow'), step: 'sign-in', username: alice, password: 'guess' }) });
    expect(wrong.status).toBe(401);
    expect(wrong.text).toContain('Your account or password is incorrect.');

    const { code, verifier } = await connect(bob);
    const redeem = (codeVerifier: string) => tokenRequest(sandbox, { grant_type: 'authorization_code', client_id: sandbox.delegated.clientId, client_secret: sandbox.delegated.clientSecret, code, redirect_uri: REDIRECT, code_verifier: codeVerifier });
    expect((await redeem(verifier)).json['error_codes']).toEqual([54005]);
    const other = await signIn(await client.getAuthCodeUrl({ scopes: SCOPES, redirectUri: REDIRECT, codeChallenge: pkce.challenge, codeChallengeMethod: 'S256' }), bob);
    const mismatch = await tokenRequest(sandbox, { grant_type: 'authorization_code', client_id: sandbox.delegated.clientId, client_secret: sandbox.delegated.clientSecret, code: other.location.searchParams.get('code')!, redirect_uri: REDIRECT, code_verifier: 'x'.repeat(43) });
    expect(mismatch.json['error_codes']).toEqual([50148]);
  });

  it('shows an unregistered redirect URI on its own page, and a declined consent as access_denied', async () => {
    const client = app();
    const bad = await httpsRequest(await client.getAuthCodeUrl({ scopes: SCOPES, redirectUri: 'https://evil.example/cb' }), { ca: sandbox.caPem });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('AADSTS50011');
    const declined = await signIn(await client.getAuthCodeUrl({ scopes: SCOPES, redirectUri: REDIRECT, state: 'x' }), studentAddress(3), { decision: 'cancel' });
    expect(declined.location.searchParams.get('error')).toBe('access_denied');
    expect(declined.location.searchParams.get('error_description')).toMatch(/^AADSTS65004/);
  });

  it('a delegated token reaches the signed-in user’s mailbox only: 403 for another user', async () => {
    const { result } = await connect(alice);
    const token = result.accessToken;
    expect((await graph(token, '/me/events', 'POST', { subject: 'Mine', start: { dateTime: '2026-09-01T09:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-01T10:00:00', timeZone: 'UTC' } })).status).toBe(201);
    expect((await graph(token, `/users/${alice}/events?$top=1`)).status).toBe(200);
    const other = await graph(token, `/users/${bob}/events?$top=1`);
    expect(other.status).toBe(403);
    expect(JSON.parse(other.text).error.code).toBe('ErrorAccessDenied');
    const me = JSON.parse((await graph(token, '/me?$select=mail,userPrincipalName,proxyAddresses')).text);
    expect(me.proxyAddresses).toEqual([`SMTP:${alice}`, expect.stringMatching(/^smtp:[a-z.]+\.1@contoso\.edu$/)]);
  });

  it('refresh tokens rotate; revoked consent, revoked sessions and 90 days unused end them with invalid_grant', async () => {
    const { result } = await connect(alice);
    const refresh = async (token: string) => tokenRequest(sandbox, { grant_type: 'refresh_token', client_id: sandbox.delegated.clientId, client_secret: sandbox.delegated.clientSecret, refresh_token: token, scope: SCOPES.join(' ') });
    const issued = sandbox.delegated.refreshTokensIssued();
    const first = issued[issued.length - 1]!;
    const second = await refresh(first);
    expect(second.status).toBe(200);
    expect(second.json['refresh_token']).not.toBe(first);
    // Entra does not revoke the old one on use.
    expect((await refresh(first)).status).toBe(200);

    sandbox.delegated.expireRefreshTokens(alice);
    expect((await refresh(second.json['refresh_token'] as string)).json).toMatchObject({ error: 'invalid_grant', error_codes: [700082] });

    const again = await connect(alice);
    const rt = sandbox.delegated.refreshTokensIssued().at(-1)!;
    sandbox.delegated.revokeConsent(alice);
    expect((await refresh(rt)).json).toMatchObject({ error: 'invalid_grant', error_codes: [65001] });
    // The access token issued before is refused at once (continuous access evaluation).
    const refused = await graph(again.result.accessToken, '/me/events?$top=1');
    expect(refused.status).toBe(401);
    expect(result.accessToken).not.toBe(again.result.accessToken);

    await connect(bob);
    const bobs = sandbox.delegated.refreshTokensIssued().at(-1)!;
    sandbox.delegated.revokeSessions(bob);
    expect((await refresh(bobs)).json).toMatchObject({ error: 'invalid_grant', error_codes: [50173] });
  });
});
