// Delegated access in the sandbox's Entra ID: the authorization code flow with PKCE for the tenant's users — a sign-in
// form, a consent screen, the code's redemption at the token endpoint — and refresh tokens with rotation, expiry and
// revocation; plus the delegated access tokens its Graph accepts for the signed-in user's own mailbox only.
//
// Microsoft's behaviour it follows:
// - the flow: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow (authorize request and
//   its parameters, the redirect with code/state/session_state, the redemption with code_verifier, the answer with
//   access_token, refresh_token, id_token, scope, expires_in; the error redirect error/error_description);
// - PKCE: RFC 7636, S256 ("code_challenge_method … S256 or plain", the same page); a verifier that does not match is
//   AADSTS50148, a code used twice AADSTS54005, an unknown or expired code AADSTS70000/70008
//   (https://learn.microsoft.com/entra/identity-platform/reference-error-codes);
// - redirect URIs: the registered one exactly, except that for a loopback address (127.0.0.1, localhost) the port
//   is ignored (https://learn.microsoft.com/entra/identity-platform/reply-url, "Localhost exceptions"); a mismatch
//   is AADSTS50011 shown on Entra's own page, never sent to the unregistered URI;
// - refresh tokens "replace themselves with a fresh token upon every use. The Microsoft identity platform doesn't
//   revoke old refresh tokens when used to fetch new access tokens"; they live 90 days; revoking a user's sessions
//   (revokeSignInSessions) revokes confidential clients' refresh tokens too, a password change does not
//   (https://learn.microsoft.com/entra/identity-platform/refresh-tokens, "Token lifetime", "Revocation"). A refresh
//   after revocation is invalid_grant AADSTS50173, after the grant was removed invalid_grant AADSTS65001, after
//   90 days unused AADSTS700082 (reference-error-codes);
// - the ID token (v2.0): aud = client id, iss = the tenant's v2.0 issuer, nonce, oid, tid, sub, preferred_username,
//   name (https://learn.microsoft.com/entra/identity-platform/id-token-claims-reference); client_info
//   (base64url {"uid","utid"}) when client_info=1 was sent, which msal builds its account ids from;
// - delegated access tokens: scp (space-separated scopes), oid, upn, idtyp "user"
//   (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference); with continuous access
//   evaluation a resource rejects a token whose user's sessions were revoked before it expires
//   (https://learn.microsoft.com/entra/identity/conditional-access/concept-continuous-access-evaluation, "Critical
//   event evaluation"): the sandbox's Graph answers such tokens 401 at once.
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { base64url } from './jwt.ts';
import { readBody, sendJson, type RequestContext, type Router } from './http.ts';
import type { MailboxSeed } from './types.ts';

/** Delegated Microsoft Graph permissions (and OpenID scopes) the sandbox knows. */
const KNOWN_SCOPES = ['openid', 'profile', 'email', 'offline_access', 'User.Read', 'Calendars.Read', 'Calendars.ReadWrite'];
const OIDC_SCOPES = new Set(['openid', 'profile', 'email', 'offline_access']);
const CODE_LIFETIME_MS = 10 * 60_000;
const REFRESH_LIFETIME_MS = 90 * 86_400_000;
/** The password of every user of the sandbox tenant (sandbox only). */
export const USER_PASSWORD = 'User-Sandbox-2026!';

export interface DelegatedUser {
  address: string;
  objectId: string;
  displayName: string;
  aliases: string[];
}

interface Flow {
  clientId: string;
  redirectUri: string;
  responseMode: 'query' | 'form_post';
  scopes: string[];
  state: string | null;
  nonce: string | null;
  codeChallenge: string | null;
  codeChallengeMethod: 'S256' | 'plain';
  user?: DelegatedUser;
}

interface CodeRecord {
  flow: Flow;
  user: DelegatedUser;
  expiresAt: number;
  redeemed: boolean;
}

interface RefreshRecord {
  user: DelegatedUser;
  clientId: string;
  scopes: string[];
  issuedAt: number;
  lastUsedAt: number;
  revoked: 'sessions' | 'consent' | null;
}

/** What the identity service does for this one: sign tokens with its key, check a client's credential, say what time it is. */
export interface DelegatedHost {
  tenantId: string;
  baseUrl: () => string;
  now: () => number;
  /** Signs a JWT with the sandbox's token key, and returns the access token's issue number when `track` is set. */
  sign(claims: Record<string, unknown>, track: boolean): { token: string; issueNumber: number };
  /** The app's display name, or undefined when there is no such client. */
  appName(clientId: string): string | undefined;
  redirectUris(clientId: string): string[];
  error(ctx: RequestContext, status: number, error: string, code: number, description: string): void;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();

const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function page(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${escapeHtml(title)}</title></head><body><main><h1>${escapeHtml(title)}</h1>${body}</main></body></html>`;
}

function sendHtml(ctx: RequestContext, status: number, html: string, headers: Record<string, string> = {}): void {
  ctx.res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store', ...headers });
  ctx.res.end(html);
}

/** Loopback redirect URIs match whatever their port (reply-url, "Localhost exceptions"). */
function redirectMatches(registered: string, given: string): boolean {
  if (registered === given) return true;
  try {
    const a = new URL(registered);
    const b = new URL(given);
    const loopback = (u: URL) => u.hostname === '127.0.0.1' || u.hostname === 'localhost' || u.hostname === '[::1]';
    return loopback(a) && loopback(b) && a.protocol === b.protocol && a.hostname === b.hostname && a.pathname === b.pathname && a.search === b.search;
  } catch {
    return false;
  }
}

function cookies(req: IncomingMessage): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0) out.set(part.slice(0, at).trim(), part.slice(at + 1).trim());
  }
  return out;
}

export class DelegatedAuthority {
  private readonly host: DelegatedHost;
  private readonly users = new Map<string, DelegatedUser>();
  private readonly flows = new Map<string, Flow>();
  private readonly sessions = new Map<string, DelegatedUser>();
  private readonly codes = new Map<string, CodeRecord>();
  private readonly refreshTokens = new Map<string, RefreshRecord>();
  /** Every refresh token handed out, in clear, for tests that look for them where they must not be. */
  private readonly issuedRefreshTokens: string[] = [];
  /** user object id → client ids the user consented to, with the scopes. */
  private readonly grants = new Map<string, Map<string, Set<string>>>();
  /** user object id → access tokens issued up to this number are refused (sessions revoked, consent removed). */
  private readonly accessRevokedThrough = new Map<string, number>();
  private lastIssue = 0;

  constructor(host: DelegatedHost, mailboxes: Array<MailboxSeed & { objectId: string }>) {
    this.host = host;
    for (const m of mailboxes) {
      if (m.kind !== 'user' || m.state === 'noMailbox') continue;
      const user: DelegatedUser = { address: m.address.toLowerCase(), objectId: m.objectId, displayName: m.displayName, aliases: (m.aliases ?? []).map((a) => a.toLowerCase()) };
      this.users.set(user.address, user);
    }
  }

  register(router: Router): void {
    router.add('GET', '/:tenant/oauth2/v2.0/authorize', (ctx) => this.authorize(ctx));
    router.add('POST', '/:tenant/oauth2/v2.0/authorize', (ctx) => this.signInOrConsent(ctx));
  }

  user(address: string): DelegatedUser | undefined {
    return this.users.get(address.toLowerCase());
  }

  // ---- the browser's side: /authorize, sign-in, consent ----------------------------------------------------------

  private authorize(ctx: RequestContext): void {
    const q = ctx.url.searchParams;
    const clientId = q.get('client_id') ?? '';
    const name = this.host.appName(clientId);
    if (!name) return this.errorPage(ctx, 700016, `Application with identifier '${clientId}' was not found in the directory.`);
    const redirectUri = q.get('redirect_uri') ?? '';
    if (!this.host.redirectUris(clientId).some((r) => redirectMatches(r, redirectUri))) {
      return this.errorPage(ctx, 50011, `The redirect URI '${redirectUri}' specified in the request does not match the redirect URIs configured for the application '${clientId}'.`);
    }
    const flow: Flow = {
      clientId,
      redirectUri,
      responseMode: q.get('response_mode') === 'form_post' ? 'form_post' : 'query',
      scopes: (q.get('scope') ?? '').split(/\s+/).filter(Boolean),
      state: q.get('state'),
      nonce: q.get('nonce'),
      codeChallenge: q.get('code_challenge'),
      codeChallengeMethod: q.get('code_challenge_method') === 'plain' ? 'plain' : 'S256',
    };
    if (q.get('response_type') !== 'code') return this.redirectError(ctx, flow, 'unsupported_response_type', 'AADSTS70005: response_type must be code.');
    const unknown = flow.scopes.find((s) => !KNOWN_SCOPES.some((k) => k.toLowerCase() === s.toLowerCase().replace(/^https:\/\/graph\.microsoft\.com\//, '')));
    if (unknown) return this.redirectError(ctx, flow, 'invalid_scope', `AADSTS70011: The provided value for the input parameter 'scope' isn't valid. The scope ${unknown} isn't valid.`);
    flow.scopes = flow.scopes.map((s) => s.replace(/^https:\/\/graph\.microsoft\.com\//i, ''));
    const flowId = randomBytes(16).toString('base64url');
    this.flows.set(flowId, flow);
    const session = this.sessions.get(cookies(ctx.req).get('sandbox_session') ?? '');
    if (session && q.get('prompt') !== 'login') {
      flow.user = session;
      return this.afterSignIn(ctx, flowId, flow);
    }
    this.signInPage(ctx, flowId, q.get('login_hint') ?? '', null, name);
  }

  private signInPage(ctx: RequestContext, flowId: string, username: string, error: string | null, appName: string): void {
    sendHtml(
      ctx,
      error ? 401 : 200,
      page(
        'Sign in',
        `<p>to continue to ${escapeHtml(appName)}</p>${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post"><input type="hidden" name="flow" value="${flowId}"><input type="hidden" name="step" value="sign-in">
<p><label for="username">Email address</label> <input id="username" name="username" type="email" autocomplete="username" value="${escapeHtml(username)}" required></p>
<p><label for="password">Password</label> <input id="password" name="password" type="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p></form>`,
      ),
    );
  }

  private async signInOrConsent(ctx: RequestContext): Promise<void> {
    const form = new URLSearchParams((await readBody(ctx.req, 64 * 1024)).toString('utf8'));
    const flowId = form.get('flow') ?? '';
    const flow = this.flows.get(flowId);
    if (!flow) return this.errorPage(ctx, 90014, 'The sign-in session expired or was already used. Start again from the application.');
    if (form.get('step') === 'sign-in') {
      const user = this.users.get((form.get('username') ?? '').trim().toLowerCase());
      // AADSTS50126: invalid username or password (reference-error-codes).
      if (!user || form.get('password') !== USER_PASSWORD) return this.signInPage(ctx, flowId, form.get('username') ?? '', 'Your account or password is incorrect.', this.host.appName(flow.clientId) ?? '');
      flow.user = user;
      const sessionId = randomBytes(24).toString('base64url');
      this.sessions.set(sessionId, user);
      return this.afterSignIn(ctx, flowId, flow, { 'set-cookie': `sandbox_session=${sessionId}; Path=/; HttpOnly; Secure; SameSite=None` });
    }
    if (form.get('step') === 'consent' && flow.user) {
      this.flows.delete(flowId);
      if (form.get('decision') !== 'accept') {
        // The user declined: AADSTS65004 as an error redirect (reference-error-codes).
        return this.redirectError(ctx, flow, 'access_denied', 'AADSTS65004: User declined to consent to access the app.');
      }
      const granted = this.grantsOf(flow.user.objectId, flow.clientId);
      for (const scope of flow.scopes) granted.add(scope);
      return this.issueCode(ctx, flow, flow.user);
    }
    this.errorPage(ctx, 90014, 'The form is incomplete.');
  }

  private grantsOf(objectId: string, clientId: string): Set<string> {
    let byClient = this.grants.get(objectId);
    if (!byClient) this.grants.set(objectId, (byClient = new Map()));
    let scopes = byClient.get(clientId.toLowerCase());
    if (!scopes) byClient.set(clientId.toLowerCase(), (scopes = new Set()));
    return scopes;
  }

  private afterSignIn(ctx: RequestContext, flowId: string, flow: Flow, headers: Record<string, string> = {}): void {
    const user = flow.user!;
    const granted = this.grantsOf(user.objectId, flow.clientId);
    const missing = flow.scopes.filter((s) => !OIDC_SCOPES.has(s) && !granted.has(s));
    if (missing.length === 0 && granted.size > 0) {
      this.flows.delete(flowId);
      return this.issueCode(ctx, flow, user, headers);
    }
    const appName = this.host.appName(flow.clientId) ?? flow.clientId;
    const items = flow.scopes.map((s) => `<li>${escapeHtml(SCOPE_TEXT[s] ?? s)}</li>`).join('');
    sendHtml(
      ctx,
      200,
      page(
        'Permissions requested',
        `<p>${escapeHtml(appName)} would like to, for ${escapeHtml(user.address)}:</p><ul>${items}</ul>
<form method="post"><input type="hidden" name="flow" value="${flowId}"><input type="hidden" name="step" value="consent">
<button type="submit" name="decision" value="accept">Accept</button> <button type="submit" name="decision" value="cancel">Cancel</button></form>`,
      ),
      headers,
    );
  }

  private issueCode(ctx: RequestContext, flow: Flow, user: DelegatedUser, headers: Record<string, string> = {}): void {
    const code = `sbac.${randomBytes(32).toString('base64url')}`;
    this.codes.set(code, { flow, user, expiresAt: this.host.now() + CODE_LIFETIME_MS, redeemed: false });
    this.redirect(ctx, flow, { code, ...(flow.state !== null ? { state: flow.state } : {}), session_state: randomUUID() }, headers);
  }

  private redirect(ctx: RequestContext, flow: Flow, params: Record<string, string>, headers: Record<string, string> = {}): void {
    if (flow.responseMode === 'form_post') {
      const inputs = Object.entries(params).map(([k, v]) => `<input type="hidden" name="${escapeHtml(k)}" value="${escapeHtml(v)}">`).join('');
      return sendHtml(ctx, 200, page('Continue', `<form method="post" action="${escapeHtml(flow.redirectUri)}">${inputs}<button type="submit">Continue</button></form>`), headers);
    }
    const url = new URL(flow.redirectUri);
    for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
    ctx.res.writeHead(302, { location: url.toString(), 'cache-control': 'no-store', ...headers });
    ctx.res.end();
  }

  private redirectError(ctx: RequestContext, flow: Flow, error: string, description: string): void {
    this.redirect(ctx, flow, { error, error_description: description, ...(flow.state !== null ? { state: flow.state } : {}) });
  }

  private errorPage(ctx: RequestContext, code: number, description: string): void {
    ctx.note = `AADSTS${code}`;
    sendHtml(ctx, 400, page('Sorry, but we’re having trouble signing you in.', `<p>AADSTS${code}: ${escapeHtml(description)}</p>`));
  }

  // ---- the token endpoint: authorization_code and refresh_token grants ------------------------------------------

  /** Called by the token endpoint once the client is authenticated. */
  redeem(ctx: RequestContext, clientId: string, form: URLSearchParams): void {
    const grantType = form.get('grant_type');
    if (grantType === 'authorization_code') return this.redeemCode(ctx, clientId, form);
    return this.redeemRefreshToken(ctx, clientId, form);
  }

  private redeemCode(ctx: RequestContext, clientId: string, form: URLSearchParams): void {
    const code = form.get('code') ?? '';
    const record = this.codes.get(code);
    if (!record || record.flow.clientId.toLowerCase() !== clientId.toLowerCase()) {
      return this.host.error(ctx, 400, 'invalid_grant', 70000, "The provided value for the 'code' parameter is not valid.");
    }
    if (record.redeemed) return this.host.error(ctx, 400, 'invalid_grant', 54005, 'OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.');
    if (record.expiresAt < this.host.now()) return this.host.error(ctx, 400, 'invalid_grant', 70008, 'The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.');
    if ((form.get('redirect_uri') ?? '') !== record.flow.redirectUri) {
      return this.host.error(ctx, 400, 'invalid_grant', 500112, 'The reply address does not match the reply address provided when requesting Authorization code.');
    }
    if (record.flow.codeChallenge !== null) {
      const verifier = form.get('code_verifier') ?? '';
      const derived = record.flow.codeChallengeMethod === 'S256' ? base64url(sha256(verifier)) : verifier;
      if (!verifier || derived !== record.flow.codeChallenge) {
        return this.host.error(ctx, 400, 'invalid_grant', 50148, 'The code_verifier does not match the code_challenge supplied in the authorization request for PKCE.');
      }
    }
    record.redeemed = true;
    const scopes = record.flow.scopes;
    this.issueTokens(ctx, record.user, clientId, scopes, form.get('client_info') === '1', record.flow.nonce);
  }

  private redeemRefreshToken(ctx: RequestContext, clientId: string, form: URLSearchParams): void {
    const token = form.get('refresh_token') ?? '';
    const record = this.refreshTokens.get(sha256(token).toString('hex'));
    if (!record || record.clientId.toLowerCase() !== clientId.toLowerCase()) {
      return this.host.error(ctx, 400, 'invalid_grant', 9002313, 'Invalid request. Request is malformed or invalid.');
    }
    if (record.revoked === 'sessions') {
      return this.host.error(ctx, 400, 'invalid_grant', 50173, 'The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password.');
    }
    const granted = this.grantsOf(record.user.objectId, clientId);
    const wanted = (form.get('scope') ?? record.scopes.join(' ')).split(/\s+/).filter(Boolean).map((s) => s.replace(/^https:\/\/graph\.microsoft\.com\//i, ''));
    if (record.revoked === 'consent' || wanted.some((s) => !OIDC_SCOPES.has(s) && !granted.has(s))) {
      return this.host.error(ctx, 400, 'invalid_grant', 65001, `The user or administrator has not consented to use the application with ID '${clientId}'. Send an interactive authorization request for this user and resource.`);
    }
    if (record.lastUsedAt + REFRESH_LIFETIME_MS < this.host.now()) {
      return this.host.error(ctx, 400, 'invalid_grant', 700082, 'The refresh token has expired due to inactivity. The token was issued on a date and was inactive for 90.00:00:00.');
    }
    // Not revoked by its use: Entra keeps old refresh tokens valid (refresh-tokens, "Token lifetime").
    record.lastUsedAt = this.host.now();
    this.issueTokens(ctx, record.user, clientId, wanted, form.get('client_info') === '1', null);
  }

  private issueTokens(ctx: RequestContext, user: DelegatedUser, clientId: string, scopes: string[], clientInfo: boolean, nonce: string | null): void {
    const now = this.host.now();
    const iat = Math.floor(now / 1000);
    const lifetime = 3600 + Math.floor(Math.random() * 1800);
    const tenantId = this.host.tenantId;
    const resourceScopes = scopes.filter((s) => !OIDC_SCOPES.has(s));
    const { token: accessToken, issueNumber } = this.host.sign(
      {
        aud: 'https://graph.microsoft.com',
        iss: `https://sts.windows.net/${tenantId}/`,
        iat,
        nbf: iat,
        exp: iat + lifetime,
        appid: clientId,
        app_displayname: this.host.appName(clientId),
        idtyp: 'user',
        name: user.displayName,
        oid: user.objectId,
        scp: resourceScopes.join(' '),
        sub: base64url(sha256(`${user.objectId}|${clientId}`)).slice(0, 43),
        tid: tenantId,
        unique_name: user.address,
        upn: user.address,
        uti: base64url(randomUUID()).slice(0, 22),
        ver: '1.0',
      },
      true,
    );
    this.lastIssue = Math.max(this.lastIssue, issueNumber);
    const body: Record<string, unknown> = { token_type: 'Bearer', scope: resourceScopes.join(' '), expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken };
    if (scopes.includes('offline_access')) {
      const refresh = `sbrt.${randomBytes(48).toString('base64url')}`;
      this.refreshTokens.set(sha256(refresh).toString('hex'), { user, clientId, scopes, issuedAt: now, lastUsedAt: now, revoked: null });
      this.issuedRefreshTokens.push(refresh);
      body['refresh_token'] = refresh;
    }
    if (scopes.includes('openid')) {
      const claims: Record<string, unknown> = {
        aud: clientId,
        iss: `${this.host.baseUrl()}/${tenantId}/v2.0`,
        iat,
        nbf: iat,
        exp: iat + 3600,
        name: user.displayName,
        oid: user.objectId,
        preferred_username: user.address,
        sub: base64url(sha256(`${user.objectId}|${clientId}|sub`)).slice(0, 43),
        tid: tenantId,
        ver: '2.0',
        ...(scopes.includes('email') ? { email: user.address } : {}),
        ...(nonce ? { nonce } : {}),
      };
      body['id_token'] = this.host.sign(claims, false).token;
    }
    if (clientInfo) body['client_info'] = base64url(JSON.stringify({ uid: user.objectId, utid: tenantId }));
    ctx.note = `delegated ${user.address}`;
    sendJson(ctx.res, 200, body, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
  }

  // ---- Graph's side, and the controls for tests -----------------------------------------------------------------

  /** A delegated access token's user, when the token is still good (not revoked by CAE-style events). */
  accessTokenUser(claims: Record<string, unknown>, issueNumber: number | undefined): DelegatedUser | 'revoked' | undefined {
    const user = [...this.users.values()].find((u) => u.objectId === claims['oid']);
    if (!user) return undefined;
    if (issueNumber !== undefined && issueNumber <= (this.accessRevokedThrough.get(user.objectId) ?? 0)) return 'revoked';
    return user;
  }

  private revokeAccess(user: DelegatedUser): void {
    this.accessRevokedThrough.set(user.objectId, this.lastIssue);
  }

  /** The user (or an admin) removes the app's permission grant (My Apps, or deleting the oauth2PermissionGrant). */
  revokeConsent(address: string, clientId?: string): void {
    const user = this.mustFind(address);
    for (const [client, scopes] of this.grants.get(user.objectId) ?? []) if (!clientId || client === clientId.toLowerCase()) scopes.clear();
    for (const record of this.refreshTokens.values()) if (record.user === user && (!clientId || record.clientId.toLowerCase() === clientId.toLowerCase())) record.revoked ??= 'consent';
    this.revokeAccess(user);
  }

  /** revokeSignInSessions / an admin revoking all refresh tokens of the user. */
  revokeSessions(address: string): void {
    const user = this.mustFind(address);
    for (const record of this.refreshTokens.values()) if (record.user === user) record.revoked = 'sessions';
    for (const [id, session] of this.sessions) if (session === user) this.sessions.delete(id);
    this.revokeAccess(user);
  }

  /** Every refresh token of the user (or of everyone) unused for more than 90 days from now on. */
  expireRefreshTokens(address?: string): void {
    for (const record of this.refreshTokens.values()) if (!address || record.user.address === address.toLowerCase()) record.lastUsedAt = this.host.now() - REFRESH_LIFETIME_MS - 1;
  }

  refreshTokensIssued(): string[] {
    return [...this.issuedRefreshTokens];
  }

  hasConsent(address: string, clientId: string): boolean {
    return (this.grants.get(this.mustFind(address).objectId)?.get(clientId.toLowerCase())?.size ?? 0) > 0;
  }

  private mustFind(address: string): DelegatedUser {
    const user = this.users.get(address.toLowerCase());
    if (!user) throw new Error(`sandbox: no user '${address}' in the tenant`);
    return user;
  }
}

/** How the consent screen words each permission (as Entra's consent prompt does). */
const SCOPE_TEXT: Record<string, string> = {
  openid: 'Sign you in',
  profile: 'View your basic profile',
  email: 'View your email address',
  offline_access: 'Maintain access to data you have given it access to',
  'User.Read': 'Sign you in and read your profile',
  'Calendars.Read': 'Read your calendars',
  'Calendars.ReadWrite': 'Have full access to your calendars',
};
