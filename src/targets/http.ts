// HTTPS for the targets and their token clients: keep-alive connections, an optional extra CA (the sandbox, an
// on-premises CA), a timeout per request. Network failures become TargetErrors the scheduler understands.
import http from 'node:http';
import https from 'node:https';
import tls from 'node:tls';
import { systemClock, type Clock } from '../model/clock.ts';
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
      req.on('timeout', () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
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

/**
 * A request that got no HTTP answer. For a write this means the outcome is unknown: the caller's idempotency
 * (transactionId, deterministic ids) makes the retry safe.
 */
function networkError(request: HttpRequest, error: Error & { code?: string }): TargetError {
  const code = error.code ?? 'NETWORK_ERROR';
  const host = new URL(request.url).host;
  if (['CERT_HAS_EXPIRED', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'ERR_TLS_CERT_ALTNAME_INVALID'].includes(code)) {
    return new TargetError('fatal', code, `TLS certificate of ${host} is not trusted (${code}: ${error.message})`, {
      remedy: 'point the config at the CA that signed it (caFile), or, for the sandbox, at its tls-cert.pem',
      cause: error,
    });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new TargetError('fatal', code, `cannot resolve ${host} (${code})`, { remedy: 'check the URL in the config and DNS', cause: error });
  }
  if (code === 'ECONNREFUSED') {
    return new TargetError('transient', code, `connection to ${host} refused`, { remedy: 'is the server running and the URL right?', cause: error });
  }
  return new TargetError('transient', code, `${request.method} ${host}: ${error.message}`, { cause: error });
}

/**
 * Retry-After in milliseconds: seconds, as Graph and Exchange send it (https://learn.microsoft.com/graph/throttling),
 * or an HTTP date (RFC 9110, section 10.2.3), which is read against `clock` (what time it is here).
 */
export function retryAfterMs(value: string | undefined, clock: Clock = systemClock): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.ceil(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - clock.now());
}
