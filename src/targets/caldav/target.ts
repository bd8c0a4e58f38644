// The CalDAV target (RFC 4791): one collection per calendar, one calendar object resource per event.
//
// Ownership: every VEVENT we write carries UID <key>@calpush.<instance> and X-CALPUSH-KEY:v1;<instance>;<key>;<hash>
// (see ical.ts). listOwned returns only objects whose tag names this instance; update and remove act only on hrefs
// inside the calendar's collection. Resource names derive from instance and key (calpush-<instance>-<key>.ics) and
// creates are PUT with If-None-Match: *, so a create retried after a crash or a lost answer cannot duplicate.
//
// Like every target, each call sends one request, so that the scheduler can count, gate and retry it; the only
// exceptions are the conflict paths (412 on create, update or delete), which read the object once and act again.
import type { DAVResponse } from 'tsdav';
import type { ProxySettings } from '../../config/proxy.ts';
import type { DesiredEvent } from '../../model/event.ts';
import { HttpClient } from '../http.ts';
import { TargetError, WATCH_READ_MAX, WATCH_STATE_NOT_FOUND, type CalendarTarget, type ItemRef, type OwnedItem, type OwnedPage, type WatchCapability, type WatchPage } from '../target.ts';
import {
  classifyFailure,
  fetchFailure,
  httpClientFetch,
  multigetBody,
  propfindCollectionBody,
  readMultistatus,
  syncCollectionBody,
  taggedQueryBody,
  textOf,
  type FetchFn,
  type MultistatusEntry,
  type Operation,
} from './dav.ts';
import { findTag, iCalendarFor, iCalManagedFields, resourceNameFor, TAG_PROPERTY, writtenICalFields } from './ical.ts';
import { changedFields } from '../../model/managed.ts';

export type CalDavAuth = { kind: 'basic'; username: string; password: string } | { kind: 'bearer'; token: string };

/**
 * Credentials for the calendars whose address matches `match`: a glob on the mailbox address, case-insensitive
 * ("*@example.edu", "alice@example.edu", "*"). The first matching account wins; `auth` of the options is the
 * fallback. Lets one service account write everyone's calendars, or one account per calendar, or a mix.
 */
export interface CalDavAccount {
  match: string;
  auth: CalDavAuth;
  /** Overrides the target's template for these calendars. */
  calendarUrlTemplate?: string;
}

export interface CalDavTargetOptions {
  instance: string;
  /** The server's root; relative templates are resolved against it. */
  baseUrl: string;
  /**
   * Collection URL of a calendar, absolute or relative to baseUrl, with {address} (the mailbox address),
   * {localpart} (before the @) and {domain} (after it), e.g. "https://dav.example.edu/calendars/{localpart}/timetable/".
   * Without it, baseUrl itself is the template.
   */
  calendarUrlTemplate?: string;
  /** The default credentials (e.g. one service account with write rights on every user's collection). */
  auth?: CalDavAuth;
  accounts?: CalDavAccount[];
  /** Extra CA certificates (PEM) to trust in addition to the system's; used when `fetch` is not given. */
  caPem?: string;
  /** hrefs per calendar-multiget (servers cap it; 100 is safe for Radicale, Xandikos and most others). */
  multigetChunk?: number;
  /** All-day events are DATE values in CalDAV (floating days): kept for symmetry with the other targets. */
  allDayTimeZone: string;
  /** The whole exchange of one request, connection to last byte (src/targets/http.ts). */
  requestTimeoutMs?: number;
  /** Largest answer body (DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** A fetch to use instead of calpush's HTTP client (tests count requests with it). */
  fetch?: FetchFn;
  /** The outbound proxy (src/config/proxy.ts); used when `fetch` is not given. */
  proxy?: ProxySettings;
}

/** What changed in a collection since a sync token (RFC 6578), for noticing what people did to our events. */
export type ChangesSince =
  | {
      status: 'ok';
      /** Pass this next time. */
      token: string;
      /** Objects created or modified since the token (anyone's, ours included), with their new ETag. */
      changed: Array<{ href: string; etag: string | null }>;
      deleted: string[];
      /** The server stopped early (507 on the collection): call again with `token` for the rest. */
      truncated: boolean;
    }
  | { status: 'token-invalid' }
  | { status: 'unsupported' };

interface Account {
  label: string;
  pattern: RegExp | null;
  authorization: string;
  template: string;
}

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

const QUERY_CURSOR = 'query';
const MULTIGET_CURSOR = 'multiget:';

function globToRegExp(glob: string): RegExp {
  const source = glob
    .trim()
    .toLowerCase()
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

function authorizationFor(auth: CalDavAuth): string {
  return auth.kind === 'basic' ? `Basic ${Buffer.from(`${auth.username}:${auth.password}`, 'utf8').toString('base64')}` : `Bearer ${auth.token}`;
}

/** A path segment, percent-encoded except for what RFC 3986 allows in a segment unencoded ('@', ':' …). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(40|3A|24|26|2B|2C|3B|3D)/gi, (_, hex: string) => String.fromCharCode(Number.parseInt(hex, 16)));
}

/** One spelling per path, whichever way the server encodes its hrefs ("%40" or "@"). */
export function canonicalPath(pathname: string): string {
  return pathname
    .split('/')
    .map((segment) => {
      try {
        return encodeSegment(decodeURIComponent(segment));
      } catch {
        return segment;
      }
    })
    .join('/');
}

/** A calendar address that cannot name a collection safely. */
function unsafeAddress(calendar: string, why: string): TargetError {
  return new TargetError('mailbox', 'UnsafeCalendarAddress', `the CalDAV collection of ${calendar} cannot be derived from calendarUrlTemplate: ${why}`, {
    remedy: 'give this address an account of its own ("match": the address) with a calendarUrlTemplate without placeholders, or use another address',
  });
}

/** A path whose "." and ".." segments a URL parser would resolve (RFC 3986 §5.2.4), also when spelt %2e. */
function hasDotSegment(path: string): boolean {
  return path.split('/').some((segment) => /^(\.|%2e){1,2}$/i.test(segment));
}

/**
 * The collection URL of a calendar. Each placeholder fills exactly one path segment: a value that is "." or "..",
 * or contains "/" or "\\" (which some servers decode into a separator even when percent-encoded), is refused —
 * otherwise "..@example.edu" could reach a collection above the template's, or another person's.
 */
export function expandTemplate(template: string, calendar: string): string {
  const address = calendar.trim().toLowerCase();
  const at = address.lastIndexOf('@');
  const values: Record<string, string> = { address, localpart: at > 0 ? address.slice(0, at) : address, domain: at > 0 ? address.slice(at + 1) : '' };
  const expanded = template.replace(/\{(address|localpart|domain)\}/g, (_, name: string) => {
    const value = values[name]!;
    if (value === '' || value === '.' || value === '..') throw unsafeAddress(calendar, `its {${name}} would be the path segment "${value}"`);
    if (/[/\\]/.test(value)) throw unsafeAddress(calendar, `its {${name}} contains "${/\//.test(value) ? '/' : '\\'}", which would split a path segment`);
    return encodeSegment(value);
  });
  const absolute = /^https?:\/\//i.test(template);
  const path = absolute ? expanded.replace(/^https?:\/\/[^/]*/i, '') : expanded;
  if (hasDotSegment(path)) throw unsafeAddress(calendar, `the path ${path} has a "." or ".." segment`);
  if (absolute && new URL(expanded).origin !== new URL(template.replace(/\{[a-z]+\}/g, 'x')).origin) throw unsafeAddress(calendar, 'it would change the server');
  return expanded;
}

export class CalDavTarget implements CalendarTarget {
  readonly kind = 'caldav' as const;
  /** Watching by sync-collection (RFC 6578): changed members with their ETag, deleted members as 404 (docs/drift.md). */
  readonly watch: WatchCapability = { changes: (calendar, state) => this.watchChanges(calendar, state), edits: (calendar, items) => this.watchEdits(calendar, items) };
  private readonly options: CalDavTargetOptions;
  private readonly http: HttpClient | null;
  private readonly fetchFn: FetchFn;
  private readonly accounts: Account[];
  private readonly fallback: Account | null;
  private readonly chunk: number;
  /** Last ETag seen per href (listing, create, update): the If-Match of a later write when the engine passes none. */
  private readonly etags = new Map<string, string>();
  /** Accounts that answered 401: not tried again in this run (each try costs the server an auth delay). */
  private readonly refused = new Map<Account, TargetError>();
  /** Accounts whose credentials the server accepted at least once, and the first request of the others. */
  private readonly verified = new Set<Account>();
  private readonly probes = new Map<Account, Promise<void>>();

  /** What one request may take at most (CalendarTarget.requestTimeoutMs). */
  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? 60_000;
  }

  constructor(options: CalDavTargetOptions) {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(options.instance)) throw new Error(`instance "${options.instance}" must be 1–64 letters, digits, dot, dash or underscore`);
    this.options = options;
    this.chunk = Math.max(1, options.multigetChunk ?? 100);
    if (options.fetch) {
      this.http = null;
      this.fetchFn = options.fetch;
    } else {
      this.http = new HttpClient({
        ...(options.caPem ? { caPem: options.caPem } : {}),
        timeoutMs: options.requestTimeoutMs ?? 60_000,
        ...(options.maxResponseBytes ? { maxResponseBytes: options.maxResponseBytes } : {}),
        ...(options.proxy ? { proxy: options.proxy } : {}),
      });
      this.fetchFn = httpClientFetch(this.http);
    }
    const base = options.baseUrl.endsWith('/') ? options.baseUrl : `${options.baseUrl}/`;
    const defaultTemplate = options.calendarUrlTemplate ?? base;
    const resolveTemplate = (template: string) => {
      // Resolve against baseUrl with the braces intact (URL would percent-encode them).
      const absolute = /^https?:\/\//i.test(template) ? template : `${base}${template.replace(/^\/+/, '')}`;
      return absolute.endsWith('/') ? absolute : `${absolute}/`;
    };
    this.accounts = (options.accounts ?? []).map((account, index) => ({
      label: `account ${index + 1} (${account.match}, ${account.auth.kind === 'basic' ? `user ${account.auth.username}` : 'bearer token'})`,
      pattern: globToRegExp(account.match),
      authorization: authorizationFor(account.auth),
      template: resolveTemplate(account.calendarUrlTemplate ?? defaultTemplate),
    }));
    this.fallback = options.auth
      ? {
          label: options.auth.kind === 'basic' ? `CalDAV user ${options.auth.username}` : 'the CalDAV bearer token',
          pattern: null,
          authorization: authorizationFor(options.auth),
          template: resolveTemplate(defaultTemplate),
        }
      : null;
  }

  private accountFor(calendar: string): Account {
    const address = calendar.trim().toLowerCase();
    const account = this.accounts.find((a) => a.pattern!.test(address)) ?? this.fallback;
    if (!account) {
      throw new TargetError('mailbox', 'NoCalDavAccount', `no CalDAV account in the config matches ${calendar}`, {
        remedy: 'add an account whose "match" covers this address, or a default "auth"',
      });
    }
    return account;
  }

  /** The collection URL of a calendar, always ending in "/". */
  collectionUrl(calendar: string): URL {
    return new URL(expandTemplate(this.accountFor(calendar).template, calendar));
  }

  /** Resolves an href of ours (from the store or the server) inside the calendar's collection, or refuses. */
  private itemUrl(calendar: string, href: string): URL {
    const collection = this.collectionUrl(calendar);
    const url = new URL(href, collection);
    url.pathname = canonicalPath(url.pathname);
    const base = canonicalPath(collection.pathname);
    if (url.origin !== collection.origin || !url.pathname.startsWith(base) || url.pathname.length <= base.length || url.pathname.slice(base.length).includes('/')) {
      throw new TargetError('item', 'OutsideCollection', `refusing to touch ${url.href}: it is not an object in the calendar collection of ${calendar} (${collection.href})`);
    }
    return url;
  }

  /**
   * One request as the calendar's account. With `stream`, a multi-status (207, XML) answer is handed to it as it
   * arrives and the Answer's body is empty; any other answer is read whole.
   */
  private async send(
    calendar: string,
    operation: Operation,
    method: string,
    url: URL,
    headers: Record<string, string> = {},
    body?: string,
    stream?: (body: ReadableStream<Uint8Array>) => Promise<void>,
  ): Promise<Answer> {
    const account = this.accountFor(calendar);
    // Until an account's credentials have been accepted once, its requests go one at a time: a wrong password
    // then costs one failed login, not one per calendar in flight (servers delay, and directories lock out, on
    // repeated failures).
    let release: (() => void) | null = null;
    for (;;) {
      const refused = this.refused.get(account);
      if (refused) throw refused;
      if (this.verified.has(account)) break;
      const probe = this.probes.get(account);
      if (!probe) {
        this.probes.set(account, new Promise<void>((resolve) => (release = resolve)));
        break;
      }
      await probe;
    }
    try {
      let response: Response;
      try {
        response = await this.fetchFn(url.href, {
          method,
          headers: { authorization: account.authorization, ...headers },
          ...(body !== undefined ? { body } : {}),
        });
      } catch (error) {
        throw fetchFailure(error, method, url.href);
      }
      const streamed = stream && response.status === 207 && response.body && /xml/i.test(response.headers.get('content-type') ?? '');
      const answer: Answer = { status: response.status, headers: response.headers, body: streamed ? '' : await response.text() };
      if (streamed) await stream(response.body!);
      if (answer.status === 401) {
        const error = this.failure(calendar, operation, method, url, answer);
        this.refused.set(account, error);
        throw error;
      }
      this.verified.add(account);
      return answer;
    } finally {
      if (release) {
        this.probes.delete(account);
        (release as () => void)();
      }
    }
  }

  /** A REPORT or PROPFIND whose 207 answer tsdav parses; error answers come back raw. */
  private async dav(calendar: string, operation: Operation, method: 'REPORT' | 'PROPFIND', url: URL, depth: '0' | '1', body: string): Promise<{ answer: Answer; responses: DAVResponse[] }> {
    let captured: Answer | null = null;
    const capture: FetchFn = async (input, init) => {
      const answer = await this.send(calendar, operation, method, url, Object.fromEntries(new Headers(init?.headers).entries()), typeof init?.body === 'string' ? init.body : body);
      captured = answer;
      return new Response([101, 103, 204, 205, 304].includes(answer.status) ? null : answer.body, { status: answer.status, headers: answer.headers });
    };
    // Loaded on first use: a run with nothing to deliver never lists, and never pays for the XML parser.
    const { davRequest } = await import('tsdav');
    const responses = await davRequest({
      url: url.href,
      convertIncoming: false,
      init: { method, headers: { depth }, body },
      fetch: capture,
    });
    return { answer: captured!, responses };
  }

  private failure(calendar: string, operation: Operation, method: string, url: URL, answer: Answer): TargetError {
    const account = this.accountFor(calendar);
    return classifyFailure({
      ...answer,
      method,
      url: url.href,
      operation,
      calendar,
      soleAccount: this.accounts.length === 0 || (this.accounts.length === 1 && this.fallback === null),
      accountLabel: account.label,
    });
  }

  private remember(href: string, etag: string | null): void {
    if (etag) this.etags.set(href, etag);
    else this.etags.delete(href);
  }

  async listOwned(calendar: string, cursor?: string): Promise<OwnedPage> {
    const collection = this.collectionUrl(calendar);
    if (cursor === undefined) {
      // Page 1: is the collection there and a calendar? A PUT into a plain collection would create a new
      // collection on some servers (Radicale), so this is checked before anything is written.
      const { answer, responses } = await this.dav(calendar, 'list', 'PROPFIND', collection, '0', propfindCollectionBody());
      if (answer.status !== 207) throw this.failure(calendar, 'list', 'PROPFIND', collection, answer);
      const own = responses.find((r) => r.href !== undefined && canonicalPath(new URL(r.href, collection).pathname) === canonicalPath(collection.pathname)) ?? responses[0];
      // Xandikos answers a PROPFIND on a missing collection with 207 and a 404 inside.
      if (own && own.status === 404) throw this.failure(calendar, 'list', 'PROPFIND', collection, { ...answer, status: 404, body: '' });
      const resourceType = own?.props?.resourcetype as Record<string, unknown> | undefined;
      if (!resourceType || !('calendar' in resourceType)) {
        throw new TargetError('mailbox', 'NotACalendar', `${collection.href} (the calendar of ${calendar}) is not a calendar collection`, {
          remedy: 'point calendarUrlTemplate at calendar collections (MKCALENDAR creates one)',
        });
      }
      return { items: [], next: QUERY_CURSOR };
    }

    if (cursor === QUERY_CURSOR) {
      // Every tagged object of the calendar in one answer: read as it arrives (readMultistatus), bounded by
      // maxResponseBytes, keeping only the paths.
      const hrefs: string[] = [];
      const own = canonicalPath(collection.pathname);
      const take = (entry: MultistatusEntry) => {
        if (!entry.href || (entry.status !== null && (entry.status < 200 || entry.status >= 300))) return;
        const url = new URL(entry.href, collection);
        const path = canonicalPath(url.pathname);
        if (url.origin !== collection.origin || path === own) return;
        hrefs.push(path);
      };
      const headers = { depth: '1', 'content-type': 'text/xml; charset=utf-8' };
      const answer = await this.send(calendar, 'list', 'REPORT', collection, headers, taggedQueryBody(TAG_PROPERTY), (body) => readMultistatus(body, take));
      if (answer.status !== 207) throw this.failure(calendar, 'list', 'REPORT', collection, answer);
      return hrefs.length ? { items: [], next: `${MULTIGET_CURSOR}${JSON.stringify(hrefs)}` } : { items: [] };
    }

    if (!cursor.startsWith(MULTIGET_CURSOR)) throw new TargetError('fatal', 'BadCursor', `unknown listing cursor for ${calendar}`);
    const all = JSON.parse(cursor.slice(MULTIGET_CURSOR.length)) as string[];
    // Every href must be in the collection (the cursor passes through the engine; trust nothing).
    const hrefs = all.slice(0, this.chunk).map((href) => this.itemUrl(calendar, href).pathname);
    const rest = all.slice(this.chunk);
    const { answer, responses } = await this.dav(calendar, 'list', 'REPORT', collection, '1', multigetBody(hrefs));
    if (answer.status !== 207) throw this.failure(calendar, 'list', 'REPORT', collection, answer);
    const items: OwnedItem[] = [];
    for (const response of responses) {
      if (!response.href || !response.ok) continue; // 404: deleted since the query
      const data = textOf(response.props?.calendarData);
      const tag = data ? findTag(data) : null;
      // Another instance's, or a tag we cannot read: not ours to touch.
      if (!tag || tag.instance !== this.options.instance) continue;
      const href = canonicalPath(new URL(response.href, collection).pathname);
      const etag = textOf(response.props?.getetag);
      this.remember(href, etag);
      items.push({ key: tag.key, itemId: href, changeKey: etag, contentHash: tag.contentHash, transactionId: null });
    }
    return rest.length ? { items, next: `${MULTIGET_CURSOR}${JSON.stringify(rest)}` } : { items };
  }

  /** GET one object: null when it is gone. */
  private async read(calendar: string, url: URL): Promise<{ etag: string | null; tag: ReturnType<typeof findTag> } | null> {
    const answer = await this.send(calendar, 'get', 'GET', url, { accept: 'text/calendar' });
    if (answer.status === 404 || answer.status === 410) return null;
    if (answer.status >= 400) throw this.failure(calendar, 'get', 'GET', url, answer);
    return { etag: answer.headers.get('etag'), tag: findTag(answer.body) };
  }

  private put(calendar: string, operation: Operation, url: URL, data: string, condition: Record<string, string>): Promise<Answer> {
    return this.send(calendar, operation, 'PUT', url, { 'content-type': 'text/calendar; charset=utf-8', ...condition }, data);
  }

  async create(desired: DesiredEvent, _transactionId: string): Promise<ItemRef> {
    const calendar = desired.event.calendar;
    const url = new URL(resourceNameFor(this.options.instance, desired.key), this.collectionUrl(calendar));
    url.pathname = canonicalPath(url.pathname);
    const data = iCalendarFor(desired, { instance: this.options.instance });
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await this.put(calendar, 'create', url, data, { 'if-none-match': '*' });
      if (answer.status < 300) {
        const etag = answer.headers.get('etag');
        this.remember(url.pathname, etag);
        return { itemId: url.pathname, changeKey: etag };
      }
      if (answer.status !== 412) throw this.failure(calendar, 'create', 'PUT', url, answer);
      // It exists: a create of ours whose answer was lost (crash, timeout), or someone else's object under our name.
      const existing = await this.read(calendar, url);
      if (!existing) continue; // deleted in between: create again
      if (!existing.tag || existing.tag.instance !== this.options.instance || existing.tag.key !== desired.key) {
        throw new TargetError('item', 'ResourceNameTaken', `${url.pathname} in the calendar of ${calendar} exists and is not this event of calpush instance "${this.options.instance}"; it was left alone`);
      }
      if (existing.tag.contentHash === desired.contentHash) {
        this.remember(url.pathname, existing.etag);
        return { itemId: url.pathname, changeKey: existing.etag };
      }
      // Ours, from an earlier content of the event: bring it up to date.
      return this.update(desired, { itemId: url.pathname, changeKey: existing.etag });
    }
    throw new TargetError('transient', 'CreateRace', `${url.pathname} kept appearing and disappearing while calpush created it`);
  }

  async update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
    const calendar = desired.event.calendar;
    const url = this.itemUrl(calendar, item.itemId);
    const data = iCalendarFor(desired, { instance: this.options.instance });
    // If-Match with the ETag we know; without one (the engine passes none) the PUT is unconditional: the source
    // wins, as with Graph, and an object a person deleted is simply written again.
    let etag = item.changeKey ?? this.etags.get(url.pathname) ?? null;
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await this.put(calendar, 'update', url, data, etag ? { 'if-match': etag } : {});
      if (answer.status < 300) {
        const newEtag = answer.headers.get('etag');
        this.remember(url.pathname, newEtag);
        return { itemId: url.pathname, changeKey: newEtag };
      }
      if (answer.status !== 412) throw this.failure(calendar, 'update', 'PUT', url, answer);
      // Changed (or deleted) since we saw it: look again.
      const existing = await this.read(calendar, url);
      if (!existing) {
        this.etags.delete(url.pathname);
        throw new TargetError('gone', 'ItemGone', `${url.pathname} was deleted from the calendar of ${calendar}`, { status: 404 });
      }
      this.assertOurs(calendar, url, existing.tag, desired.key);
      etag = existing.etag;
    }
    throw new TargetError('transient', 'EditConflict', `${url.pathname} in the calendar of ${calendar} kept changing while calpush updated it`, { status: 412 });
  }

  async remove(calendar: string, item: ItemRef): Promise<void> {
    const url = this.itemUrl(calendar, item.itemId);
    let etag = item.changeKey ?? this.etags.get(url.pathname) ?? null;
    for (let attempt = 0; attempt < 2; attempt++) {
      const answer = await this.send(calendar, 'delete', 'DELETE', url, etag ? { 'if-match': etag } : {});
      if (answer.status < 300 || answer.status === 404 || answer.status === 410) {
        this.etags.delete(url.pathname);
        return;
      }
      if (answer.status !== 412) throw this.failure(calendar, 'delete', 'DELETE', url, answer);
      const existing = await this.read(calendar, url);
      if (!existing) {
        this.etags.delete(url.pathname);
        return;
      }
      this.assertOurs(calendar, url, existing.tag, null);
      etag = existing.etag;
    }
    throw new TargetError('transient', 'EditConflict', `${url.pathname} in the calendar of ${calendar} kept changing while calpush deleted it`, { status: 412 });
  }

  private assertOurs(calendar: string, url: URL, tag: ReturnType<typeof findTag>, key: string | null): void {
    if (!tag || tag.instance !== this.options.instance || (key !== null && tag.key !== key)) {
      throw new TargetError('item', 'NotOurs', `${url.pathname} in the calendar of ${calendar} no longer carries this instance's tag; it was left alone`);
    }
  }

  /** The collection's current sync token (DAV:sync-token, RFC 6578 §4), or null when the server offers none. */
  async syncToken(calendar: string): Promise<string | null> {
    const collection = this.collectionUrl(calendar);
    const { answer, responses } = await this.dav(calendar, 'sync', 'PROPFIND', collection, '0', propfindCollectionBody());
    if (answer.status !== 207) throw this.failure(calendar, 'sync', 'PROPFIND', collection, answer);
    const token = textOf(responses.find((r) => r.ok)?.props?.syncToken);
    return token || null;
  }

  /**
   * The changes in the calendar's collection since `token` (null: everything, with a first token), by one
   * sync-collection REPORT (RFC 6578). The engine can use it to notice what people did to our events between
   * runs, without listing: see docs/caldav.md.
   */
  async changesSince(calendar: string, token: string | null): Promise<ChangesSince> {
    const collection = this.collectionUrl(calendar);
    const { answer, responses } = await this.dav(calendar, 'sync', 'REPORT', collection, '0', syncCollectionBody(token));
    if (answer.status !== 207) {
      if ((answer.status === 403 || answer.status === 409) && /valid-sync-token/.test(answer.body)) return { status: 'token-invalid' };
      if (answer.status === 403 && /supported-report/.test(answer.body)) return { status: 'unsupported' };
      if (answer.status === 501 || answer.status === 405) return { status: 'unsupported' };
      throw this.failure(calendar, 'sync', 'REPORT', collection, answer);
    }
    const raw = responses[0]?.raw as { multistatus?: { syncToken?: unknown } } | undefined;
    const newToken = textOf(raw?.multistatus?.syncToken);
    if (!newToken) return { status: 'unsupported' };
    const changed: Array<{ href: string; etag: string | null }> = [];
    const deleted: string[] = [];
    let truncated = false;
    const collectionPath = canonicalPath(collection.pathname);
    for (const response of responses) {
      if (!response.href) continue;
      const url = new URL(response.href, collection);
      const path = canonicalPath(url.pathname);
      if (path === collectionPath) {
        if (response.status === 507) truncated = true;
        continue;
      }
      if (response.status === 404) deleted.push(path);
      else if (response.ok) changed.push({ href: path, etag: textOf(response.props?.getetag) });
    }
    return { status: 'ok', token: newToken, changed, deleted, truncated };
  }

  /**
   * One sync-collection REPORT as a watch page: the href is the item id calpush keeps. A token the server no longer
   * takes (DAV:valid-sync-token, RFC 6578 §3.2) starts a full round; a server without sync-collection is refused
   * (WatchUnsupported), and the engine falls back to listing the calendar in full.
   */
  private async watchChanges(calendar: string, state: string | null): Promise<WatchPage> {
    const answer = await this.changesSince(calendar, state);
    if (answer.status === 'token-invalid') throw new TargetError('item', WATCH_STATE_NOT_FOUND, `the CalDAV server no longer takes the sync token of ${calendar}'s calendar`);
    if (answer.status === 'unsupported') throw new TargetError('item', 'WatchUnsupported', `the CalDAV server does not offer sync-collection (RFC 6578) on ${calendar}'s calendar`);
    const changes: WatchPage['changes'] = [
      ...answer.changed.map((change) => ({ kind: 'changed' as const, itemId: change.href, changeKey: change.etag })),
      ...answer.deleted.map((href) => ({ kind: 'removed' as const, itemId: href })),
    ];
    return { changes, state: answer.token, more: answer.truncated };
  }

  /**
   * The changed objects read with one calendar-multiget (RFC 4791 §7.9) and their managed fields compared with what
   * calpush wrote (an ETag moves for an alarm a client changes, too). A member gone since is left out; one the server
   * does not answer for, or that is no iCalendar, counts as edited.
   */
  private async watchEdits(calendar: string, items: ReadonlyArray<{ itemId: string; desired: DesiredEvent }>): Promise<Map<string, string[]>> {
    const found = new Map<string, string[]>();
    if (!items.length) return found;
    if (items.length > WATCH_READ_MAX) throw new RangeError(`edits() reads at most ${WATCH_READ_MAX} items at once`);
    const collection = this.collectionUrl(calendar);
    const hrefs = items.map((item) => this.itemUrl(calendar, item.itemId).pathname);
    const { answer, responses } = await this.dav(calendar, 'get', 'REPORT', collection, '1', multigetBody(hrefs));
    if (answer.status !== 207) throw this.failure(calendar, 'get', 'REPORT', collection, answer);
    const byHref = new Map(responses.filter((r) => r.href).map((r) => [canonicalPath(new URL(r.href!, collection).pathname), r]));
    for (const [index, item] of items.entries()) {
      const response = byHref.get(canonicalPath(hrefs[index]!));
      if (response && !response.ok) continue; // 404: deleted since; the watch reports it
      const data = response ? textOf(response.props?.calendarData) : null;
      const read = data ? iCalManagedFields(data) : null;
      found.set(item.itemId, read ? changedFields(writtenICalFields(item.desired), read) : ['unreadable']);
    }
    return found;
  }

  async close(): Promise<void> {
    this.http?.close();
  }
}
