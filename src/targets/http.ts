// HTTPS for the targets and their token clients: keep-alive connections, an optional extra CA (the sandbox, an
// on-premises CA), bounded answers. Network failures become TargetErrors the scheduler understands.
//
// Every answer is bounded (receive(), also used by the EWS transport): at most maxResponseBytes of body — a
// Content-Length above it is refused before a byte is read, and the connection is cut the moment the body passes
// it — and at most timeoutMs for the whole exchange, so that a server that trickles a byte every few seconds (which
// never trips the socket's idle timeout) cannot hold a request forever. No client here asks for a content coding
// (no Accept-Encoding), so a body is never inflated: the bytes counted are the bytes kept.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import tls from 'node:tls';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { DIRECT, type ProxyRoute, type ProxySettings } from '../config/proxy.ts';
import { DEFAULT_MAX_RESPONSE_BYTES } from './answer-limits.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { TargetError } from './target.ts';

export { DEFAULT_MAX_RESPONSE_BYTES };

export interface HttpOptions {
  /** Extra CA certificates (PEM) to trust in addition to the system's. */
  caPem?: string;
  /** The whole exchange (from getting a connection to the answer's last byte), and the longest silence. */
  timeoutMs?: number;
  maxSockets?: number;
  /** Largest answer body (DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** The config setting that raises maxResponseBytes, named in the error (e.g. "target.maxResponseBytes"). */
  maxResponseSetting?: string;
  /** The outbound proxy (src/config/proxy.ts); default none. */
  proxy?: ProxySettings;
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
  /** A smaller, fixed limit for this request's answer (e.g. a token endpoint's). */
  maxResponseBytes?: number;
}

/** How much of an answer is accepted, and what to tell the administrator when a server sends more. */
export interface AnswerLimits {
  maxBytes: number;
  /** From the moment the request has a connection to the last byte of the answer. */
  totalMs: number;
  /** The setting that raises maxBytes ("target.maxResponseBytes"), or null for a fixed limit. */
  setting: string | null;
}

export interface ReceivedAnswer {
  response: http.IncomingMessage;
  /** The connection the answer came on, taken when it arrived (a keep-alive agent takes it back afterwards). */
  socket: Socket | null;
  body: Buffer;
}

/**
 * An answer larger than the limit. Not transient: the request asked for a bounded page (Graph $top, EWS pageSize,
 * CalDAV multigetChunk), so the same request gets the same answer again — retrying would only download it again.
 * The mailbox is stopped and reported (the others go on; `serve` tries it again after its back-off); a create whose
 * answer was cut counts as "outcome unknown", so the mailbox is listed before anything is sent again.
 */
export function answerTooLarge(host: string, limits: AnswerLimits, declared?: number): TargetError {
  const size = declared === undefined ? `more than ${limits.maxBytes} bytes` : `${declared} bytes (its Content-Length)`;
  const limit = limits.setting ? `${limits.maxBytes} (${limits.setting})` : `${limits.maxBytes} bytes for this kind of answer`;
  return new TargetError('mailbox', 'AnswerTooLarge', `${host} sent an answer of ${size}; calpush accepts at most ${limit}; the connection was closed`, {
    remedy: limits.setting
      ? `if the server is right to send this much, raise ${limits.setting} (or make the pages smaller); otherwise find out why ${host} answers like this`
      : `find out why ${host} answers like this (is the URL in the config the right service?)`,
  });
}

/** The whole exchange took longer than allowed (a server that trickles its answer). Transient, like a timeout. */
export function answerTooSlow(host: string, limits: AnswerLimits): TargetError {
  return new TargetError('transient', 'AnswerTooSlow', `${host} did not complete its answer within ${limits.totalMs} ms; the connection was closed`, {
    remedy: 'a slow or overloaded server, or one that trickles its answer: raise the target\'s requestTimeoutMs if it is merely slow',
  });
}

/** Takes an answer as it arrives instead of having it collected: its head, then each chunk of its body. */
export interface AnswerSink {
  head(response: http.IncomingMessage): void;
  chunk(chunk: Buffer): void;
}

/**
 * Waits for the answer to `request` (already sent or being sent) and reads its body within `limits`: a
 * Content-Length over the limit is refused at once, a body is cut off the moment it passes the limit, and the
 * whole exchange is cut after limits.totalMs. The request is destroyed on any failure (its connection is not
 * reused). Network errors become TargetErrors through `networkError`. With a `sink`, the head and the chunks go
 * there as they arrive (the same limits apply; a sink that throws fails the answer) and the body returned is empty.
 */
export function receive(
  request: http.ClientRequest,
  host: string,
  limits: AnswerLimits,
  networkError: (error: Error & { code?: string }) => TargetError,
  sink?: AnswerSink,
): Promise<ReceivedAnswer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let deadline: NodeJS.Timeout | undefined;
    const settle = (error: TargetError | null, answer?: ReceivedAnswer) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (!error) return resolve(answer!);
      request.destroy();
      reject(error);
    };
    // The clock starts with the connection, so that a request waiting for a free socket of the agent is not cut.
    // No answer at all within the time is a timeout of the request (the diagnosis names the URL and the network
    // path); an answer that began but did not finish is a server trickling it (AnswerTooSlow).
    let answered = false;
    request.once('socket', () => {
      deadline = setTimeout(
        () => settle(answered ? answerTooSlow(host, limits) : networkError(Object.assign(new Error(`no answer within ${limits.totalMs} ms`), { code: 'ETIMEDOUT' }))),
        limits.totalMs,
      );
    });
    request.on('error', (error) => settle(networkError(error)));
    /** Hands over to the sink; what it throws fails the answer. */
    const give = (deliver: () => void): boolean => {
      try {
        deliver();
        return true;
      } catch (error) {
        settle(error instanceof TargetError ? error : new TargetError('transient', 'UnreadableAnswer', `${host}: ${error instanceof Error ? error.message : String(error)}`, { cause: error }));
        return false;
      }
    };
    request.on('response', (response) => {
      answered = true;
      const socket = response.socket ?? null;
      const declared = Number(response.headers['content-length'] ?? Number.NaN);
      if (declared > limits.maxBytes) return settle(answerTooLarge(host, limits, declared));
      if (sink && !give(() => sink.head(response))) return;
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        if (settled) return;
        size += chunk.length;
        if (size > limits.maxBytes) return settle(answerTooLarge(host, limits));
        if (sink) give(() => sink.chunk(chunk));
        else chunks.push(chunk);
      });
      response.on('error', (error) => settle(networkError(error)));
      response.on('end', () => settle(null, { response, socket, body: sink ? Buffer.alloc(0) : Buffer.concat(chunks, size) }));
    });
  });
}

/** An answer's headers as single strings (repeated headers joined with ", "). */
export function headersOf(response: http.IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(response.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

/**
 * An agent that sends through the proxy `route`: for an https target a CONNECT tunnel per connection, kept alive with
 * the connection (so that NTLM, which authenticates a connection, survives the tunnel; TLS to the target runs inside
 * it, checked against the request's secureContext), for an http target absolute-URI requests (RFC 9112 §3.2.2).
 */
export function proxyAgent(route: ProxyRoute, secureTarget: boolean, options: http.AgentOptions & { secureContext?: tls.SecureContext }): http.Agent {
  // Credentials go as a header, not in the proxy URL: the agents log that URL when debugging is on.
  const withAuth = route.authorization ? { ...options, headers: { 'Proxy-Authorization': route.authorization } } : options;
  return secureTarget ? new HttpsProxyAgent(route.url, withAuth) : new HttpProxyAgent(route.url, withAuth);
}

/**
 * Watches a request sent through a proxy: given the answer's status, the TargetError when it is the proxy's refusal
 * rather than the target's answer — its CONNECT answered other than 200 (https-proxy-agent then hands the proxy's
 * answer over as if it were the target's), or 407 Proxy Authentication Required (RFC 9110 §15.5.8).
 */
export function watchProxy(request: http.ClientRequest, route: ProxyRoute | null, target: URL, source: string): (status: number) => TargetError | null {
  if (!route) return () => null;
  let tunnel: number | null = null;
  // Only a tunnel (https) has a CONNECT answer; http-proxy-agent's event of the same name carries none.
  if (target.protocol === 'https:') request.on('proxyConnect', (answer: { statusCode?: number }) => (tunnel = answer.statusCode ?? 0));
  return (status) => {
    const refused = tunnel !== null && tunnel !== 200 ? tunnel : status === 407 ? 407 : null;
    return refused === null ? null : proxyRefusal(route, refused, target, source);
  };
}

function proxyRefusal(route: ProxyRoute, status: number, target: URL, source: string): TargetError {
  if (status === 407) {
    const keys = source === 'none' || source.startsWith('the environment') ? 'proxy.username and proxy.password in the config' : `${source}.username and ${source}.password`;
    return new TargetError('fatal', 'ProxyAuthenticationRequired', `the proxy ${route.display} asks calpush to authenticate (407) for ${target.host}`, {
      status,
      remedy: `give the proxy's user name and password (${keys}; the password as a secret reference), or check them`,
    });
  }
  if (status >= 500) {
    return new TargetError('transient', 'ProxyCouldNotConnect', `the proxy ${route.display} could not connect to ${target.host} (it answered ${status})`, { status });
  }
  const port = target.port || (target.protocol === 'https:' ? '443' : '80');
  return new TargetError('fatal', 'ProxyRefused', `the proxy ${route.display} refused to connect calpush to ${target.host} (it answered ${status})`, {
    status,
    remedy: `allow calpush's host to reach ${target.hostname}:${port} through the proxy (for https: CONNECT to that port), or list the host in noProxy / NO_PROXY`,
  });
}

export class HttpClient {
  private readonly httpsAgent: https.Agent;
  private readonly httpAgent: http.Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly maxResponseSetting: string;
  private readonly secureContext: tls.SecureContext | undefined;
  private readonly proxy: ProxySettings;
  /** Agents through a proxy, by proxy and the target's scheme. */
  private readonly proxied = new Map<string, http.Agent>();
  private readonly maxSockets: number;

  constructor(options: HttpOptions = {}) {
    // One secure context, built once: passing `ca` to the agent instead would make it join every CA certificate
    // into the connection-pool key on every request (measured: a fifth of calpush's CPU time).
    const secureContext = options.caPem ? tls.createSecureContext({ ca: [...tlsRootCertificates(), options.caPem] }) : undefined;
    this.secureContext = secureContext;
    this.maxSockets = options.maxSockets ?? 256;
    this.httpsAgent = new https.Agent({ keepAlive: true, maxSockets: this.maxSockets, ...(secureContext ? { secureContext } : {}) });
    this.httpAgent = new http.Agent({ keepAlive: true, maxSockets: this.maxSockets });
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
    this.maxResponseSetting = options.maxResponseSetting ?? 'target.maxResponseBytes';
    this.proxy = options.proxy ?? DIRECT;
  }

  /** The agent for a request to `url`: through its proxy, or direct. */
  private agentFor(url: URL, route: ProxyRoute | null): http.Agent {
    const isHttps = url.protocol === 'https:';
    if (!route) return isHttps ? this.httpsAgent : this.httpAgent;
    const key = `${route.url.href} ${url.protocol}`;
    let agent = this.proxied.get(key);
    if (!agent) {
      // An https proxy is itself checked against the same CAs (the options of the connection to the proxy).
      agent = proxyAgent(route, isHttps, { keepAlive: true, maxSockets: this.maxSockets, ...(this.secureContext ? { secureContext: this.secureContext } : {}) });
      this.proxied.set(key, agent);
    }
    return agent;
  }

  async request(request: HttpRequest): Promise<HttpResponse> {
    const { response, body } = await this.send(request);
    return { status: response.status, headers: response.headers, body: body!.toString('utf8') };
  }

  /**
   * Resolves with the head of the answer as soon as it arrives; the body follows as a stream, under the same
   * limits (a body past maxResponseBytes or an exchange past timeoutMs errors the stream with the TargetError). For
   * listings parsed as they arrive (the CalDAV target's REPORT), and for its fetch adaptor.
   */
  async open(request: HttpRequest): Promise<{ status: number; headers: Record<string, string>; body: ReadableStream<Uint8Array> }> {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    let abandon = () => {};
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      start(c) {
        controller = c;
      },
      // A reader that stops early (a parse error) ends the exchange: the rest is not downloaded.
      cancel: () => {
        cancelled = true;
        abandon();
      },
    });
    const { response } = await this.send(request, {
      chunk: (chunk) => controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)),
      // After a cancel the stream takes nothing more (and would throw).
      close: () => cancelled || controller.close(),
      error: (error) => cancelled || controller.error(error),
      attach: (destroy) => (abandon = destroy),
    });
    return { ...response, body };
  }

  /**
   * Sends the request; resolves with the head and, without a stream, the whole body. With a stream, resolves at
   * the head and feeds the stream until the answer ends or fails.
   */
  private send(
    request: HttpRequest,
    stream?: { chunk(chunk: Buffer): void; close(): void; error(error: unknown): void; attach(destroy: () => void): void },
  ): Promise<{ response: { status: number; headers: Record<string, string> }; body?: Buffer }> {
    const url = new URL(request.url);
    const isHttps = url.protocol === 'https:';
    const transport = isHttps ? https : http;
    // A string body is written as it is (Node encodes it into the socket's own write buffer): a Buffer made of it here
    // would live, in memory V8 does not count, until the full collection after the answer (docs/benchmarks.md).
    let body = request.body;
    const headers: Record<string, string> = { ...request.headers };
    if (body !== undefined) headers['content-length'] = String(typeof body === 'string' ? Buffer.byteLength(body) : body.length);
    const route = this.proxy.routeFor(url);
    // Through a tunnel the TLS with the target is the request's own: it gets the extra CA here.
    const tunnelTls = route && isHttps && this.secureContext ? { secureContext: this.secureContext } : {};
    const req = transport.request(url, { method: request.method, headers, agent: this.agentFor(url, route), timeout: this.timeoutMs, ...tunnelTls });
    req.on('timeout', () => req.destroy(Object.assign(new Error(`no answer within ${this.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    const refusedBy = watchProxy(req, route, url, this.proxy.source);
    const smaller = request.maxResponseBytes !== undefined && request.maxResponseBytes < this.maxResponseBytes;
    const limits: AnswerLimits = {
      maxBytes: smaller ? request.maxResponseBytes! : this.maxResponseBytes,
      totalMs: this.timeoutMs,
      setting: smaller ? null : this.maxResponseSetting,
    };
    const fail = (error: Error & { code?: string }) => networkError(request, error, route, this.proxy.source);
    const write = () => {
      if (body !== undefined && body.length > 0) req.write(body);
      body = undefined; // not kept for as long as the answer takes
      req.end();
    };
    if (!stream) {
      const answer = receive(req, url.host, limits, fail);
      write();
      return answer.then(({ response, body: received }) => {
        const refused = refusedBy(response.statusCode ?? 0);
        if (refused) throw refused;
        return { response: { status: response.statusCode ?? 0, headers: headersOf(response) }, body: received };
      });
    }
    stream.attach(() => req.destroy());
    return new Promise((resolve, reject) => {
      let opened = false;
      receive(req, url.host, limits, fail, {
        head: (response) => {
          const refused = refusedBy(response.statusCode ?? 0);
          if (refused) throw refused;
          opened = true;
          resolve({ response: { status: response.statusCode ?? 0, headers: headersOf(response) } });
        },
        chunk: stream.chunk,
      }).then(
        () => stream.close(),
        (error: unknown) => (opened ? stream.error(error) : reject(error)),
      );
      write();
    });
  }

  close(): void {
    this.httpsAgent.destroy();
    this.httpAgent.destroy();
    for (const agent of this.proxied.values()) agent.destroy();
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
  /** The proxy, when it was the proxy that could not be reached (not the target). */
  readonly proxy: string | undefined;

  constructor(reason: NetworkReason, url: string, scope: 'transient' | 'fatal', code: string, message: string, details: { remedy?: string; cause?: unknown; proxy?: string }) {
    super(scope, code, message, details);
    this.reason = reason;
    this.url = url;
    this.proxy = details.proxy;
  }
}

/**
 * Whether a failed request may have been carried out all the same: no answer came after the request had left (a
 * timeout, a reset: RFC 9110 section 9.2.2 — the client cannot know whether the server acted), or the server failed
 * (5xx) or its answer could not be read. A refusal — a 4xx, Exchange's ResponseCode errors, throttling, a connection
 * that was never made, a request never sent — is a definite no: the service did not act.
 */
export function mayHaveActed(error: unknown): boolean {
  if (!(error instanceof TargetError) || error.unsent || error.throttles) return false;
  if (error instanceof NetworkError) return error.reason === 'timeout' || error.reason === 'reset' || error.reason === 'other';
  if (error.status !== undefined && error.status >= 500) return true;
  return error.code === 'AnswerTooSlow' || error.code === 'AnswerTooLarge' || error.code === 'UnreadableAnswer';
}

// Node's (OpenSSL's) verification codes for a chain that no trusted CA signs.
export const TLS_UNTRUSTED = new Set([
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
export function networkFailure(method: string, url: URL, error: Error & { code?: string }, via: ProxyRoute | null = null, proxySource = 'proxy'): NetworkError {
  const code = error.code ?? 'NETWORK_ERROR';
  const host = url.host;
  const where = `${url.origin}${url.pathname}`;
  const make = (reason: NetworkReason, scope: 'transient' | 'fatal', message: string, remedy?: string) =>
    new NetworkError(reason, where, scope, code, message, { ...(remedy ? { remedy } : {}), cause: error });
  // Through a proxy, the connection calpush makes is to the proxy: it is the proxy that cannot be found or reached.
  if (via && ['ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) {
    const reason = code === 'ECONNREFUSED' ? 'refused' : code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? 'dns' : 'unreachable';
    return new NetworkError(reason, where, reason === 'dns' ? 'fatal' : 'transient', code, `cannot reach the proxy ${via.display} (${code}) for ${where}`, {
      remedy: `check the proxy (${proxySource}): is it running, and are its host and port right?`,
      cause: error,
      proxy: via.display,
    });
  }
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

function networkError(request: HttpRequest, error: Error & { code?: string }, via: ProxyRoute | null, proxySource: string): NetworkError {
  return networkFailure(request.method, new URL(request.url), error, via, proxySource);
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
