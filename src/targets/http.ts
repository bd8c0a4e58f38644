// HTTPS for the targets and their token clients: keep-alive connections, an optional extra CA (the sandbox, an
// on-premises CA), a timeout per request. Network failures become TargetErrors the scheduler understands.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { TargetError } from './target.ts';

export interface HttpOptions {
  /** Extra CA certificates (PEM) to trust in addition to the system's. */
  caPem?: string;
  timeoutMs?: number;
  maxSockets?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface HttpRequest {
  method: string;
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export class HttpClient {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;
  private readonly timeoutMs: number;

  constructor(options: HttpOptions = {}) {
    // One secure context, built once: passing `ca` to the agent instead would make it join every CA certificate
    // into the connection-pool key on every request (measured: a fifth of calpush's CPU time).
    const secureContext = options.caPem ? tls.createSecureContext({ ca: [...tlsRootCertificates(), options.caPem] }) : undefined;
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256, ...(secureContext ? { secureContext } : {}) });
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: options.maxSockets ?? 256 });
    this.timeoutMs = options.timeoutMs ?? 60_000;
  }

  request(request: HttpRequest): Promise<HttpResponse> {
    const url = new URL(request.url);
    const isHttps = url.protocol === 'https:';
    const transport = isHttps ? https : http;
    const body = request.body === undefined ? undefined : Buffer.isBuffer(request.body) ? request.body : Buffer.from(request.body);
    const headers: Record<string, string> = { ...request.headers };
    if (body) headers['content-length'] = String(body.length);
    return new Promise((resolve, reject) => {
      const req = transport.request(
        url,
        { method: request.method, headers, agent: isHttps ? this.httpsAgent : this.httpAgent, timeout: this.timeoutMs },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => reject(networkError(request, error)));
          res.on('end', () => {
            const responseHeaders: Record<string, string> = {};
            for (const [name, value] of Object.entries(res.headers)) {
              if (value !== undefined) responseHeaders[name] = Array.isArray(value) ? value.join(', ') : value;
            }
            resolve({ status: res.statusCode ?? 0, headers: responseHeaders, body: Buffer.concat(chunks).toString('utf8') });
          });
        },
      );
      req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
      req.on('error', (error) => reject(networkError(request, error)));
      if (body) req.write(body);
      req.end();
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
  }
}

/** Adding a CA must not drop the system's roots (an organisation's Graph endpoint still needs them). */
function tlsRootCertificates(): string[] {
  return [...tls.rootCertificates];
}

/** Why a request got no HTTP answer, as far as an administrator can act on it. */
export type NetworkReason = 'refused' | 'dns' | 'timeout' | 'tls-untrusted' | 'tls-expired' | 'tls-name' | 'tls' | 'unreachable' | 'reset' | 'other';

/** A request that got no HTTP answer: its reason, and the URL it was for (origin and path; never the query). */
export class NetworkError extends TargetError {
  readonly reason: NetworkReason;
  readonly url: string;

  constructor(reason: NetworkReason, url: string, scope: 'transient' | 'fatal', code: string, message: string, details: { remedy?: string; cause?: unknown }) {
    super(scope, code, message, details);
    this.reason = reason;
    this.url = url;
  }
}

// Node's (OpenSSL's) verification codes for a chain that no trusted CA signs.
const TLS_UNTRUSTED = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

/**
 * A request that got no HTTP answer. For a write this means the outcome is unknown: the caller's idempotency
 * (transactionId, deterministic ids) makes the retry safe. Certificate and DNS failures are fatal (no retry
 * fixes a config); a refused connection, a timeout or a reset are transient.
 */
export function networkFailure(method: string, url: URL, error: Error & { code?: string }): NetworkError {
  const code = error.code ?? 'NETWORK_ERROR';
  const host = url.host;
  const where = `${url.origin}${url.pathname}`;
  const make = (reason: NetworkReason, scope: 'transient' | 'fatal', message: string, remedy?: string) =>
    new NetworkError(reason, where, scope, code, message, { ...(remedy ? { remedy } : {}), cause: error });
  if (TLS_UNTRUSTED.has(code)) {
    return make('tls-untrusted', 'fatal', `the TLS certificate of ${host} is not trusted (${code})`, `set target.caFile to the PEM file of the CA that signed it (an inspecting proxy's CA, an on-premises CA; for the sandbox its tls-cert.pem)`);
  }
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') {
    return make('tls-expired', 'fatal', `the TLS certificate of ${host} ${code === 'CERT_HAS_EXPIRED' ? 'has expired' : 'is not valid yet'} (${code})`, code === 'CERT_HAS_EXPIRED' ? `the server's certificate must be renewed (behind an inspecting proxy: its owner)` : `check this machine's clock (NTP)`);
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
    return make('tls-name', 'fatal', `the TLS certificate of ${host} is issued for another name (${code}: ${error.message})`, 'use the host name the certificate names in the URL in the config');
  }
  if (/^ERR_SSL|^EPROTO$/.test(code)) {
    return make('tls', 'fatal', `TLS with ${host} failed (${code}: ${error.message})`, `is ${url.origin} really https on a TLS port? (a plain-HTTP port fails like this)`);
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return make('dns', 'fatal', `cannot resolve ${url.hostname} (${code}) for ${where}`, `check the host name in the config and this machine's DNS (nslookup ${url.hostname})`);
  }
  if (code === 'ECONNREFUSED') {
    return make('refused', 'transient', `connection to ${where} refused (ECONNREFUSED): nothing listens at ${host}`, 'is the server running, and are the host and port in the config right?');
  }
  if (code === 'ETIMEDOUT' || code === 'ESOCKETTIMEDOUT') {
    return make('timeout', 'transient', `${method} ${where}: ${error.message || 'timed out'} (${code})`, `check firewalls and proxies between this machine and ${host}; raise target.requestTimeoutMs if the server is just slow`);
  }
  if (code === 'EHOSTUNREACH' || code === 'ENETUNREACH' || code === 'EADDRNOTAVAIL') {
    return make('unreachable', 'transient', `cannot reach ${host} (${code}) for ${where}`, 'check the network route (and proxy) from this machine to the host');
  }
  if (code === 'ECONNRESET' || code === 'EPIPE' || /socket hang up/i.test(error.message)) {
    return make('reset', 'transient', `${method} ${where}: the connection was closed before an answer came (${code})`);
  }
  return make('other', 'transient', `${method} ${where}: ${error.message} (${code})`);
}

function networkError(request: HttpRequest, error: Error & { code?: string }): NetworkError {
  return networkFailure(request.method, new URL(request.url), error);
}

/**
 * Retry-After in milliseconds: seconds, as Graph and Exchange send it (https://learn.microsoft.com/graph/throttling),
 * or an HTTP date (RFC 9110, section 10.2.3).
 */
export function retryAfterMs(value: string | undefined): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}
