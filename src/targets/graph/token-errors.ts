// Why a token request to Entra ID failed, in words an administrator can act on. One function for every place a
// token failure surfaces — `calpush sync`, `calpush serve` (its /v1/health and log) and `calpush doctor` — so that
// the same mistake reads the same everywhere.
//
// msal-node reports a failed OpenID discovery (nothing listening, an untrusted certificate, an unknown tenant…) only
// as `endpoints_resolution_error`; the reason is in what our network module saw, which GraphTokenProvider hands in
// here as `TokenContext.network` / `errorAnswer`.
import { NetworkError } from '../http.ts';
import { TargetError } from '../target.ts';

/** What the token request saw on the wire, besides msal-node's own error. */
export interface TokenContext {
  /** target.authorityHost as configured. */
  authorityHost: string;
  tenantId: string;
  /** The request that got no HTTP answer, if one did not. */
  network?: NetworkError | undefined;
  /** The last HTTP answer with an error status (discovery or token endpoint) and its parsed body. */
  errorAnswer?: { url: string; status: number; body: unknown } | undefined;
}

/**
 * What an administrator should do about an Entra ID (AADSTS) error code. Codes and meanings:
 * https://learn.microsoft.com/entra/identity-platform/reference-error-codes
 */
const AADSTS_REMEDIES: Record<string, string> = {
  '7000215': 'the client secret is wrong: copy the secret VALUE (not its ID) from Entra ID > App registrations > Certificates & secrets into the configured secret file or variable',
  '7000222': 'the client secret has expired: create a new one in Entra ID > App registrations > Certificates & secrets',
  '700027': 'the certificate is not registered on the app (or the key does not match it): upload the certificate (.cer/.pem) in Entra ID > App registrations > Certificates & secrets and configure its private key',
  '700016': 'no application with this client id exists in the tenant: check clientId and tenantId (Entra ID > App registrations > Overview)',
  '90002': 'the tenant was not found: check tenantId (the directory (tenant) id GUID, or a verified domain) and that authorityHost is the cloud the tenant lives in (national clouds: e.g. https://login.microsoftonline.us)',
  '900023': 'the tenant id is malformed: use the directory (tenant) GUID or a verified domain name',
  '50059': 'the request names no tenant: set tenantId to the directory (tenant) GUID (not "common" or "organizations")',
  '700024': 'the client assertion is outside its valid time range: check this machine’s clock (NTP)',
  '1002012': 'the scope is not valid for client credentials: it must end in /.default (e.g. https://graph.microsoft.com/.default)',
  '70011': 'the scope is not valid for client credentials: it must end in /.default (e.g. https://graph.microsoft.com/.default)',
  '65001': 'admin consent has not been granted: Entra ID > App registrations > API permissions > Grant admin consent',
  '7000112': 'the application is disabled: enable the enterprise application in Entra ID',
  '700023': 'the authority is wrong for this app: use the tenant-specific authority (https://login.microsoftonline.com/<tenant id>)',
  '7000216': 'no credential was sent: configure a client secret or a certificate in target.credential',
  '7000218': 'the app registration has no credential: add a certificate (calpush cert create) or a secret in Entra ID > App registrations > Certificates & secrets',
  '700025': 'the app registration has no credential (Entra treats it as a public client): add a certificate or secret to it',
  '50012': 'the client assertion is addressed to another token endpoint: check authorityHost and tenantId',
  '700021': 'the client assertion names another application: check clientId',
  '50027': 'the client assertion is malformed: check that privateKey and certificate belong together',
  '90014': 'a required field is missing from the token request: check scope in the config',
};

export function aadstsRemedy(message: string): { code: string | undefined; remedy: string | undefined } {
  const match = /AADSTS(\d+)/.exec(message);
  const code = match?.[1];
  return { code: code ? `AADSTS${code}` : undefined, remedy: code ? AADSTS_REMEDIES[code] : undefined };
}

const SPECIFIC_TENANT = 'the directory (tenant) id GUID (Entra ID > Overview) or a verified domain such as contoso.onmicrosoft.com';

/**
 * A mistake in authorityHost or tenantId that no request needs to reveal: msal-node would build an authority like
 * https://login.microsoftonline.com/contoso/<tenant> from a host with a path and fail with endpoints_resolution_error.
 */
export function authorityProblem(authorityHost: string, tenantId: string): TargetError | undefined {
  const malformed = (message: string, remedy: string) => new TargetError('fatal', 'AuthorityMalformed', message, { remedy });
  let url: URL;
  try {
    url = new URL(authorityHost);
  } catch {
    return malformed(`target.authorityHost "${authorityHost}" is not a URL`, 'set it to https://login.microsoftonline.com (or a national cloud’s login host, or the sandbox’s URL)');
  }
  if (url.protocol !== 'https:') {
    return malformed(`target.authorityHost ${authorityHost} is not https: Entra ID is only reached over TLS`, `use https://${url.host}`);
  }
  if (url.pathname !== '/' || url.search || url.hash || url.username || url.password) {
    const segment = url.pathname.split('/').find(Boolean);
    return malformed(
      `target.authorityHost ${authorityHost} has a path (${url.pathname}${url.search}): it must be the host alone, calpush adds the tenant`,
      `set authorityHost to ${url.origin}${segment ? ` and put the tenant ("${segment}") in tenantId` : ''}`,
    );
  }
  if (!/^[A-Za-z0-9.-]+$/.test(tenantId)) {
    return new TargetError('fatal', 'TenantIdMalformed', `target.tenantId "${tenantId}" is not a tenant id`, { remedy: `use ${SPECIFIC_TENANT}` });
  }
  if (['common', 'organizations', 'consumers'].includes(tenantId.toLowerCase())) {
    return new TargetError('fatal', 'TenantIdNotSpecific', `target.tenantId "${tenantId}" names no tenant: app-only tokens are issued by one tenant`, { remedy: `use ${SPECIFIC_TENANT}` });
  }
  return undefined;
}

/** What to do when the authority host cannot be reached, by why. */
function unreachableRemedy(network: NetworkError, authorityHost: string): string {
  const host = new URL(network.url).host;
  switch (network.reason) {
    case 'refused':
      return `nothing answers at ${host}: check target.authorityHost (${authorityHost}) — is it the right host and port, and (for the sandbox) is it running?`;
    case 'dns':
      return `check target.authorityHost (${authorityHost}) and this machine's DNS (nslookup ${new URL(network.url).hostname})`;
    case 'timeout':
    case 'unreachable':
      return `check that this machine may reach ${host} over HTTPS (firewall, proxy)${network.reason === 'timeout' ? ', or raise target.requestTimeoutMs' : ''}`;
    case 'tls-untrusted':
      return `set target.caFile to the PEM file of the CA that signs ${host}'s certificate (an inspecting proxy's CA; for the sandbox its tls-cert.pem)`;
    default:
      return network.remedy ?? `check target.authorityHost (${authorityHost}) and the network path to it`;
  }
}

/** The description of an Entra error body: { error, error_description: "AADSTS…: …\r\nTrace ID…" }. */
function entraDescription(body: unknown): string | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const { error, error_description: description } = body as { error?: unknown; error_description?: unknown };
  if (typeof description === 'string') return description.split(/\r?\n/)[0];
  return typeof error === 'string' ? error : undefined;
}

function aadstsFailure(text: string, context: TokenContext, cause: unknown): TargetError | undefined {
  const { code, remedy } = aadstsRemedy(text);
  if (!code) return undefined;
  const detail = text.slice(text.indexOf(code)).split(/\r?\n/)[0]!;
  const message = code === 'AADSTS90002' ? `Entra ID does not know the tenant "${context.tenantId}" at ${context.authorityHost} (${detail})` : `Entra ID refused the token request: ${detail}`;
  return new TargetError('fatal', code, message, { remedy: remedy ?? 'look the code up at https://login.microsoftonline.com/error and fix tenantId, clientId or the credential accordingly', cause });
}

/** A failed token request (msal-node's error plus what the wire showed) as one fatal TargetError with its fix. */
export function tokenFailure(error: unknown, context: TokenContext): TargetError {
  // msal-node passes some network errors through as they were thrown by our network module.
  if (error instanceof NetworkError) context = { ...context, network: context.network ?? error };
  else if (error instanceof TargetError) return error;
  const msalCode = (error as { errorCode?: string } | null)?.errorCode;
  const text = error instanceof Error ? `${msalCode ?? ''} ${error.message}` : String(error);
  // An AADSTS code in msal's error is Entra's own answer: the most precise reason there is.
  const fromMsal = aadstsFailure(text, context, error);
  if (fromMsal) return fromMsal;
  if (context.network) {
    return new TargetError('fatal', context.network.code, `could not get a token: ${context.network.message}`, {
      remedy: unreachableRemedy(context.network, context.authorityHost),
      cause: context.network,
    });
  }
  const answer = context.errorAnswer;
  if (answer) {
    const description = entraDescription(answer.body);
    const fromAnswer = description ? aadstsFailure(description, context, error) : undefined;
    if (fromAnswer) return fromAnswer;
    return new TargetError('fatal', `HTTP${answer.status}`, `${context.authorityHost} is not an Entra ID authority for this tenant: ${answer.url} answered HTTP ${answer.status}${description ? ` (${description})` : ''}`, {
      remedy: 'target.authorityHost must be https://login.microsoftonline.com, a national cloud’s login host or the sandbox’s URL, with tenantId the tenant',
      cause: error,
    });
  }
  const firstLine = (error instanceof Error ? error.message : String(error)).split(/\r?\n/)[0]!;
  return new TargetError('fatal', msalCode ?? 'TokenAcquisitionFailed', `could not get a token from ${context.authorityHost}: ${firstLine}`, {
    remedy: 'check tenantId, clientId and the credential in the config',
    cause: error,
  });
}
