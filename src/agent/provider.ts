// The conference provider: a webhook of the organisation's video platform (Pexip's own scheduling API behind a small
// adaptor, say) that gives a VMR meeting its joining instructions instead of the mailbox's template (docs/agent.md,
// "The conference provider"). calpush POSTs what it knows of the meeting, signed with the shared secret; the answer's
// html and text are the instructions. Whatever goes wrong — no answer within the timeout, a non-2xx status, an answer
// that is not the agreed JSON or is too large — is a *problem* the caller falls back on (the template, or a tentative
// answer): the provider never fails a request, and this module never throws.
//
// Signature: `X-Calpush-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>` with the timestamp
// (Unix seconds) in `X-Calpush-Timestamp`: the timestamp is signed with the body, so a receiver that refuses old
// timestamps cannot be fooled by a recorded request sent again (the scheme of GitHub's and Stripe's webhooks).
//
// One attempt per meeting event, bounded by the timeout (the HTTP client's deadline for the whole exchange): no sleep
// and no retry here. The provider is not a Microsoft mailbox, so its request does not queue in the scheduler's lanes.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { CalpushError } from '../model/errors.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { HttpClient } from '../targets/http.ts';
import type { ProxySettings } from '../config/proxy.ts';

export const SIGNATURE_HEADER = 'x-calpush-signature';
export const TIMESTAMP_HEADER = 'x-calpush-timestamp';
/** The replay window advised to receivers (and verifyProviderSignature's default). */
export const REPLAY_WINDOW_SECONDS = 300;
/** The largest answer read: the instructions are a paragraph or two, not a document. */
export const MAX_ANSWER_BYTES = 64 * 1024;
/** The marker name of the block calpush keeps in a body (instructions.ts): an answer must not forge it. */
const BLOCK_MARKER = /calpush-joining-instructions/i;

export type ProviderEvent = 'accepted' | 'updated' | 'cancelled';

/** What calpush tells the provider about one meeting (the request's JSON body). */
export interface ProviderNotice {
  event: ProviderEvent;
  /** The agent's answer to the meeting: accept or tentative (a cancelled meeting: absent). */
  answer?: 'accept' | 'tentative';
  instance: string;
  mailbox: string;
  meeting: { uid: string; subject: string; organizer: string; start: string | null; end: string | null; isAllDay: boolean; recurring: boolean };
  /** The alias calpush allocated (fixed or from the range), or null. */
  alias: string | null;
}

const text = (max: number) => z.string().max(max);

/** The provider's answer: the instructions in both forms, and optionally what it allocated itself. */
export const providerAnswerSchema = z
  .object({
    html: text(20_000).min(1),
    text: text(20_000).min(1),
    alias: text(200).min(1).optional(),
    dialIn: text(200).optional(),
    webLink: z.url({ protocol: /^https?$/ }).max(2_000).optional(),
  })
  .refine((answer) => !BLOCK_MARKER.test(answer.html) && !BLOCK_MARKER.test(answer.text), { message: 'holds calpush’s own block marker' });

export type ProviderAnswer = z.infer<typeof providerAnswerSchema>;

export type ProviderResult = { ok: true; answer: ProviderAnswer } | { ok: false; problem: string };

/** The answer's JSON read and checked; a problem says what was wrong with it (never its content). */
export function parseProviderAnswer(status: number, body: string): ProviderResult {
  if (status < 200 || status > 299) return { ok: false, problem: `it answered HTTP ${status}` };
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { ok: false, problem: 'its answer is not JSON' };
  }
  const parsed = providerAnswerSchema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, problem: `its answer is not the agreed one: ${issue.path.join('.') || '(the answer)'}: ${issue.message}` };
  }
  return { ok: true, answer: parsed.data };
}

/** The signature header's value for `body` sent at `timestamp` (Unix seconds). */
export function signProviderRequest(secret: string, timestamp: number, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** A receiver's check (and the docs' example): the signature matches and the timestamp is within the window of `nowMs`. */
export function verifyProviderSignature(secret: string, headers: { signature: string | undefined; timestamp: string | undefined }, body: string, nowMs: number, toleranceSeconds = REPLAY_WINDOW_SECONDS): boolean {
  const timestamp = Number(headers.timestamp);
  const given = /^sha256=([0-9a-f]{64})$/.exec(headers.signature ?? '')?.[1];
  if (!Number.isInteger(timestamp) || !given) return false;
  if (Math.abs(nowMs / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}

export interface ConferenceProviderOptions {
  url: string;
  /** The shared secret, already read from its reference (config/secrets.ts); kept in memory only, never in a message. */
  secret: string;
  timeoutMs: number;
  proxy?: ProxySettings;
  caPem?: string;
  clock?: Clock;
}

export class ConferenceProvider {
  private readonly url: URL;
  private readonly secret: string;
  private readonly http: HttpClient;
  private readonly clock: Clock;

  constructor(options: ConferenceProviderOptions) {
    this.url = new URL(options.url);
    this.secret = options.secret;
    this.clock = options.clock ?? systemClock;
    this.http = new HttpClient({
      timeoutMs: options.timeoutMs,
      maxResponseBytes: MAX_ANSWER_BYTES,
      maxSockets: 4,
      ...(options.proxy ? { proxy: options.proxy } : {}),
      ...(options.caPem ? { caPem: options.caPem } : {}),
    });
  }

  /** Where the provider is, for messages: its origin and path (a query may carry a token). */
  get where(): string {
    return `${this.url.origin}${this.url.pathname}`;
  }

  /** The instructions for an accepted or updated meeting, or the problem that stopped them. Never throws. */
  async instructions(notice: ProviderNotice): Promise<ProviderResult> {
    const sent = await this.post(notice);
    return sent.ok ? parseProviderAnswer(sent.status, sent.body) : sent;
  }

  /** Tells the provider a meeting is cancelled (best effort): null, or the problem. Never throws. */
  async notify(notice: ProviderNotice): Promise<string | null> {
    const sent = await this.post(notice);
    if (!sent.ok) return sent.problem;
    return sent.status >= 200 && sent.status <= 299 ? null : `it answered HTTP ${sent.status}`;
  }

  private async post(notice: ProviderNotice): Promise<{ ok: true; status: number; body: string } | { ok: false; problem: string }> {
    const body = JSON.stringify(notice);
    const timestamp = Math.floor(this.clock.now() / 1000);
    try {
      const answer = await this.http.request({
        method: 'POST',
        url: this.url.href,
        headers: {
          'content-type': 'application/json',
          accept: 'application/json',
          'user-agent': 'calpush-agent',
          [TIMESTAMP_HEADER]: String(timestamp),
          [SIGNATURE_HEADER]: signProviderRequest(this.secret, timestamp, body),
          'x-calpush-event': notice.event,
        },
        body,
      });
      return { ok: true, status: answer.status, body: answer.body };
    } catch (error) {
      // The HTTP client's errors name the host and path, never the query nor a header: the secret is not in them.
      return { ok: false, problem: error instanceof CalpushError ? `${error.code}: ${error.message}` : `the request failed: ${(error as Error).message}` };
    }
  }

  close(): void {
    this.http.close();
  }
}
