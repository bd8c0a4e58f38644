// WebDAV/CalDAV plumbing for the CalDAV target: the request bodies (RFC 4791 calendar-query and calendar-multiget,
// RFC 6578 sync-collection, RFC 4918 PROPFIND), a fetch over calpush's own HTTP client, and how an HTTP answer
// becomes a TargetError. Multi-status answers are parsed by tsdav (davRequest); every request is built here.
import { HttpClient, retryAfterMs } from '../http.ts';
import { TargetError } from '../target.ts';

export type FetchFn = typeof fetch;

/** Statuses whose Response must not carry a body (the Fetch standard's "null body status"). */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);

/**
 * A `fetch` on calpush's HttpClient: keep-alive agents, the extra CA of the config (caFile), a time limit per
 * exchange, answers bounded by maxResponseBytes, and network failures already classified as TargetErrors (refused
 * connection → transient, untrusted certificate → fatal with the remedy). The Response is returned at the head and
 * its body streams: a listing can be parsed while it arrives; a body past the limits errors with the TargetError.
 */
export function httpClientFetch(client: HttpClient): FetchFn {
  const fn = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((value, name) => {
      headers[name] = value;
    });
    const body = init?.body;
    if (body !== undefined && body !== null && typeof body !== 'string') throw new TypeError('httpClientFetch sends string bodies only');
    const response = await client.open({ method: init?.method ?? 'GET', url, headers, ...(typeof body === 'string' ? { body } : {}) });
    const responseHeaders = new Headers();
    for (const [name, value] of Object.entries(response.headers)) responseHeaders.set(name, value);
    const status = response.status >= 200 && response.status <= 599 ? response.status : 502;
    return new Response(NULL_BODY.has(status) ? null : response.body, { status, headers: responseHeaders });
  };
  return fn as FetchFn;
}

/** A network failure of an injected fetch (undici's "fetch failed" with a cause), as the scheduler understands it. */
export function fetchFailure(error: unknown, method: string, url: string): TargetError {
  if (error instanceof TargetError) return error;
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  const code = cause?.code ?? (error as { code?: string } | null)?.code ?? 'NETWORK_ERROR';
  const host = new URL(url).host;
  const message = cause?.message ?? (error instanceof Error ? error.message : String(error));
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ALTNAME/.test(code)) {
    return new TargetError('fatal', code, `TLS certificate of ${host} is not trusted (${code}: ${message})`, {
      remedy: 'point the config at the CA that signed it (caFile)',
      cause: error,
    });
  }
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new TargetError('fatal', code, `cannot resolve ${host} (${code})`, { remedy: 'check the CalDAV URL in the config and DNS', cause: error });
  }
  return new TargetError('transient', code, `${method} ${host}: ${message}`, { cause: error });
}

/** CalDAV preconditions (RFC 4791 §5.3.2.1, RFC 4918 §16) that refuse one calendar object, not the calendar. */
const ITEM_PRECONDITIONS = /(valid-calendar-data|supported-calendar-data|valid-calendar-object-resource|supported-calendar-component|max-resource-size|min-date-time|max-date-time|max-instances|max-attendees-per-instance|no-uid-conflict)/;

export type Operation = 'list' | 'create' | 'update' | 'delete' | 'get' | 'sync';

export interface Failure {
  status: number;
  headers: Headers;
  body: string;
  method: string;
  url: string;
  operation: Operation;
  calendar: string;
  /** The account that answered 401 is the only one (so nothing can work) or one of several (only its calendars fail). */
  soleAccount: boolean;
  accountLabel: string;
}

function excerpt(body: string): string {
  const text = body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').trim();
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}

/**
 * An HTTP error answer as a TargetError. 412 and the 404s that mean "already gone" are handled by the caller
 * before this is reached.
 */
export function classifyFailure(f: Failure): TargetError {
  const { status, calendar } = f;
  const where = `${f.method} ${new URL(f.url).pathname}`;
  const detail = excerpt(f.body);
  const suffix = detail ? `: ${detail}` : '';
  const details = { status };
  if (status === 401) {
    return new TargetError(f.soleAccount ? 'fatal' : 'mailbox', 'Unauthorized', `the CalDAV server refused the credentials of ${f.accountLabel} (401 on ${where})`, {
      ...details,
      remedy: `check the username and password (or token) of ${f.accountLabel} in the config and the secret it refers to`,
    });
  }
  if (ITEM_PRECONDITIONS.test(f.body) && status >= 400 && status < 500) {
    const condition = ITEM_PRECONDITIONS.exec(f.body)![1]!;
    const code = condition === 'no-uid-conflict' ? 'UidConflict' : 'EventRefused';
    return new TargetError('item', code, `the CalDAV server refused the event in ${calendar} (${status} ${condition} on ${where})`, details);
  }
  if (status === 403) {
    return new TargetError('mailbox', 'Forbidden', `${f.accountLabel} may not ${f.operation === 'list' || f.operation === 'sync' ? 'read' : 'write'} the calendar of ${calendar} (403 on ${where})${suffix}`, {
      ...details,
      remedy: 'grant the account read and write access to this calendar collection on the CalDAV server (e.g. Radicale rights: rw)',
    });
  }
  if (status === 404 || status === 409 || status === 405) {
    // 404 on the collection, 409 on a PUT whose parent collection does not exist (RFC 4918 §9.7.1).
    return new TargetError('mailbox', 'CalendarNotFound', `the calendar collection of ${calendar} does not exist (${status} on ${where})`, {
      ...details,
      remedy: 'create the collection (MKCALENDAR) or fix calendarUrlTemplate in the config',
    });
  }
  if (status === 408 || status === 425 || status === 429 || status >= 500) {
    const after = retryAfterMs(f.headers.get('retry-after') ?? undefined);
    const code = status === 429 ? 'TooManyRequests' : status === 503 ? 'ServiceUnavailable' : status === 507 ? 'InsufficientStorage' : `Http${status}`;
    if (status === 507) {
      // Out of quota: retrying the same event will not help, the others might still fit.
      return new TargetError('item', code, `the CalDAV server has no room for the event in ${calendar} (507 on ${where})`, details);
    }
    return new TargetError('transient', code, `the CalDAV server answered ${status} on ${where}${suffix}`, { ...details, ...(after !== undefined ? { retryAfterMs: after } : {}) });
  }
  return new TargetError('item', `Http${status}`, `the CalDAV server refused ${where} for ${calendar} (${status})${suffix}`, details);
}

const XML_DECLARATION = '<?xml version="1.0" encoding="utf-8"?>';

export function escapeXml(value: string): string {
  return value.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** PROPFIND Depth 0 on the collection: is it a calendar, and does it offer sync-collection. */
export function propfindCollectionBody(): string {
  return `${XML_DECLARATION}<D:propfind xmlns:D="DAV:"><D:prop><D:resourcetype/><D:sync-token/></D:prop></D:propfind>`;
}

/**
 * calendar-query (RFC 4791 §7.8) for the hrefs and ETags of every VEVENT object that has an X-CALPUSH-KEY
 * property (any instance: matching the instance needs text-match, whose substring semantics Xandikos 0.2.8 does
 * not implement). The instance is checked on the data, client-side.
 */
export function taggedQueryBody(tagProperty: string): string {
  return (
    `${XML_DECLARATION}<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` +
    '<D:prop><D:getetag/></D:prop>' +
    `<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT"><C:prop-filter name="${escapeXml(tagProperty)}"/></C:comp-filter></C:comp-filter></C:filter>` +
    '</C:calendar-query>'
  );
}

/**
 * calendar-multiget (RFC 4791 §7.9) for the ETags and the data of the given objects. Whole objects: partial
 * retrieval (§9.6) would be smaller, but Radicale 3.1 ignores it and Xandikos 0.2.8 answers 404 for the data of
 * an object that lacks one of the requested properties (e.g. RECURRENCE-ID), which would hide our events.
 */
export function multigetBody(hrefs: string[]): string {
  return (
    `${XML_DECLARATION}<C:calendar-multiget xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">` +
    '<D:prop><D:getetag/><C:calendar-data/></D:prop>' +
    hrefs.map((href) => `<D:href>${escapeXml(href)}</D:href>`).join('') +
    '</C:calendar-multiget>'
  );
}

/** sync-collection (RFC 6578 §3.2); an empty token asks for the initial state. */
export function syncCollectionBody(token: string | null): string {
  return (
    `${XML_DECLARATION}<D:sync-collection xmlns:D="DAV:">` +
    (token ? `<D:sync-token>${escapeXml(token)}</D:sync-token>` : '<D:sync-token/>') +
    '<D:sync-level>1</D:sync-level><D:prop><D:getetag/></D:prop></D:sync-collection>'
  );
}

/** One <response> of a multi-status answer, as the listing needs it: its href, and its own status if it has one. */
export interface MultistatusEntry {
  href: string;
  /** The status code of the response's own <status> (not its propstats'); null when it has none (200). */
  status: number | null;
}

/**
 * Reads a multi-status answer (RFC 4918 §13) while it arrives and hands over the href and status of each
 * <response>, keeping nothing else: the listing of a calendar's tagged objects is the one answer calpush gets
 * unpaged (100,000 objects are about 25 MB), and parsed whole it held the event loop for seconds and took ten
 * times its size in memory. An answer that is not well-formed XML is an error, never an empty listing.
 */
export async function readMultistatus(body: ReadableStream<Uint8Array>, onEntry: (entry: MultistatusEntry) => void): Promise<void> {
  const { default: sax } = await import('sax');
  const parser = sax.parser(true, { xmlns: true });
  const stack: Array<{ local: string; dav: boolean }> = [];
  let entry: { href: string; status: string } | null = null;
  let collecting: 'href' | 'status' | null = null;
  let failure: Error | null = null;
  parser.onopentag = (tag) => {
    const element = { local: tag.local, dav: tag.uri === 'DAV:' };
    const parent = stack.at(-1);
    if (element.dav && element.local === 'response' && parent?.dav && parent.local === 'multistatus') entry = { href: '', status: '' };
    else if (entry && parent?.dav && parent.local === 'response' && element.dav && (element.local === 'href' || element.local === 'status')) collecting = element.local;
    stack.push(element);
  };
  parser.onclosetag = () => {
    const element = stack.pop();
    if (collecting && element?.local === collecting) collecting = null;
    else if (entry && element?.dav && element.local === 'response') {
      const status = /^HTTP\/\d(?:\.\d)?\s+(\d{3})/.exec(entry.status.trim());
      onEntry({ href: entry.href.trim(), status: status ? Number(status[1]) : null });
      entry = null;
    }
  };
  parser.ontext = parser.oncdata = (text) => {
    if (entry && collecting) entry[collecting] += text;
  };
  parser.onerror = (error) => {
    failure ??= error;
  };
  const decoder = new TextDecoder('utf-8', { ignoreBOM: false });
  const fail = (error: Error) => new TargetError('transient', 'UnreadableAnswer', `the multi-status answer is not well-formed XML (${error.message.split('\n')[0]})`, { cause: error });
  try {
    for await (const chunk of body) {
      parser.write(decoder.decode(chunk, { stream: true }));
      if (failure) break;
    }
    if (!failure) parser.write(decoder.decode()).close();
  } catch (error) {
    if (error instanceof TargetError) throw error;
    failure ??= error as Error;
  }
  if (failure) throw fail(failure);
}

/** Text content of a property as tsdav's parser hands it over (string, number, CDATA object or nothing). */
export function textOf(value: unknown): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (typeof record._cdata === 'string') return record._cdata;
    if (typeof record._text === 'string' || typeof record._text === 'number') return String(record._text);
  }
  return null;
}

