// HTTP for EWS: a few keep-alive connections per service account, so that NTLM — which authenticates a connection,
// not a request — is negotiated once per connection and then reused; Basic and bearer tokens ride the same
// connections. Each request has a connection to itself for its whole exchange (NTLM's three legs must not
// interleave); there are as many as the account's lane lets requests be in flight (the scheduler's account lane,
// src/engine/scheduler.ts; Autodiscover's single connection, its lookup lane: EwsTarget.locateLane), so a request
// finds one free — only a caller sending more at once than that (a test, the doctor) queues for one: a connection,
// not a wait of any length. An extra CA (an on-premises PKI, the sandbox) is
// trusted in addition to the system's.
//
// NTLM: the type 1/2/3 messages come from @ewsjs/ntlm-client (NTLMv2 when the server offers it); the exchange is
// ours, on our own agents: type 1 with an empty body, the server's 401 with its type 2 challenge, then the real
// request with type 3 on the same connection. The connection stays authenticated until either side closes it.
import http from 'node:http';
import https from 'node:https';
import type { Socket } from 'node:net';
import { hostname } from 'node:os';
import tls from 'node:tls';
import ntlm from '@ewsjs/ntlm-client';
import { DIRECT, type ProxyRoute, type ProxySettings } from '../../config/proxy.ts';
import { DEFAULT_MAX_RESPONSE_BYTES, headersOf, networkFailure, proxyAgent, receive, watchProxy, type AnswerLimits, type AnswerSink, type NetworkError } from '../http.ts';
import { TargetError } from '../target.ts';

export type EwsCredentials =
  | { kind: 'basic'; username: string; password: string; domain?: string }
  | { kind: 'ntlm'; username: string; password: string; domain?: string; workstation?: string }
  /** `invalidate`: the server refused this token (HTTP 401); the next token() must be a fresh one. */
  | { kind: 'bearer'; token: () => Promise<string>; invalidate?: (token: string) => void };

export interface HttpAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

interface RawAnswer extends HttpAnswer {
  socket: Socket | null;
}

/**
 * A hanging answer read as it arrives (GetStreamingEvents, targets/ews/streaming.ts): the chunks of a 200 go to
 * `chunk`, any other answer is collected as usual for the caller to classify. `limits` replace the request's (the
 * connection lasts minutes); `signal` ends it (the body read so far stands).
 */
export interface StreamingRead {
  chunk: (chunk: Buffer) => void;
  limits: AnswerLimits;
  signal: AbortSignal;
}

export interface ConnectionOptions {
  url: string;
  caPem?: string;
  timeoutMs: number;
  /** Connections (the account's concurrency). */
  slots: number;
  /** For messages: the account's name, never its secret. */
  account: string;
  /** Largest answer body (DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** The outbound proxy; through it, each slot's connection is one CONNECT tunnel, which NTLM authenticates. */
  proxy?: ProxySettings;
}

interface Slot {
  agent: http.Agent;
  /** The socket NTLM authenticated on this slot, while it lives. */
  authenticated: Socket | null;
}

const USER_AGENT = 'calpush (EWS)';

/** The NTLM token in a WWW-Authenticate header ("Negotiate, NTLM TlRMTVNT…" or "NTLM TlRMTVNT…"). */
export function ntlmToken(header: string | undefined): string | null | undefined {
  if (!header) return undefined;
  const match = /(?:^|[\s,])NTLM\s+([A-Za-z0-9+/]+=*)/i.exec(header);
  if (match) return match[1]!;
  return /(?:^|[\s,])NTLM(?:$|[\s,])/i.test(header) ? null : undefined;
}

/**
 * User name and domain for NTLM: "DOMAIN\\user"; "user@upn.example" with an empty domain (the UPN names it, as
 * Windows clients send it); a bare name with the configured domain, else the domain the server's challenge names.
 */
export function ntlmIdentity(username: string, domain: string | undefined): { user: string; domain: string | undefined } {
  const backslash = username.indexOf('\\');
  if (backslash > 0) return { domain: username.slice(0, backslash), user: username.slice(backslash + 1) };
  if (username.includes('@')) return { user: username, domain: domain ?? '' };
  return { user: username, domain };
}

export class AccountConnection {
  private readonly url: URL;
  private readonly slots: Slot[];
  /** Connections not in use, and the requests waiting for one. */
  private readonly free: Slot[];
  private readonly waiting: Array<{ resolve: (slot: Slot) => void; reject: (error: unknown) => void }> = [];
  private closed = false;
  /** Most requests in flight at once on this account's connections. */
  maxInFlight = 0;
  private readonly credentials: EwsCredentials;
  private readonly timeoutMs: number;
  private readonly account: string;
  private readonly limits: AnswerLimits;
  private readonly route: ProxyRoute | null;
  private readonly proxySource: string;
  /** The TLS context with the extra CA, for a tunnel's TLS (set on the request: the tunnel agent does not carry it). */
  private readonly tunnelTls: { secureContext?: tls.SecureContext };

  constructor(credentials: EwsCredentials, options: ConnectionOptions) {
    this.url = new URL(options.url);
    this.limits = { maxBytes: options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES, totalMs: options.timeoutMs, setting: 'target.maxResponseBytes' };
    this.credentials = credentials;
    this.timeoutMs = options.timeoutMs;
    this.account = options.account;
    const isHttps = this.url.protocol === 'https:';
    // One TLS context with the extra CA, built once. Handing `ca` to the agent instead would cost dearly: the agent
    // puts the whole CA list (~150 system roots) into its pool key on every request, and builds a new context (and
    // parses every root again) for every connection.
    const secureContext = options.caPem ? tls.createSecureContext({ ca: [...tls.rootCertificates, options.caPem] }) : undefined;
    const proxy = options.proxy ?? DIRECT;
    this.route = proxy.routeFor(this.url);
    this.proxySource = proxy.source;
    this.tunnelTls = this.route && isHttps && secureContext ? { secureContext } : {};
    const route = this.route;
    const agentOptions = { keepAlive: true, maxSockets: 1, maxFreeSockets: 1, ...(secureContext ? { secureContext } : {}) };
    this.slots = Array.from({ length: Math.max(1, options.slots) }, () => ({
      agent: route ? proxyAgent(route, isHttps, agentOptions) : isHttps ? new https.Agent(agentOptions) : new http.Agent({ keepAlive: true, maxSockets: 1, maxFreeSockets: 1 }),
      authenticated: null,
    }));
    this.free = [...this.slots].reverse();
  }

  /** POSTs a SOAP request on a connection of its own, authenticating as the account. */
  async post(body: string, headers: Record<string, string>, streaming?: StreamingRead): Promise<HttpAnswer> {
    const slot = await this.acquire();
    try {
      return await this.exchange(slot, body, headers, streaming);
    } finally {
      this.release(slot);
    }
  }

  private acquire(): Promise<Slot> {
    if (this.closed) return Promise.reject(new TargetError('fatal', 'TargetClosed', 'the EWS target was closed'));
    const slot = this.free.pop();
    if (slot) {
      this.maxInFlight = Math.max(this.maxInFlight, this.slots.length - this.free.length);
      return Promise.resolve(slot);
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  private release(slot: Slot): void {
    const next = this.waiting.shift();
    if (next) next.resolve(slot);
    else this.free.push(slot);
  }

  private async exchange(state: Slot, body: string, headers: Record<string, string>, streaming?: StreamingRead): Promise<HttpAnswer> {
    const base: Record<string, string> = {
      'content-type': 'text/xml; charset=utf-8',
      accept: 'text/xml',
      'user-agent': USER_AGENT,
      ...headers,
    };
    const credentials = this.credentials;
    if (credentials.kind === 'basic') {
      const user = credentials.domain && !/[\\@]/.test(credentials.username) ? `${credentials.domain}\\${credentials.username}` : credentials.username;
      return this.raw(state, { ...base, authorization: `Basic ${Buffer.from(`${user}:${credentials.password}`, 'utf8').toString('base64')}` }, body, streaming);
    }
    if (credentials.kind === 'bearer') return this.bearer(state, credentials, base, body, streaming);
    return this.ntlm(state, credentials, base, body, streaming);
  }

  /**
   * A 401 to a bearer token that the provider can replace (expired early, revoked): a fresh token and one more try;
   * a second 401 in a row is for the caller to classify. Exchange did not act on a request it answered 401.
   */
  private async bearer(state: Slot, credentials: Extract<EwsCredentials, { kind: 'bearer' }>, headers: Record<string, string>, body: string, streaming?: StreamingRead): Promise<HttpAnswer> {
    const token = await credentials.token();
    const answer = await this.raw(state, { ...headers, authorization: `Bearer ${token}` }, body, streaming);
    if (answer.status !== 401 || !credentials.invalidate) return answer;
    credentials.invalidate(token);
    return this.raw(state, { ...headers, authorization: `Bearer ${await credentials.token()}` }, body, streaming);
  }

  private async ntlm(state: Slot, credentials: Extract<EwsCredentials, { kind: 'ntlm' }>, headers: Record<string, string>, body: string, streaming?: StreamingRead): Promise<HttpAnswer> {
    if (state.authenticated && !state.authenticated.destroyed) {
      const answer = await this.raw(state, headers, body, streaming);
      if (answer.status !== 401) return answer;
      // The server no longer knows this connection (a new socket, or it dropped the authentication): negotiate.
      state.authenticated = null;
    }
    const { user, domain } = ntlmIdentity(credentials.username, credentials.domain);
    const workstation = credentials.workstation ?? hostname().split('.')[0]!.toUpperCase();
    for (let attempt = 1; ; attempt++) {
      const challenge = await this.raw(state, { ...headers, authorization: ntlm.createType1Message(workstation, domain ?? '') }, '');
      const token = ntlmToken(challenge.headers['www-authenticate']);
      if (challenge.status !== 401 || !token) {
        if (challenge.status === 401 && token === undefined) {
          throw new TargetError('fatal', 'NtlmNotOffered', `Exchange does not offer NTLM for ${this.account} (it offers: ${challenge.headers['www-authenticate'] ?? 'nothing'})`, {
            status: 401,
            remedy: 'enable Windows (NTLM) authentication on the EWS virtual directory (Set-WebServicesVirtualDirectory -WindowsAuthentication $true), or set target.auth to what it offers',
          });
        }
        // Not a challenge: an error page, a proxy's answer. Hand it over to be classified like any other.
        return challenge;
      }
      let type3: string;
      try {
        type3 = ntlm.createType3Message(ntlm.decodeType2Message(token), user, credentials.password, workstation, domain);
      } catch (error) {
        throw new TargetError('fatal', 'NtlmBadChallenge', `Exchange's NTLM challenge cannot be read (${error instanceof Error ? error.message : String(error)})`, {
          remedy: 'is something between calpush and Exchange rewriting authentication headers? Try target.auth "basic" over TLS to confirm',
        });
      }
      const answer = await this.raw(state, { ...headers, authorization: type3 }, body, streaming);
      const sameConnection = answer.socket !== null && answer.socket === challenge.socket;
      if (answer.status === 401 && !sameConnection && attempt < 2) continue; // the connection closed between the legs
      if (answer.status !== 401 && answer.socket) state.authenticated = answer.socket;
      return answer;
    }
  }

  private async raw(state: Slot, headers: Record<string, string>, body: string, streaming?: StreamingRead): Promise<RawAnswer> {
    if (streaming?.signal.aborted) throw new TargetError('fatal', 'StreamStopped', 'the streaming connection was stopped');
    const payload = Buffer.from(body, 'utf8');
    const url = this.url;
    const isHttps = url.protocol === 'https:';
    const limits = streaming?.limits ?? this.limits;
    const timeoutMs = streaming ? limits.totalMs : this.timeoutMs;
    const request = (isHttps ? https : http).request(url, { method: 'POST', agent: state.agent, timeout: timeoutMs, headers: { ...headers, 'content-length': String(payload.length) }, ...this.tunnelTls });
    request.on('timeout', () => request.destroy(Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    const refusedBy = watchProxy(request, this.route, url, this.proxySource);
    // Bounded like every answer (src/targets/http.ts): a 600 MB FindItem answer is cut at maxResponseBytes instead of
    // being collected into one string the process cannot hold.
    const sink = streaming ? streamingSink(streaming) : undefined;
    const answer = receive(request, url.host, limits, (error) => networkError(url, error, this.route, this.proxySource), sink);
    request.end(payload);
    const stop = () => request.destroy();
    streaming?.signal.addEventListener('abort', stop, { once: true });
    try {
      const { response, socket, body: received } = await answer.catch((error: unknown) => {
        // Stopped by the caller, not failed: nothing for the scheduler to retry.
        if (streaming?.signal.aborted) throw new TargetError('fatal', 'StreamStopped', 'the streaming connection was stopped');
        throw error;
      });
      const refused = refusedBy(response.statusCode ?? 0);
      if (refused) throw refused;
      return { status: response.statusCode ?? 0, headers: headersOf(response), body: (sink ? Buffer.concat(sink.collected) : received).toString('utf8'), socket };
    } finally {
      streaming?.signal.removeEventListener('abort', stop);
    }
  }

  close(): void {
    this.closed = true;
    const closed = new TargetError('fatal', 'TargetClosed', 'the EWS target was closed');
    for (const waiter of this.waiting.splice(0)) waiter.reject(closed);
    for (const slot of this.slots) slot.agent.destroy();
  }
}

/** The sink of a streaming read: a 200's chunks to the reader as they come, another answer's body collected. */
function streamingSink(streaming: StreamingRead): AnswerSink & { collected: Buffer[] } {
  const sink = {
    response: null as http.IncomingMessage | null,
    collected: [] as Buffer[],
    head(response: http.IncomingMessage) {
      sink.response = response;
    },
    chunk(chunk: Buffer) {
      if (sink.response?.statusCode === 200) streaming.chunk(chunk);
      else sink.collected.push(chunk);
    },
  };
  return sink;
}

/**
 * A request that got no HTTP answer (the same reasons and fixes as every HTTP client of calpush: src/targets/http.ts).
 * For a CreateItem this means the outcome is unknown: the target looks for the transactionId before sending it again.
 */
export function networkError(url: URL, error: Error & { code?: string }, via: ProxyRoute | null = null, proxySource = 'proxy'): NetworkError {
  return networkFailure('POST', url, error, via, proxySource);
}
