// Delegated access to Microsoft Graph: each calendar is written with the token of the person who connected it
// (calpush serve's consent page, src/server/consent), at /me/events — so the token decides whose mailbox it is, and a
// calendar named by an alias of the person is written all the same.
//
// Tokens come from msal-node's token cache of that person, kept sealed in the store (DelegatedTokenCaches): for
// each acquisition a ConfidentialClientApplication is made with a cache plugin bound to that one calendar — the
// per-request instance msal-node advises for web apps that serve many users — which loads the person's cache before
// msal looks and saves it after msal changed it. A refresh gives a new refresh token every time ("Refresh tokens
// replace themselves with a fresh token upon every use … Securely delete the old refresh token after acquiring a new
// one", https://learn.microsoft.com/entra/identity-platform/refresh-tokens): the new cache replaces the old one in
// the store, so the old refresh token is kept nowhere. Why msal's cache and not refresh tokens by hand: msal keeps
// the account, the id token and the access token with their expiry together, and signs the client assertion for a
// certificate credential; its serialized cache is exactly what needs sealing.
//
// invalid_grant (consent removed, sessions revoked, 90 days unused: Entra's AADSTS65001, 50173, 700082) ends the
// connection: the calendar is marked disconnected (its refresh token dropped) and its delivery fails with a mailbox
// error that names the reconnect link — nothing is deleted from the store or the calendar.
import type { ConfidentialClientApplication, Configuration, ICachePlugin, TokenCacheContext } from '@azure/msal-node';
import { systemClock, type Clock } from '../../model/clock.ts';
import type { HttpClient } from '../http.ts';
import { TargetError } from '../target.ts';
import { confidentialClientAuth, networkModule, type GraphCredential, type WireLog } from './auth.ts';
import type { GraphAccess } from './target.ts';
import { authorityProblem, tokenFailure } from './token-errors.ts';

/** Where the people's token caches live (the store's connections, sealed), as the target sees it. */
export interface DelegatedTokenCaches {
  /** The calendar's token cache and msal account id; null when the calendar is not connected. */
  load(calendar: string): Promise<{ cache: string; homeAccountId: string } | null>;
  /** After a refresh: the cache with the new refresh token. */
  save(calendar: string, cache: string): Promise<void>;
  /** Entra ID refused the refresh token: the connection ends (reason: DelegatedLoss['reason']). */
  lost(calendar: string, loss: DelegatedLoss): Promise<void>;
}

export interface DelegatedLoss {
  reason: 'ConsentRevoked' | 'SessionRevoked' | 'RefreshTokenExpired' | 'InvalidGrant';
  message: string;
}

export interface DelegatedAccessOptions {
  tenantId: string;
  clientId: string;
  credential: GraphCredential;
  authorityHost: string;
  /** Delegated scopes (msal adds openid, profile, offline_access). */
  scopes: string[];
  caches: DelegatedTokenCaches;
  /** The page where the person of `calendar` connects (again): named in the errors. */
  connectUrl: (calendar: string) => string;
  clock?: Clock;
}

/** The mailbox error of a calendar whose person has not connected it (or disconnected it). */
export function notConnected(calendar: string, connectUrl: string): TargetError {
  return new TargetError('mailbox', 'NotConnected', `${calendar} has not connected its calendar to calpush (delegated access)`, {
    remedy: `ask the person to connect at ${connectUrl}; delivery waits until then, nothing is deleted`,
  });
}

/** What an invalid_grant means, by Entra's code (https://learn.microsoft.com/entra/identity-platform/reference-error-codes). */
export function lossOf(text: string): DelegatedLoss {
  const code = /AADSTS(\d+)/.exec(text)?.[1];
  const first = text.split(/\r?\n/)[0]!.slice(0, 300);
  if (code === '65001') return { reason: 'ConsentRevoked', message: `the permission was withdrawn (consent removed): ${first}` };
  if (code === '50173' || code === '50133' || code === '50089') return { reason: 'SessionRevoked', message: `the sign-in sessions were revoked (password reset, or an administrator): ${first}` };
  if (code === '700082' || code === '70008' || code === '700084') return { reason: 'RefreshTokenExpired', message: `the refresh token expired (unused too long): ${first}` };
  return { reason: 'InvalidGrant', message: `Entra ID refused the refresh token: ${first}` };
}

/** msal's errors that mean "this person must sign in again" rather than "calpush is misconfigured". */
function isInvalidGrant(error: unknown): boolean {
  const e = error as { errorCode?: string; name?: string } | null;
  return !!e && (e.errorCode === 'invalid_grant' || e.errorCode === 'interaction_required' || e.errorCode === 'consent_required' || e.errorCode === 'login_required' || e.name === 'InteractionRequiredAuthError');
}

/** One ConfidentialClientApplication whose cache is one calendar's (or a fresh one, `cache` empty). */
export async function confidentialClient(base: Configuration, cache: { value: string; changed: boolean }): Promise<ConfidentialClientApplication> {
  const { ConfidentialClientApplication, LogLevel } = await import('@azure/msal-node');
  const cachePlugin: ICachePlugin = {
    beforeCacheAccess: async (context: TokenCacheContext) => {
      if (cache.value) context.tokenCache.deserialize(cache.value);
    },
    afterCacheAccess: async (context: TokenCacheContext) => {
      if (!context.cacheHasChanged) return;
      cache.value = context.tokenCache.serialize();
      cache.changed = true;
    },
  };
  return new ConfidentialClientApplication({
    ...base,
    cache: { cachePlugin },
    system: { ...base.system, loggerOptions: { piiLoggingEnabled: false, logLevel: LogLevel.Error, loggerCallback: () => {} } },
  });
}

/** msal's configuration for the app, its network calls through `http` (bounded, the configured CA), seen in `wire`. */
export function delegatedConfiguration(options: Pick<DelegatedAccessOptions, 'tenantId' | 'clientId' | 'credential' | 'authorityHost'>, http: HttpClient, wire: WireLog): Configuration {
  const problem = authorityProblem(options.authorityHost, options.tenantId);
  if (problem) throw problem;
  return { auth: confidentialClientAuth(options, problem), system: { networkClient: networkModule(http, wire) } };
}

export class DelegatedAccess implements GraphAccess {
  readonly kind = 'delegated' as const;
  private readonly options: DelegatedAccessOptions;
  private readonly http: HttpClient;
  private readonly clock: Clock;
  private readonly wire: WireLog = {};
  private configuration: Configuration | null = null;
  private readonly cached = new Map<string, { token: string; refreshAt: number }>();
  private readonly pending = new Map<string, Promise<string>>();
  /** Calendars whose token Graph refused: the next acquisition refreshes, past msal's cached access token. */
  private readonly refresh = new Set<string>();

  constructor(options: DelegatedAccessOptions, http: HttpClient) {
    this.options = options;
    this.http = http;
    this.clock = options.clock ?? systemClock;
  }

  mailboxPath(): string {
    return '/me';
  }

  token(calendar: string): Promise<string> {
    const cached = this.cached.get(calendar);
    if (cached && cached.refreshAt > this.clock.now()) return Promise.resolve(cached.token);
    let pending = this.pending.get(calendar);
    if (!pending) {
      pending = this.acquire(calendar).finally(() => this.pending.delete(calendar));
      this.pending.set(calendar, pending);
    }
    return pending;
  }

  invalidate(calendar: string, token: string): void {
    if (this.cached.get(calendar)?.token !== token) return;
    this.cached.delete(calendar);
    this.refresh.add(calendar);
  }

  private async acquire(calendar: string): Promise<string> {
    const stored = await this.options.caches.load(calendar);
    if (!stored) throw notConnected(calendar, this.options.connectUrl(calendar));
    this.configuration ??= delegatedConfiguration(this.options, this.http, this.wire);
    const cache = { value: stored.cache, changed: false };
    const app = await confidentialClient(this.configuration, cache);
    const account = await app.getTokenCache().getAccountByHomeId(stored.homeAccountId);
    if (!account) throw notConnected(calendar, this.options.connectUrl(calendar));
    const forceRefresh = this.refresh.delete(calendar);
    this.wire.network = undefined;
    this.wire.errorAnswer = undefined;
    let result;
    try {
      result = await app.acquireTokenSilent({ account, scopes: this.options.scopes, forceRefresh });
    } catch (error) {
      if (isInvalidGrant(error)) {
        const answer = this.wire.errorAnswer as { body?: unknown } | undefined;
        const loss = lossOf(`${(error as Error).message} ${JSON.stringify(answer?.body ?? '')}`);
        await this.options.caches.lost(calendar, loss);
        throw new TargetError('mailbox', 'DelegatedAccessLost', `${calendar}: ${loss.message}`, {
          remedy: `ask the person to connect again at ${this.options.connectUrl(calendar)}; delivery is paused until then, nothing was deleted`,
          cause: error,
        });
      }
      throw tokenFailure(error, { authorityHost: this.options.authorityHost, tenantId: this.options.tenantId, ...this.wire });
    }
    if (cache.changed) await this.options.caches.save(calendar, cache.value);
    if (!result?.accessToken) throw new TargetError('transient', 'NoAccessToken', 'the token endpoint returned no access token');
    // msal dates expiresOn by the system clock; what is kept is the remaining lifetime, on our clock.
    const lifetimeMs = result.expiresOn ? result.expiresOn.getTime() - Date.now() : 30 * 60_000;
    this.cached.set(calendar, { token: result.accessToken, refreshAt: this.clock.now() + lifetimeMs - 5 * 60_000 });
    return result.accessToken;
  }
}
