// The two ends of a person's sign-in on calpush's consent page, through msal-node: the authorization URL (the code
// flow with PKCE, state and nonce: https://learn.microsoft.com/entra/identity-platform/v2-oauth2-auth-code-flow) and the
// code's redemption — msal checks the ID token's nonce and the state it is given — followed by one Graph request
// with the new token, /me, for the addresses that are the person's (their UPN, primary address and aliases), so that
// a calendar the sources name by an alias can be told to be theirs.
import type { ProxySettings } from '../../config/proxy.ts';
import { HttpClient } from '../http.ts';
import { TargetError } from '../target.ts';
import type { GraphCredential, WireLog } from './auth.ts';
import { confidentialClient, delegatedConfiguration } from './delegated.ts';
import { tokenFailure } from './token-errors.ts';

export interface ConsentClientOptions {
  tenantId: string;
  clientId: string;
  credential: GraphCredential;
  authorityHost: string;
  graphBaseUrl: string;
  scopes: string[];
  caPem?: string;
  requestTimeoutMs?: number;
  /** The outbound proxy for the sign-in's token requests and Graph's /me (src/config/proxy.ts). */
  proxy?: ProxySettings;
}

/** Who signed in, from the ID token and Graph's /me. */
export interface SignedIn {
  /** msal's serialized cache: the refresh token among it — seal it before it is stored. */
  tokenCache: string;
  homeAccountId: string;
  /** The Entra object id (oid) and tenant id (tid) of the ID token. */
  objectId: string;
  tenantId: string;
  /** preferred_username. */
  username: string;
  /** Every address that is this person's, lower case: UPN, mail, proxyAddresses (smtp:), preferred_username. */
  addresses: string[];
}

export class ConsentClient {
  private readonly options: ConsentClientOptions;
  private readonly http: HttpClient;
  private readonly wire: WireLog = {};

  constructor(options: ConsentClientOptions) {
    this.options = options;
    this.http = new HttpClient({ caPem: options.caPem, timeoutMs: options.requestTimeoutMs ?? 30_000, ...(options.proxy ? { proxy: options.proxy } : {}) });
  }

  /** A PKCE verifier and its S256 challenge (RFC 7636), from msal-node's CryptoProvider. */
  async pkce(): Promise<{ verifier: string; challenge: string }> {
    const { CryptoProvider } = await import('@azure/msal-node');
    return new CryptoProvider().generatePkceCodes();
  }

  private configuration() {
    return delegatedConfiguration(this.options, this.http, this.wire);
  }

  /** Where the browser goes to sign in. `prompt=select_account`: a shared computer must not connect someone else's calendar by accident. */
  async authorizationUrl(request: { redirectUri: string; state: string; nonce: string; codeChallenge: string; loginHint?: string | undefined; calendarScopes: boolean }): Promise<string> {
    const app = await confidentialClient(this.configuration(), { value: '', changed: false });
    try {
      return await app.getAuthCodeUrl({
        scopes: request.calendarScopes ? this.options.scopes : ['User.Read'],
        redirectUri: request.redirectUri,
        state: request.state,
        nonce: request.nonce,
        codeChallenge: request.codeChallenge,
        codeChallengeMethod: 'S256',
        prompt: 'select_account',
        responseMode: 'query',
        ...(request.loginHint ? { loginHint: request.loginHint } : {}),
      });
    } catch (error) {
      throw tokenFailure(error, { authorityHost: this.options.authorityHost, tenantId: this.options.tenantId, ...this.wire });
    }
  }

  /** Redeems the code (PKCE verifier, state and nonce checked), then asks Graph which addresses are the person's. */
  async redeem(request: { code: string; redirectUri: string; codeVerifier: string; state: string; nonce: string; calendarScopes: boolean }): Promise<SignedIn> {
    const cache = { value: '', changed: false };
    const app = await confidentialClient(this.configuration(), cache);
    let result;
    try {
      result = await app.acquireTokenByCode(
        { code: request.code, redirectUri: request.redirectUri, scopes: request.calendarScopes ? this.options.scopes : ['User.Read'], codeVerifier: request.codeVerifier, state: request.state, nonce: request.nonce },
        { code: request.code, state: request.state },
      );
    } catch (error) {
      const description = (this.wire.errorAnswer?.body as { error_description?: string } | undefined)?.error_description?.split(/\r?\n/)[0];
      throw new TargetError('fatal', (error as { errorCode?: string }).errorCode ?? 'CodeRedemptionFailed', `the sign-in could not be completed: ${description ?? (error as Error).message.split('\n')[0]}`, {
        remedy: 'start again from the connect page',
        cause: error,
      });
    }
    const claims = (result.idTokenClaims ?? {}) as { oid?: string; tid?: string; preferred_username?: string; email?: string };
    if (!result.account || !claims.oid || !claims.tid) throw new TargetError('fatal', 'NoIdToken', 'the sign-in returned no ID token with the person’s object id', { remedy: 'the app must ask for openid (msal does by default)' });
    if (claims.tid.toLowerCase() !== this.options.tenantId.toLowerCase() && !/[.]/.test(this.options.tenantId)) {
      throw new TargetError('fatal', 'WrongTenant', 'the person signed in with an account of another organisation', { remedy: 'sign in with your account of this organisation' });
    }
    const addresses = new Set<string>([claims.preferred_username, claims.email, result.account.username].filter((a): a is string => !!a).map((a) => a.toLowerCase()));
    for (const address of await this.profileAddresses(result.accessToken)) addresses.add(address);
    return { tokenCache: cache.value, homeAccountId: result.account.homeAccountId, objectId: claims.oid, tenantId: claims.tid, username: (claims.preferred_username ?? result.account.username).toLowerCase(), addresses: [...addresses] };
  }

  /** The person's UPN, mail and SMTP proxy addresses (GET /me, User.Read: https://learn.microsoft.com/graph/api/user-get). */
  private async profileAddresses(accessToken: string): Promise<string[]> {
    const url = `${this.options.graphBaseUrl.replace(/\/+$/, '')}/me?$select=userPrincipalName,mail,proxyAddresses`;
    const response = await this.http.request({ method: 'GET', url, headers: { authorization: `Bearer ${accessToken}`, accept: 'application/json' } });
    if (response.status !== 200) return [];
    const me = JSON.parse(response.body) as { userPrincipalName?: string; mail?: string | null; proxyAddresses?: string[] };
    const smtp = (me.proxyAddresses ?? []).filter((p) => /^smtp:/i.test(p)).map((p) => p.slice(5));
    return [me.userPrincipalName, me.mail, ...smtp].filter((a): a is string => !!a).map((a) => a.toLowerCase());
  }

  close(): void {
    this.http.close();
  }
}
