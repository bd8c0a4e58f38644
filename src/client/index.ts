// A typed client of calpush's push API (import from "calpush/client"). Uses the platform's fetch; no dependencies.
//
//   const calpush = new CalpushClient({ baseUrl: 'https://calpush.example.edu', apiKey: process.env.CALPUSH_KEY });
//   await calpush.putEvent('s0001@contoso.edu', 'MATH101-2026-09-01', { subject: 'Calculus I', start: '2026-09-01T09:00', end: '2026-09-01T10:45', timeZone: 'Europe/Amsterdam' });
//   await calpush.waitForDelivery('s0001@contoso.edu', 'MATH101-2026-09-01');
import type {
  Accepted,
  BatchItem,
  BatchResult,
  CalendarEvent,
  CalendarList,
  CalendarStatus,
  EventBody,
  EventStatus,
  Health,
  ProblemDocument,
  ReplaceResult,
} from '../server/schemas.ts';
import { CalpushError } from '../model/errors.ts';

export type { Accepted, BatchItem, BatchItemResult, BatchResult, CalendarEvent, CalendarList, CalendarStatus, EventBody, EventRecord, EventStatus, Health, ProblemDocument, ReplaceResult } from '../server/schemas.ts';

export interface CalpushClientOptions {
  /** Where calpush serve listens: "https://calpush.example.edu" (a path prefix is kept). */
  baseUrl: string;
  /** An API key from `calpush apikey create` (cpk_…). */
  apiKey?: string;
  fetch?: typeof fetch;
  /** Per-request timeout (ms); default 30 s. */
  timeoutMs?: number;
  headers?: Record<string, string>;
}

/** An answer with an error status; `problem` is the RFC 9457 document calpush sent, `code` its kind. */
export class CalpushApiError extends CalpushError {
  readonly status: number;
  readonly problem: ProblemDocument;
  constructor(status: number, problem: ProblemDocument) {
    const fields = (problem.errors ?? []).map((e) => `${e.field} ${e.message}`).join('; ');
    super((problem.type ?? '').replace(/^.*#problem-/, '') || `http-${status}`, `${status} ${problem.title}${problem.detail ? `: ${problem.detail}` : ''}${fields ? ` (${fields})` : ''}`);
    this.status = status;
    this.problem = problem;
  }
}

/** A path segment. "." and ".." cannot be sent as one (URL parsers resolve them, even percent-encoded). */
const path = (segment: string) => {
  if (segment === '.' || segment === '..') throw new TypeError(`"${segment}" cannot be used in a URL path; send this event through batch() instead`);
  return encodeURIComponent(segment);
};

export class CalpushClient {
  private readonly baseUrl: string;
  private readonly options: CalpushClientOptions;
  private readonly fetcher: typeof fetch;

  constructor(options: CalpushClientOptions) {
    this.options = options;
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetcher = options.fetch ?? globalThis.fetch.bind(globalThis);
  }

  /** Creates or replaces one event; the calendar's other events stay. */
  async putEvent(calendar: string, id: string, event: EventBody): Promise<Accepted> {
    return this.request('PUT', `/v1/calendars/${path(calendar)}/events/${path(id)}`, { json: event });
  }

  /** Removes one event (not an error when it is not there: result "absent"). */
  async deleteEvent(calendar: string, id: string): Promise<Accepted> {
    return this.request('DELETE', `/v1/calendars/${path(calendar)}/events/${path(id)}`);
  }

  /** The desired event and its delivery status. */
  async getEvent(calendar: string, id: string): Promise<EventStatus> {
    return this.request('GET', `/v1/calendars/${path(calendar)}/events/${path(id)}`);
  }

  /**
   * Makes `events` the calendar's complete set: events not in it are removed (ended ones as the server's retention
   * says). With `dryRun`, nothing is recorded: the answer says what would change, and `plan` what a delivery would do.
   */
  async replaceEvents(calendar: string, events: CalendarEvent[], options: { allowEmpty?: boolean; atomic?: boolean; dryRun?: boolean } = {}): Promise<ReplaceResult> {
    const query = new URLSearchParams();
    if (options.allowEmpty) query.set('allowEmpty', 'true');
    if (options.atomic) query.set('atomic', 'true');
    if (options.dryRun) query.set('dryRun', 'true');
    return this.request('PUT', `/v1/calendars/${path(calendar)}/events${query.size ? `?${query}` : ''}`, { json: events });
  }

  /** Many upserts and deletes in one request; a result per item. Sent as NDJSON. */
  async batch(items: BatchItem[], options: { atomic?: boolean } = {}): Promise<BatchResult> {
    const body = items.map((item) => JSON.stringify(item)).join('\n');
    return this.request('POST', `/v1/events/batch${options.atomic ? '?atomic=true' : ''}`, { body, contentType: 'application/x-ndjson' });
  }

  async getCalendar(calendar: string): Promise<CalendarStatus> {
    return this.request('GET', `/v1/calendars/${path(calendar)}`);
  }

  async listCalendars(): Promise<CalendarList> {
    return this.request('GET', '/v1/calendars');
  }

  async health(): Promise<Health> {
    return this.request('GET', '/v1/health', { acceptStatuses: [503] });
  }

  async openApi(): Promise<Record<string, unknown>> {
    return this.request('GET', '/openapi.json');
  }

  /** Polls the event's status until it is delivered (or, when removed, gone) or failed; throws on timeout. */
  async waitForDelivery(calendar: string, id: string, options: { timeoutMs?: number; intervalMs?: number } = {}): Promise<EventStatus | null> {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    for (;;) {
      let status: EventStatus | null;
      try {
        status = await this.getEvent(calendar, id);
      } catch (error) {
        if (error instanceof CalpushApiError && error.status === 404) return null;
        throw error;
      }
      if (status.status === 'delivered' || status.status === 'failed') return status;
      if (Date.now() > deadline) throw new Error(`${calendar} event "${id}" is still ${status.status} after ${options.timeoutMs ?? 60_000} ms`);
      await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
    }
  }

  private async request<T>(method: string, url: string, options: { json?: unknown; body?: string; contentType?: string; acceptStatuses?: number[] } = {}): Promise<T> {
    const headers: Record<string, string> = { accept: 'application/json, application/problem+json', ...this.options.headers };
    if (this.options.apiKey) headers.authorization = `Bearer ${this.options.apiKey}`;
    let body: string | undefined;
    if (options.json !== undefined) {
      body = JSON.stringify(options.json);
      headers['content-type'] = 'application/json';
    } else if (options.body !== undefined) {
      body = options.body;
      headers['content-type'] = options.contentType ?? 'application/json';
    }
    const response = await this.fetcher(`${this.baseUrl}${url}`, { method, headers, ...(body !== undefined ? { body } : {}), signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000) });
    const text = await response.text();
    let parsed: unknown = undefined;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      parsed = undefined;
    }
    if (!response.ok && !(options.acceptStatuses ?? []).includes(response.status)) {
      const problem = parsed && typeof parsed === 'object' && 'title' in parsed ? (parsed as ProblemDocument) : { type: 'about:blank', title: response.statusText || 'Error', status: response.status, detail: text.slice(0, 500) };
      throw new CalpushApiError(response.status, problem);
    }
    return parsed as T;
  }
}
