// App-only tokens for Microsoft Graph with @azure/msal-node's client-credentials flow: a client secret, or a
// certificate (private key + SHA-256 thumbprint, the x5t#S256 assertion Entra ID now expects:
// https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
import { createHash, X509Certificate } from 'node:crypto';
import type { ConfidentialClientApplication, Configuration, INetworkModule } from '@azure/msal-node';
import { systemClock, type Clock } from '../../model/clock.ts';
import { NetworkError, type HttpClient } from '../http.ts';
import { TargetError } from '../target.ts';
import { authorityProblem, tokenFailure, type TokenContext } from './token-errors.ts';

export { aadstsRemedy } from './token-errors.ts';

export type GraphCredential =
  | { kind: 'secret'; secret: string }
  | { kind: 'certificate'; privateKeyPem: string; certificatePem?: string; thumbprintSha256?: string };

export interface GraphAuthOptions {
  tenantId: string;
  clientId: string;
  credential: GraphCredential;
  /** https://login.microsoftonline.com, or a national cloud's, or the sandbox's URL. */
  authorityHost: string;
  /** https://graph.microsoft.com/.default for the global cloud. */
  scope: string;
  /** What time it is: when the cached token is refreshed (default: the system clock). */
  clock?: Clock;
}

/** SHA-256 thumbprint (hex) of a PEM certificate, as Entra ID shows it and msal-node wants it. */
export function certificateThumbprints(certificatePem: string): { sha1: string; sha256: string } {
  const certificate = new X509Certificate(certificatePem);
  return {
    sha1: createHash('sha1').update(certificate.raw).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(certificate.raw).digest('hex').toUpperCase(),
  };
}

/** A token answer is a few KB, the authority's metadata a few more: anything near this is not Entra ID. */
const TOKEN_ANSWER_MAX_BYTES = 1024 * 1024;

/** A failure of the outbound proxy (refused, asks to authenticate, cannot be reached): said as it is, not as the authority's. */
function isProxyFailure(error: TargetError): boolean {
  return error.code.startsWith('Proxy') || (error instanceof NetworkError && error.proxy !== undefined);
}

/** What one token acquisition saw on the wire: msal-node keeps only "endpoints_resolution_error" of it. */
export type WireLog = Pick<TokenContext, 'network' | 'errorAnswer'> & { exceeded?: TargetError };

/**
 * msal's network calls go through our client, so they trust the same CAs (the sandbox's, an on-premises proxy's)
 * and their answers are bounded like every other; a request without an answer, an answer that broke a limit and
 * an answer with an error status are noted in `wire` for the diagnosis.
 */
export function networkModule(http: HttpClient, wire: WireLog): INetworkModule {
  const send = async <T>(method: string, url: string, options?: { headers?: Record<string, string>; body?: string }) => {
    let response;
    try {
      response = await http.request({ method, url, headers: options?.headers ?? {}, body: options?.body, maxResponseBytes: TOKEN_ANSWER_MAX_BYTES });
    } catch (error) {
      if (error instanceof NetworkError) wire.network = error;
      // What a limit or the outbound proxy refused is said as it is (msal-node would keep only a generic code).
      if (error instanceof TargetError && (error.code === 'AnswerTooLarge' || error.code === 'AnswerTooSlow' || isProxyFailure(error))) wire.exceeded = error;
      throw error;
    }
    let body: unknown;
    let json = true;
    try {
      body = JSON.parse(response.body);
    } catch {
      json = false;
      body = { error: 'invalid_response', error_description: `non-JSON answer (HTTP ${response.status}) from ${new URL(url).host}` };
    }
    if (response.status >= 400) wire.errorAnswer = { url: `${new URL(url).origin}${new URL(url).pathname}`, status: response.status, body: json ? body : undefined };
    return { status: response.status, headers: response.headers, body: body as T };
  };
  return {
    sendGetRequestAsync: (url, options) => send('GET', url, options),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

/**
 * msal-node's `auth` for a confidential client of the tenant: the authority, and the client secret or the certificate
 * (SHA-256 thumbprint and private key). Shared by app-only tokens and delegated access (delegated.ts).
 */
export function confidentialClientAuth(options: Pick<GraphAuthOptions, 'tenantId' | 'clientId' | 'credential' | 'authorityHost'>, problem: TargetError | undefined): Configuration['auth'] {
  const authorityHost = options.authorityHost.replace(/\/+$/, '');
  const auth: Configuration['auth'] = {
    clientId: options.clientId,
    authority: `${authorityHost}/${options.tenantId}`,
    // A host msal does not know (the sandbox, a sovereign cloud it has no metadata for) is trusted as named here
    // instead of being checked against Microsoft's instance discovery, which is unreachable from offline networks.
    knownAuthorities: problem ? [] : [new URL(authorityHost).host],
  };
  if (options.credential.kind === 'secret') {
    auth.clientSecret = options.credential.secret;
  } else {
    const thumbprintSha256 =
      options.credential.thumbprintSha256?.replace(/[:\s]/g, '').toUpperCase() ??
      (options.credential.certificatePem ? certificateThumbprints(options.credential.certificatePem).sha256 : undefined);
    if (!thumbprintSha256) {
      throw new TargetError('fatal', 'CertificateThumbprintMissing', 'certificate credential needs the certificate file or its SHA-256 thumbprint', {
        remedy: 'set credential.certificate (PEM file) or credential.thumbprintSha256 in the config',
      });
    }
    auth.clientCertificate = { thumbprintSha256, privateKey: options.credential.privateKeyPem };
  }
  return auth;
}

export class GraphTokenProvider {
  /** msal-node is loaded with the first token request: a run that needs no token (nothing to send) never loads it. */
  private app: Promise<ConfidentialClientApplication> | null = null;
  private readonly configuration: Configuration;
  private readonly scope: string;
  private readonly authorityHost: string;
  private readonly tenantId: string;
  /** A mistake in authorityHost/tenantId, reported by the first token request (where token failures surface). */
  private readonly problem: TargetError | undefined;
  private readonly wire: WireLog = {};
  private readonly clock: Clock;
  private cached: { token: string; refreshAt: number } | null = null;
  private pending: Promise<string> | null = null;
  /** The token was refused by the resource: the next acquisition must not take msal's cached one either. */
  private bypassCache = false;

  constructor(options: GraphAuthOptions, http: HttpClient) {
    this.authorityHost = options.authorityHost;
    this.tenantId = options.tenantId;
    this.problem = authorityProblem(options.authorityHost, options.tenantId);
    const auth = confidentialClientAuth(options, this.problem);
    this.configuration = {
      auth,
      system: {
        networkClient: networkModule(http, this.wire),
        // msal logs never carry secrets at Warning level without PII; we keep it quiet and surface errors ourselves.
        loggerOptions: { piiLoggingEnabled: false, loggerCallback: () => {} },
      },
    };
    this.scope = options.scope;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * A valid access token. Kept here until five minutes before it expires (msal caches too, but its cache lookup
   * costs more than a request's worth of CPU); concurrent callers share one acquisition.
   */
  async token(): Promise<string> {
    if (this.cached && this.cached.refreshAt > this.clock.now()) return this.cached.token;
    this.pending ??= this.acquire().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  /**
   * The resource refused `token` (HTTP 401: expired early, revoked): forget it, so that the next token() asks
   * Entra ID for a new one — past msal's cache too. A token other callers have already replaced is left alone.
   */
  invalidate(token: string): void {
    if (this.cached?.token !== token) return;
    this.cached = null;
    this.bypassCache = true;
  }

  private async acquire(): Promise<string> {
    if (this.problem) throw this.problem;
    this.wire.network = undefined;
    this.wire.errorAnswer = undefined;
    try {
      this.app ??= import('@azure/msal-node').then(({ ConfidentialClientApplication, LogLevel }) => {
        this.configuration.system!.loggerOptions!.logLevel = LogLevel.Error;
        return new ConfidentialClientApplication(this.configuration);
      });
      const app = await this.app;
      const skipCache = this.bypassCache;
      const result = await app.acquireTokenByClientCredential({ scopes: [this.scope], ...(skipCache ? { skipCache } : {}) });
      if (!result?.accessToken) throw new Error('token endpoint returned no access token');
      this.bypassCache = false;
      // msal dates expiresOn by the system clock; what is kept is the token's remaining lifetime, on our clock.
      const lifetimeMs = result.expiresOn ? result.expiresOn.getTime() - Date.now() : 30 * 60_000;
      this.cached = { token: result.accessToken, refreshAt: this.clock.now() + lifetimeMs - 5 * 60_000 };
      return result.accessToken;
    } catch (error) {
      const exceeded = this.wire.exceeded;
      delete this.wire.exceeded;
      if (exceeded) throw new TargetError(isProxyFailure(exceeded) && exceeded.scope === 'transient' ? 'transient' : 'fatal', exceeded.code, `could not get a token for Microsoft Graph: ${exceeded.message}`, { remedy: exceeded.remedy, cause: error });
      throw tokenFailure(error, { authorityHost: this.authorityHost, tenantId: this.tenantId, ...this.wire });
    }
  }
}
