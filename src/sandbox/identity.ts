// The Microsoft Entra ID (v2.0) endpoints the sandbox serves: OpenID discovery, instance discovery, JWKS and the
// token endpoint with the client-credentials grant (client secret or certificate assertion).
//
// How a client configures @azure/msal-node 7 for the sandbox (see test/sandbox/helpers.ts for a working example):
//
//   new ConfidentialClientApplication({
//     auth: {
//       clientId: sandbox.demoCredentials.clientId,
//       authority: sandbox.authorityUrl,                 // https://127.0.0.1:PORT/<tenantId>
//       knownAuthorities: [new URL(sandbox.url).host],   // '127.0.0.1:PORT': msal then skips instance discovery
//                                                         // against login.microsoftonline.com (unreachable offline)
//       clientSecret: sandbox.demoCredentials.clientSecret,
//       // or: clientCertificate: { privateKey: demoCredentials.privateKeyPem, thumbprintSha256: demoCredentials.thumbprintSha256 }
//     },
//     system: { networkClient },   // an INetworkModule that trusts sandbox.caPem (msal's default fetch client does
//                                  // not take a CA; NODE_EXTRA_CA_CERTS=<state-dir>/tls-cert.pem works too)
//   }).acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] })
//
// msal then GETs `${authority}/v2.0/.well-known/openid-configuration` (issuer must be on the same host — msal-common
// Authority.validateIssuer rule 1) and POSTs to the token_endpoint it names.
import { createHash, createPublicKey, generateKeyPairSync, randomInt, randomUUID, timingSafeEqual, X509Certificate, type KeyObject } from 'node:crypto';
import type { AppSeed, TenantSeed } from './types.ts';
import { base64url, decodeJwt, signJwt, verifyJwtSignature } from './jwt.ts';
import { readBody, sendJson, type RequestContext, type Router } from './http.ts';
import { DelegatedAuthority, type DelegatedUser } from './delegated.ts';
import { objectIdFor } from './tenant.ts';

export const GRAPH_RESOURCE = 'https://graph.microsoft.com';
const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
/** Clock skew tolerated on client assertions (Entra allows a few minutes; we take 5). */
const ASSERTION_SKEW_S = 300;
/** Graph's message for an expired token (https://github.com/s1t5/mail-archiver/issues/267), and for one that fails validation. */
const EXPIRED_TOKEN_MESSAGE = 'Lifetime validation failed, the token is expired.';
const REVOKED_TOKEN_MESSAGE = 'Access token validation failure.';
/** Issue numbers kept for expiry/revocation on demand; older tokens are long expired anyway. */
const MAX_REMEMBERED_TOKENS = 10_000;

interface RegisteredCertificate {
  pem: string;
  sha1: Buffer;
  sha256: Buffer;
  publicKey: KeyObject;
  validFrom: Date;
  validTo: Date;
}

export interface AppRecord {
  clientId: string;
  displayName: string;
  servicePrincipalId: string;
  secretHashes: Buffer[];
  certificates: RegisteredCertificate[];
  roles: string[];
  scope: NonNullable<AppSeed['scope']>;
  /** lower-cased addresses the app may reach; null = every mailbox */
  scopeSet: Set<string> | null;
  /** Web redirect URIs (the authorization code flow). */
  redirectUris: string[];
  /** Set on the copy Graph works with when the token is a delegated one: the signed-in user and the token's scopes. */
  delegatedUser?: DelegatedUser & { scopes: string[] };
}

export type TokenCheck = { ok: true; app: AppRecord; claims: Record<string, unknown>; user?: DelegatedUser } | { ok: false; message: string };

function sha256(data: string | Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

function registerCertificate(pem: string): RegisteredCertificate {
  const x509 = new X509Certificate(pem);
  return {
    pem,
    sha1: createHash('sha1').update(x509.raw).digest(),
    sha256: createHash('sha256').update(x509.raw).digest(),
    publicKey: x509.publicKey,
    validFrom: new Date(x509.validFrom),
    validTo: new Date(x509.validTo),
  };
}

/** "2023-05-06 06:03:00Z", the timestamp format of Entra error bodies. */
function aadTimestamp(date: Date): string {
  return date.toISOString().replace('T', ' ').replace(/\.\d{3}Z$/, 'Z');
}

/** "02/07/2021 17:00:39", as Entra prints key validity in AADSTS700027. */
function usDate(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(date.getUTCMonth() + 1)}/${p(date.getUTCDate())}/${date.getUTCFullYear()} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())}`;
}

export interface IdentityServiceOptions {
  tenant: TenantSeed;
  /** https://127.0.0.1:PORT — read lazily, the port is known only after listen() */
  baseUrl: () => string;
  now?: () => number;
  onTokenRequest?: () => void;
}

export class IdentityService {
  readonly tenantId: string;
  private readonly domain: string;
  private readonly apps = new Map<string, AppRecord>();
  private readonly signingKey: KeyObject;
  private readonly publicKey: KeyObject;
  private readonly kid: string;
  private readonly baseUrl: () => string;
  private readonly now: () => number;
  private readonly onTokenRequest: () => void;
  /** Access tokens issued so far, and the issue number of each (by its uti claim), for expiry/revocation on demand. */
  private issued = 0;
  private readonly issueNumbers = new Map<string, number>();
  /** Tokens issued up to these numbers are refused as expired / revoked (faults for tests). */
  private expiredThrough = 0;
  private revokedThrough = 0;
  /** Delegated access: /authorize, the code and refresh-token grants (src/sandbox/delegated.ts). */
  readonly delegated: DelegatedAuthority;

  constructor(options: IdentityServiceOptions) {
    this.tenantId = options.tenant.tenantId.toLowerCase();
    this.domain = options.tenant.domain.toLowerCase();
    this.baseUrl = options.baseUrl;
    this.now = options.now ?? Date.now;
    this.onTokenRequest = options.onTokenRequest ?? (() => {});
    for (const app of options.tenant.apps) {
      this.apps.set(app.clientId.toLowerCase(), {
        clientId: app.clientId,
        displayName: app.displayName,
        servicePrincipalId: servicePrincipalIdFor(app.clientId),
        // Only a hash of each client secret is kept.
        secretHashes: (app.secrets ?? []).map((secret) => sha256(secret)),
        certificates: (app.certificates ?? []).map(registerCertificate),
        roles: [...app.roles],
        scope: app.scope ?? { kind: 'all' },
        scopeSet: app.scope && app.scope.kind !== 'all' ? new Set(app.scope.mailboxes.map((m) => m.toLowerCase())) : null,
        redirectUris: [...(app.redirectUris ?? [])],
      });
    }
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    this.signingKey = privateKey;
    this.publicKey = publicKey;
    this.kid = base64url(createHash('sha1').update(publicKey.export({ type: 'spki', format: 'der' })).digest());
    this.delegated = new DelegatedAuthority(
      {
        tenantId: this.tenantId,
        baseUrl: this.baseUrl,
        now: () => this.now(),
        sign: (claims, track) => {
          const token = signJwt({ typ: 'JWT', alg: 'RS256', x5t: this.kid, kid: this.kid }, claims, this.signingKey);
          if (!track) return { token, issueNumber: 0 };
          const issueNumber = this.remember(String(claims['uti']));
          return { token, issueNumber };
        },
        appName: (clientId) => this.app(clientId)?.displayName,
        redirectUris: (clientId) => this.app(clientId)?.redirectUris ?? [],
        error: (ctx, status, error, code, description) => this.error(ctx, status, error, code, description),
      },
      options.tenant.mailboxes.map((m) => ({ ...m, objectId: objectIdFor(m.address) })),
    );
  }

  /** Notes an access token's issue number (by its uti), for expiry and revocation on demand. */
  private remember(uti: string): number {
    this.issueNumbers.set(uti, ++this.issued);
    if (this.issueNumbers.size > MAX_REMEMBERED_TOKENS) this.issueNumbers.delete(this.issueNumbers.keys().next().value!);
    return this.issued;
  }

  /** Adds a Web redirect URI to an app (tests: calpush's consent page on its random port). */
  addRedirectUri(clientId: string, uri: string): void {
    this.app(clientId)?.redirectUris.push(uri);
  }

  app(clientId: string): AppRecord | undefined {
    return this.apps.get(clientId.toLowerCase());
  }

  /** Registers a certificate on an app after start (the demo app's generated certificate). */
  addCertificate(clientId: string, pem: string): void {
    this.app(clientId)?.certificates.push(registerCertificate(pem));
  }

  private tenantMatches(segment: string): boolean {
    const s = segment.toLowerCase();
    return s === this.tenantId || s === this.domain;
  }

  register(router: Router): void {
    router.add('GET', '/:tenant/v2.0/.well-known/openid-configuration', (ctx) => this.openIdConfiguration(ctx, 'v2'));
    router.add('GET', '/:tenant/.well-known/openid-configuration', (ctx) => this.openIdConfiguration(ctx, 'v1'));
    router.add('GET', '/:tenant/discovery/v2.0/keys', (ctx) => this.keys(ctx));
    router.add('GET', '/:tenant/discovery/keys', (ctx) => this.keys(ctx));
    router.add('GET', '/common/discovery/instance', (ctx) => this.instanceDiscovery(ctx));
    router.add('POST', '/:tenant/oauth2/v2.0/token', (ctx) => this.token(ctx));
    this.delegated.register(router);
  }

  private error(ctx: RequestContext, status: number, error: string, code: number, description: string): void {
    // Entra's error body: https://learn.microsoft.com/entra/identity-platform/reference-error-codes (sample
    // response "error", "error_description" ending in Trace ID / Correlation ID / Timestamp lines, "error_codes",
    // "timestamp", "trace_id", "correlation_id", "error_uri").
    const now = new Date(this.now());
    const traceId = randomUUID();
    const correlationId = ctx.headers['client-request-id'] || randomUUID();
    const timestamp = aadTimestamp(now);
    ctx.note = `AADSTS${code}`;
    sendJson(
      ctx.res,
      status,
      {
        error,
        error_description: `AADSTS${code}: ${description}\r\nTrace ID: ${traceId}\r\nCorrelation ID: ${correlationId}\r\nTimestamp: ${timestamp}`,
        error_codes: [code],
        timestamp,
        trace_id: traceId,
        correlation_id: correlationId,
        error_uri: `https://login.microsoftonline.com/error?code=${code}`,
      },
      { 'cache-control': 'no-store, no-cache', pragma: 'no-cache', 'x-ms-request-id': traceId },
    );
  }

  private tenantNotFound(ctx: RequestContext, tenant: string): void {
    // AADSTS90002, HTTP 400 invalid_tenant, as observed e.g. https://github.com/Azure/azure-cli/issues/22145 and
    // listed in https://learn.microsoft.com/entra/identity-platform/reference-error-codes .
    this.error(ctx, 400, 'invalid_tenant', 90002, `Tenant '${tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant.`);
  }

  private openIdConfiguration(ctx: RequestContext, version: 'v1' | 'v2'): void {
    const tenant = ctx.params['tenant'] ?? '';
    if (!this.tenantMatches(tenant)) return this.tenantNotFound(ctx, tenant);
    const base = this.baseUrl();
    const t = this.tenantId;
    // Field set of https://login.microsoftonline.com/{tenant}/v2.0/.well-known/openid-configuration
    // (https://learn.microsoft.com/entra/identity-platform/v2-protocols-oidc#find-your-apps-openid-configuration-document-uri);
    // the issuer is on the sandbox host so msal-node's issuer validation accepts it.
    const v2 = version === 'v2' ? '/v2.0' : '';
    sendJson(ctx.res, 200, {
      token_endpoint: `${base}/${t}/oauth2${v2}/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${base}/${t}/discovery${v2}/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: version === 'v2' ? `${base}/${t}/v2.0` : `https://sts.windows.net/${t}/`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${base}/oidc/userinfo`,
      authorization_endpoint: `${base}/${t}/oauth2${v2}/authorize`,
      device_authorization_endpoint: `${base}/${t}/oauth2${v2}/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${base}/${t}/oauth2${v2}/logout`,
      claims_supported: ['sub', 'iss', 'cloud_instance_name', 'cloud_instance_host_name', 'cloud_graph_host_name', 'msgraph_host', 'aud', 'exp', 'iat', 'auth_time', 'acr', 'nonce', 'preferred_username', 'name', 'tid', 'ver', 'at_hash', 'c_hash', 'email'],
      tenant_region_scope: 'EU',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    });
  }

  private keys(ctx: RequestContext): void {
    const tenant = ctx.params['tenant'] ?? '';
    if (!this.tenantMatches(tenant)) return this.tenantNotFound(ctx, tenant);
    const jwk = this.publicKey.export({ format: 'jwk' });
    sendJson(ctx.res, 200, { keys: [{ kty: 'RSA', use: 'sig', kid: this.kid, x5t: this.kid, n: jwk.n, e: jwk.e, issuer: `https://sts.windows.net/${this.tenantId}/` }] });
  }

  private instanceDiscovery(ctx: RequestContext): void {
    // Shape of https://login.microsoftonline.com/common/discovery/instance?api-version=1.1&authorization_endpoint=…
    // (msal-common CloudInstanceDiscoveryResponse). msal-node does not call it when knownAuthorities names the
    // sandbox host; it is here for clients that fetch it from the authority host.
    const host = new URL(this.baseUrl()).host;
    sendJson(ctx.res, 200, {
      tenant_discovery_endpoint: `${this.baseUrl()}/${this.tenantId}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
  }

  private async token(ctx: RequestContext): Promise<void> {
    this.onTokenRequest();
    const tenant = ctx.params['tenant'] ?? '';
    let raw: Buffer;
    try {
      raw = await readBody(ctx.req, 1024 * 1024);
    } catch {
      return this.error(ctx, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    }
    if (tenant.toLowerCase() === 'common' || tenant.toLowerCase() === 'organizations') {
      // Client credentials need a tenant: AADSTS50059 (https://learn.microsoft.com/entra/identity-platform/reference-error-codes).
      return this.error(ctx, 400, 'invalid_request', 50059, 'No tenant-identifying information found in either the request or implied by any provided credentials.');
    }
    if (!this.tenantMatches(tenant)) return this.tenantNotFound(ctx, tenant);
    const form = new URLSearchParams(raw.toString('utf8'));
    let clientId = form.get('client_id') ?? '';
    let clientSecret = form.get('client_secret');
    const basic = /^Basic\s+(.+)$/i.exec(ctx.headers['authorization'] ?? '');
    if (basic) {
      // client_secret_basic (RFC 6749 §2.3.1): form-urlencoded id:secret in the Authorization header.
      const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        try {
          clientId = decodeURIComponent(decoded.slice(0, colon));
          clientSecret = decodeURIComponent(decoded.slice(colon + 1));
        } catch {
          clientId = decoded.slice(0, colon);
          clientSecret = decoded.slice(colon + 1);
        }
      }
    }
    const grantType = form.get('grant_type');
    // AADSTS900144 "The request body must contain the following parameter: '…'." (reference-error-codes).
    if (!grantType) return this.error(ctx, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.");
    if (grantType !== 'client_credentials' && grantType !== 'authorization_code' && grantType !== 'refresh_token') {
      // App-only access, and delegated access through the authorization code flow (src/sandbox/delegated.ts).
      return this.error(ctx, 400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grantType}'.`);
    }
    if (!clientId) return this.error(ctx, 400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.");
    const app = this.app(clientId);
    if (!app) {
      // AADSTS700016 wording: https://learn.microsoft.com/entra/identity-platform/reference-error-codes ;
      // observed text e.g. https://devopsaitoolkit.com/blog/azure-error-aadsts700016-50076/ .
      return this.error(ctx, 400, 'unauthorized_client', 700016, `Application with identifier '${clientId}' was not found in the directory '${this.domain}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.`);
    }
    ctx.note = `client ${app.clientId}`;
    const assertion = form.get('client_assertion');
    const assertionType = form.get('client_assertion_type');
    let method: 'secret' | 'certificate';
    if (app.secretHashes.length === 0 && app.certificates.length === 0) {
      // An app registration without credentials behaves like a public client: presenting a credential gives
      // AADSTS700025 (https://github.com/harishkrupo/oauth2ms/issues/19), presenting none AADSTS7000218
      // (https://github.com/MicrosoftDocs/azure-docs/issues/25959); either way no app-only token.
      if ((clientSecret !== null && clientSecret !== undefined) || assertion) {
        return this.error(ctx, 401, 'invalid_client', 700025, "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.");
      }
      return this.error(ctx, 401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.");
    }
    if (clientSecret !== null && clientSecret !== undefined) {
      // Constant-time comparison of SHA-256 hashes of the presented and the registered secrets.
      const presented = sha256(clientSecret);
      let match = false;
      for (const hash of app.secretHashes) match = timingSafeEqual(presented, hash) || match;
      if (!match) {
        // Wording as returned by Entra (HTTP 401): https://github.com/OfficeDev/microsoft-365-agents-toolkit/issues/8621 ;
        // code list https://learn.microsoft.com/entra/identity-platform/reference-error-codes .
        return this.error(ctx, 401, 'invalid_client', 7000215, `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${app.clientId}'.`);
      }
      method = 'secret';
    } else if (assertion) {
      if (assertionType !== JWT_BEARER) {
        // [VERIFY] code: AADSTS90014 is Entra's "required field missing" error (see the scope case below).
        return this.error(ctx, 400, 'invalid_request', 90014, "The required field 'client_assertion_type' is missing from the credential. Ensure that you have all the necessary parameters for the login request.");
      }
      const failure = this.checkAssertion(assertion, app, tenant);
      if (failure) return this.error(ctx, 401, 'invalid_client', failure.code, failure.description);
      method = 'certificate';
    } else {
      // AADSTS7000216: https://github.com/MicrosoftDocs/azure-docs/issues/30777 (text of the error).
      return this.error(ctx, 401, 'invalid_client', 7000216, `'client_assertion', 'client_secret' or 'request' is required for the '${grantType}' grant type.`);
    }
    // A confidential client redeeming a code or a refresh token: the delegated grants.
    if (grantType !== 'client_credentials') return this.delegated.redeem(ctx, app.clientId, form);
    const scope = form.get('scope') ?? '';
    const scopes = scope.split(/\s+/).filter(Boolean);
    if (scopes.length === 0) {
      // AADSTS90014 wording observed in https://github.com/ctron/oidc-cli/issues/7 .
      return this.error(ctx, 400, 'invalid_request', 90014, "The required field 'scope' is missing from the credential. Ensure that you have all the necessary parameters for the login request.");
    }
    const graphDefault = scopes.filter((s) => s.toLowerCase() === `${GRAPH_RESOURCE}/.default` || s.toLowerCase() === `${GRAPH_APP_ID}/.default`);
    const nonDefault = scopes.find((s) => !s.toLowerCase().endsWith('/.default'));
    if (nonDefault !== undefined) {
      // AADSTS1002012 wording: https://github.com/microsoftgraph/msgraph-sdk-python/issues/181 ,
      // "Client credential flows must have a scope value with /.default suffixed to the resource identifier".
      return this.error(ctx, 400, 'invalid_scope', 1002012, `The provided value for scope ${nonDefault} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`);
    }
    if (graphDefault.length !== scopes.length) {
      // Another resource's /.default: this sandbox only issues Graph tokens. AADSTS70011 (invalid_scope) wording of
      // https://learn.microsoft.com/entra/identity-platform/reference-error-codes (sample error response).
      const other = scopes.find((s) => !graphDefault.includes(s)) ?? scope;
      return this.error(ctx, 400, 'invalid_scope', 70011, `The provided value for the input parameter 'scope' isn't valid. The scope ${other} isn't valid.`);
    }
    this.issue(ctx, app, method);
  }

  private checkAssertion(assertion: string, app: AppRecord, tenantSegment: string): { code: number; description: string } | undefined {
    // Certificate credentials: https://learn.microsoft.com/entra/identity-platform/certificate-credentials —
    // header alg PS256 + x5t#S256 (base64url SHA-256 thumbprint) or, older revision, RS256 + x5t (SHA-1);
    // claims aud = token endpoint, iss = sub = client id, jti, nbf, exp.
    const jwt = decodeJwt(assertion);
    if (!jwt) return { code: 50027, description: 'JWT token is invalid or is malformed.' };
    const x5tS256 = typeof jwt.header['x5t#S256'] === 'string' ? (jwt.header['x5t#S256'] as string) : undefined;
    const x5t = typeof jwt.header['x5t'] === 'string' ? (jwt.header['x5t'] as string) : undefined;
    const presented = x5tS256 !== undefined ? Buffer.from(x5tS256, 'base64url') : x5t !== undefined ? Buffer.from(x5t, 'base64url') : undefined;
    const thumbprintHex = presented ? presented.toString('hex').toUpperCase() : '';
    const keysHint = `Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '${app.clientId}'. Review the documentation at https://docs.microsoft.com/en-us/graph/deployments to determine the corresponding service endpoint and https://docs.microsoft.com/en-us/graph/api/application-get?view=graph-rest-1.0&tabs=http to build a query request URL, such as 'https://graph.microsoft.com/beta/applications/${app.clientId}'`;
    const certificate = presented
      ? app.certificates.find((c) => (x5tS256 !== undefined ? c.sha256.equals(presented) : c.sha1.equals(presented)))
      : undefined;
    if (!certificate) {
      // AADSTS700027 "not registered" wording as returned to msal-node:
      // https://github.com/AzureAD/microsoft-authentication-library-for-js/issues/8339 ,
      // https://github.com/keycloak/keycloak/issues/19425 .
      return { code: 700027, description: `The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '${thumbprintHex}', ${keysHint}].` };
    }
    if (!verifyJwtSignature(jwt, certificate.publicKey)) {
      // Signature mismatch wording: https://github.com/Azure/azure-sdk-for-java/issues/25109 ("The provided
      // signature value did not match the expected signature value.").
      return { code: 700027, description: `Client assertion contains an invalid signature. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '${thumbprintHex}', Found key 'Start=${usDate(certificate.validFrom)}, End=${usDate(certificate.validTo)}', ${keysHint}].` };
    }
    const claims = jwt.payload;
    const nowS = Math.floor(this.now() / 1000);
    if (certificate.validTo.getTime() < this.now()) {
      return { code: 700027, description: `Client assertion contains an invalid signature. [Reason - The key used is expired., Thumbprint of key used by client: '${thumbprintHex}', Found key 'Start=${usDate(certificate.validFrom)}, End=${usDate(certificate.validTo)}', ${keysHint}].` };
    }
    const base = this.baseUrl().toLowerCase();
    const audiences = new Set(
      [this.tenantId, this.domain, tenantSegment.toLowerCase()].flatMap((t) => [`${base}/${t}/oauth2/v2.0/token`, `${base}/${t}/oauth2/token`]),
    );
    const aud = typeof claims['aud'] === 'string' ? claims['aud'].toLowerCase() : '';
    if (!audiences.has(aud)) {
      // [VERIFY] Wording of the audience error: older Entra text "Client assertion audience claim does not match
      // Realm issuer." (https://github.com/AzureAD/azure-activedirectory-library-for-python/issues/79).
      return { code: 50012, description: 'Client assertion audience claim does not match Realm issuer.' };
    }
    if (claims['iss'] !== app.clientId || claims['sub'] !== app.clientId) {
      // [VERIFY] AADSTS700021 text is an assumption.
      return { code: 700021, description: "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials ." };
    }
    if (typeof claims['jti'] !== 'string' || claims['jti'] === '') {
      return { code: 50027, description: "JWT token is invalid or is malformed. The 'jti' claim is required in a client assertion." };
    }
    const exp = typeof claims['exp'] === 'number' ? claims['exp'] : undefined;
    const nbf = typeof claims['nbf'] === 'number' ? claims['nbf'] : 0;
    if (exp === undefined || exp + ASSERTION_SKEW_S < nowS || nbf - ASSERTION_SKEW_S > nowS) {
      // AADSTS700024 wording: https://github.com/AzureAD/microsoft-authentication-library-for-dotnet/issues/4951 .
      const iso = (s: number) => new Date(s * 1000).toISOString().replace('Z', '0000Z');
      return { code: 700024, description: `Client assertion is not within its valid time range. Current time: ${iso(nowS)}, assertion valid from ${iso(nbf)}, expiry time of assertion ${iso(exp ?? 0)}. Review the documentation at https://learn.microsoft.com/entra/identity-platform/certificate-credentials .` };
    }
    return undefined;
  }

  private issue(ctx: RequestContext, app: AppRecord, method: 'secret' | 'certificate'): void {
    // Access tokens live a random 60–90 minutes (https://learn.microsoft.com/entra/identity-platform/configurable-token-lifetimes).
    const lifetime = randomInt(3600, 5401);
    const iat = Math.floor(this.now() / 1000);
    const claims: Record<string, unknown> = {
      // v1.0 app-only Graph token claims (https://learn.microsoft.com/entra/identity-platform/access-token-claims-reference).
      aud: GRAPH_RESOURCE,
      iss: `https://sts.windows.net/${this.tenantId}/`,
      iat,
      nbf: iat,
      exp: iat + lifetime,
      aio: base64url(randomUUID()),
      app_displayname: app.displayName,
      appid: app.clientId,
      azp: app.clientId,
      appidacr: method === 'certificate' ? '2' : '1',
      idp: `https://sts.windows.net/${this.tenantId}/`,
      idtyp: 'app',
      oid: app.servicePrincipalId,
      rh: base64url(randomUUID()),
      sub: app.servicePrincipalId,
      tenant_region_scope: 'EU',
      tid: this.tenantId,
      uti: base64url(randomUUID()).slice(0, 22),
      ver: '1.0',
    };
    // Entra omits the roles claim when the app has no application permission.
    if (app.roles.length > 0) claims['roles'] = [...app.roles];
    const token = signJwt({ typ: 'JWT', alg: 'RS256', x5t: this.kid, kid: this.kid }, claims, this.signingKey);
    this.remember(String(claims['uti']));
    // Successful response of the client-credentials grant:
    // https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow#successful-response
    sendJson(ctx.res, 200, { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: token }, { 'cache-control': 'no-store, no-cache', pragma: 'no-cache' });
  }

  /** Checks a Graph request's bearer token: signature, lifetime, audience, issuer, and that the app still exists. */
  verifyAccessToken(authorization: string | undefined): TokenCheck {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    // Messages observed from Graph: "Access token is empty.", "Access token has expired or is not yet valid."
    // (https://github.com/microsofthackathons/tdi/issues/24), "Lifetime validation failed, the token is expired."
    // (https://github.com/s1t5/mail-archiver/issues/267).
    if (!match) return { ok: false, message: 'Access token is empty.' };
    const jwt = decodeJwt(match[1]!);
    if (!jwt) return { ok: false, message: 'IDX14100: JWT is not well formed, there are no dots (.).\nThe token needs to be in JWS or JWE Compact Serialization Format.' };
    if (jwt.header['alg'] !== 'RS256' || !verifyJwtSignature(jwt, this.publicKey)) return { ok: false, message: 'Access token validation failure. Invalid signature.' };
    const claims = jwt.payload;
    // Expired or revoked on demand (expireIssuedTokens / revokeIssuedTokens): as Graph answers a token that expired
    // or that its issuer invalidated before its time.
    const issueNumber = this.issueNumbers.get(String(claims['uti']));
    if (issueNumber !== undefined && issueNumber <= this.revokedThrough) return { ok: false, message: REVOKED_TOKEN_MESSAGE };
    if (issueNumber !== undefined && issueNumber <= this.expiredThrough) return { ok: false, message: EXPIRED_TOKEN_MESSAGE };
    const nowS = Math.floor(this.now() / 1000);
    const exp = typeof claims['exp'] === 'number' ? claims['exp'] : 0;
    const nbf = typeof claims['nbf'] === 'number' ? claims['nbf'] : 0;
    if (exp <= nowS) return { ok: false, message: EXPIRED_TOKEN_MESSAGE };
    if (nbf > nowS + 300) return { ok: false, message: 'Access token has expired or is not yet valid.' };
    if (claims['aud'] !== GRAPH_RESOURCE && claims['aud'] !== GRAPH_APP_ID) return { ok: false, message: 'Access token validation failure. Invalid audience.' };
    if (claims['iss'] !== `https://sts.windows.net/${this.tenantId}/` || claims['tid'] !== this.tenantId) return { ok: false, message: 'Access token validation failure. Invalid issuer.' };
    const app = typeof claims['appid'] === 'string' ? this.app(claims['appid']) : undefined;
    if (!app) return { ok: false, message: 'Access token validation failure.' };
    if (claims['idtyp'] === 'user') {
      // A delegated token: its user must exist, and not have had its sessions or the consent revoked since.
      const user = this.delegated.accessTokenUser(claims, issueNumber);
      if (!user || user === 'revoked') return { ok: false, message: REVOKED_TOKEN_MESSAGE };
      return { ok: true, app, claims, user };
    }
    return { ok: true, app, claims };
  }

  /** Every access token issued so far is refused from now on as expired ("Lifetime validation failed, …"). */
  expireIssuedTokens(): void {
    this.expiredThrough = this.issued;
  }

  /** Every access token issued so far is refused from now on as invalid (revoked before its time). */
  revokeIssuedTokens(): void {
    this.revokedThrough = this.issued;
  }

  /** Signs a token with the sandbox key (tests: expired or foreign-audience tokens). */
  signForTests(claims: Record<string, unknown>): string {
    return signJwt({ typ: 'JWT', alg: 'RS256', x5t: this.kid, kid: this.kid }, claims, this.signingKey);
  }

  publicKeyPem(): string {
    return createPublicKey(this.publicKey).export({ type: 'spki', format: 'pem' }).toString();
  }
}

export function servicePrincipalIdFor(clientId: string): string {
  const h = createHash('sha1').update(`sp:${clientId.toLowerCase()}`).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
