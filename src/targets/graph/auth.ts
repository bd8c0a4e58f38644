// App-only tokens for Microsoft Graph with @azure/msal-node's client-credentials flow: a client secret, or a
// certificate (private key + SHA-256 thumbprint, the x5t#S256 assertion Entra ID now expects:
// https://learn.microsoft.com/entra/identity-platform/certificate-credentials).
import { createHash, X509Certificate } from 'node:crypto';
import type { ConfidentialClientApplication, Configuration, INetworkModule } from '@azure/msal-node';
import { systemClock, type Clock } from '../../model/clock.ts';
import type { HttpClient } from '../http.ts';
import { TargetError } from '../target.ts';

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

/** msal's network calls go through our client, so they trust the same CAs (the sandbox's, an on-premises proxy's). */
function networkModule(http: HttpClient): INetworkModule {
  const send = async <T>(method: string, url: string, options?: { headers?: Record<string, string>; body?: string }) => {
    const response = await http.request({ method, url, headers: options?.headers ?? {}, body: options?.body });
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      body = { error: 'invalid_response', error_description: `non-JSON answer (HTTP ${response.status}) from ${new URL(url).host}` };
    }
    return { status: response.status, headers: response.headers, body: body as T };
  };
  return {
    sendGetRequestAsync: (url, options) => send('GET', url, options),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

/** What an administrator should do about an Entra ID (AADSTS) error code. */
const AADSTS_REMEDIES: Record<string, string> = {
  '7000215': 'the client secret is wrong: copy the secret VALUE (not its ID) from Entra ID > App registrations > Certificates & secrets into the configured secret file or variable',
  '7000222': 'the client secret has expired: create a new one in Entra ID > App registrations > Certificates & secrets',
  '700027': 'the certificate is not registered on the app (or the key does not match it): upload the certificate (.cer/.pem) in Entra ID > App registrations > Certificates & secrets and configure its private key',
  '700016': 'no application with this client id exists in the tenant: check clientId and tenantId (Entra ID > App registrations > Overview)',
  '90002': 'the tenant was not found: check tenantId (a GUID or a verified domain) and the authority host for national clouds',
  '900023': 'the tenant id is malformed: use the directory (tenant) GUID or a verified domain name',
  '700024': 'the client assertion is outside its valid time range: check this machine’s clock (NTP)',
  '1002012': 'the scope is not valid for client credentials: it must end in /.default (e.g. https://graph.microsoft.com/.default)',
  '70011': 'the scope is not valid for client credentials: it must end in /.default (e.g. https://graph.microsoft.com/.default)',
  '65001': 'admin consent has not been granted: Entra ID > App registrations > API permissions > Grant admin consent',
  '7000112': 'the application is disabled: enable the enterprise application in Entra ID',
  '700023': 'the authority is wrong for this app: use the tenant-specific authority (https://login.microsoftonline.com/<tenant id>)',
};

export function aadstsRemedy(message: string): { code: string | undefined; remedy: string | undefined } {
  const match = /AADSTS(\d+)/.exec(message);
  const code = match?.[1];
  return { code: code ? `AADSTS${code}` : undefined, remedy: code ? AADSTS_REMEDIES[code] : undefined };
}

export class GraphTokenProvider {
  /** msal-node is loaded with the first token request: a run that needs no token (nothing to send) never loads it. */
  private app: Promise<ConfidentialClientApplication> | null = null;
  private readonly configuration: Configuration;
  private readonly scope: string;
  private readonly clock: Clock;
  private cached: { token: string; refreshAt: number } | null = null;
  private pending: Promise<string> | null = null;

  constructor(options: GraphAuthOptions, http: HttpClient) {
    const authorityHost = options.authorityHost.replace(/\/+$/, '');
    const authority = `${authorityHost}/${options.tenantId}`;
    const auth: Configuration['auth'] = {
      clientId: options.clientId,
      authority,
      // A host msal does not know (the sandbox, a sovereign cloud it has no metadata for) is trusted as named here
      // instead of being checked against Microsoft's instance discovery, which is unreachable from offline networks.
      knownAuthorities: [new URL(authorityHost).host],
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
    this.configuration = {
      auth,
      system: {
        networkClient: networkModule(http),
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

  private async acquire(): Promise<string> {
    try {
      this.app ??= import('@azure/msal-node').then(({ ConfidentialClientApplication, LogLevel }) => {
        this.configuration.system!.loggerOptions!.logLevel = LogLevel.Error;
        return new ConfidentialClientApplication(this.configuration);
      });
      const app = await this.app;
      const result = await app.acquireTokenByClientCredential({ scopes: [this.scope] });
      if (!result?.accessToken) throw new Error('token endpoint returned no access token');
      // msal dates expiresOn by the system clock; what is kept is the token's remaining lifetime, on our clock.
      const lifetimeMs = result.expiresOn ? result.expiresOn.getTime() - Date.now() : 30 * 60_000;
      this.cached = { token: result.accessToken, refreshAt: this.clock.now() + lifetimeMs - 5 * 60_000 };
      return result.accessToken;
    } catch (error) {
      if (error instanceof TargetError) throw error;
      const text = error instanceof Error ? `${(error as { errorCode?: string }).errorCode ?? ''} ${error.message}` : String(error);
      const { code, remedy } = aadstsRemedy(text);
      const firstLine = (error instanceof Error ? error.message : String(error)).split(/\r?\n/)[0]!;
      if (/ECONNREFUSED|ENOTFOUND|EAI_AGAIN|certificate|ETIMEDOUT|ECONNRESET/i.test(text) && !code) {
        throw new TargetError('fatal', 'TokenEndpointUnreachable', `cannot reach the token endpoint: ${firstLine}`, {
          remedy: 'check authorityHost in the config, the network path to it, and the CA that signs its certificate (caFile)',
          cause: error,
        });
      }
      throw new TargetError('fatal', code ?? 'TokenAcquisitionFailed', `could not get a token for Microsoft Graph: ${firstLine}`, {
        remedy: remedy ?? 'check tenantId, clientId and the credential in the config',
        cause: error,
      });
    }
  }
}
