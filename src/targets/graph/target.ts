// The Microsoft Graph target: app-only access to /users/{mailbox}/events, or delegated access (each person's own
// token, /me/events: delegated.ts) — the same requests, a different GraphAccess.
//
// Each call sends one request (a $batch counts as one), so that the scheduler can count, gate and retry it; the
// exceptions are the conflict path (412 on a stale If-Match: GET the event's etag, then the write once more) and the
// confirmation of a 404 (is the mailbox still reachable?), as in the EWS and CalDAV targets.
import { randomUUID } from 'node:crypto';
import type { ProxySettings } from '../../config/proxy.ts';
import type { DesiredEvent } from '../../model/event.ts';
import { HttpClient, NetworkError, type HttpRequest, type HttpResponse } from '../http.ts';
import { TargetError, type BatchCapability, type BatchOp, type BatchOutcome, type CalendarTarget, type ItemRef, type MailboxLocation, type OwnedItem, type OwnedPage, type SubscriptionCapability, type WatchCapability } from '../target.ts';
import { GraphTokenProvider, type GraphCredential } from './auth.ts';
import { classifyGraphError } from './errors.ts';
import { parseTagValue, TAG_PROPERTY_ID } from '../../model/tag.ts';
import { graphEventBody } from './mapping.ts';
import { GraphMeetingDesk, type GraphConnection } from './meetings.ts';
import { GraphWatch } from './watch.ts';
import { GraphGroupDirectory } from './groups.ts';
import { GraphRoomDirectory, type GraphPlacesConnection } from './rooms.ts';
import { GraphSubscriptions } from './subscriptions.ts';
import { UNREADABLE_ANSWER } from './answers.ts';

/** How the target gets a token for a calendar and names its mailbox: app-only (one token for all) or delegated. */
export interface GraphAccess {
  readonly kind: 'app-only' | 'delegated';
  /** A valid access token for requests on this calendar. */
  token(calendar: string): Promise<string>;
  /** Graph refused `token` (401): the next token() must not be it. */
  invalidate(calendar: string, token: string): void;
  /** The calendar's mailbox below the version root: `/users/{address}` (app-only) or `/me` (delegated). */
  mailboxPath(calendar: string): string;
}

/** App-only access: one token of the app for every mailbox. */
export class AppOnlyAccess implements GraphAccess {
  readonly kind = 'app-only' as const;
  private readonly tokens: GraphTokenProvider;
  constructor(tokens: GraphTokenProvider) {
    this.tokens = tokens;
  }
  token(): Promise<string> {
    return this.tokens.token();
  }
  invalidate(_calendar: string, token: string): void {
    this.tokens.invalidate(token);
  }
  mailboxPath(calendar: string): string {
    return `/users/${encodeURIComponent(calendar)}`;
  }
}

export interface GraphTargetOptions {
  instance: string;
  tenantId: string;
  clientId: string;
  credential: GraphCredential;
  authorityHost: string;
  /** Delegated access (the tokens of the people who connected): built from the target's HTTP client. App-only when absent. */
  access?: (http: HttpClient) => GraphAccess;
  /** e.g. https://graph.microsoft.com/v1.0 */
  graphBaseUrl: string;
  scope: string;
  caPem?: string;
  allDayTimeZone: string;
  /** The whole exchange of one request (src/targets/http.ts). */
  requestTimeoutMs?: number;
  /** Largest answer body (DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** Page size when listing our events (Graph allows up to 1000 for events with $top). */
  pageSize?: number;
  /**
   * JSON $batch (https://learn.microsoft.com/graph/json-batching): "chain" links the requests with dependsOn so
   * the mailbox sees one at a time; "parallel" lets Outlook run up to 4 at once; "auto" (the default) lets delivery
   * choose per batch; "off" sends one request each.
   */
  batch?: 'auto' | 'chain' | 'parallel' | 'off';
  /** The outbound proxy for Graph and the token endpoint (src/config/proxy.ts); default none. */
  proxy?: ProxySettings;
}

/** Graph's limit of requests in one JSON batch (https://learn.microsoft.com/graph/json-batching). */
export const GRAPH_BATCH_MAX = 20;

/**
 * Immutable ids survive moves between folders; asked for on every request as Microsoft recommends
 * (https://learn.microsoft.com/graph/outlook-immutable-id).
 */
const PREFER_IMMUTABLE_ID = 'IdType="ImmutableId"';

/**
 * A GUID of our own on every request, and Graph asked to echo it: "On every request to Microsoft Graph, generate a
 * unique GUID, send it in the client-request-id HTTP request header, and also log it … Always log the request-id …
 * from the HTTP response headers" (https://learn.microsoft.com/graph/best-practices-concept, "Reliability and support").
 */
function supportHeaders(): { 'client-request-id': string; 'return-client-request-id': 'true' } {
  return { 'client-request-id': randomUUID(), 'return-client-request-id': 'true' };
}

/**
 * The If-Match value for an event calpush holds: its `@odata.etag`, which Graph writes W/"<changeKey>" for Outlook
 * items; a bare changeKey (stored by an older calpush) is put in that form. Null when none is known: the write is
 * then unconditional (the source is the authority on our events).
 */
export function ifMatchOf(changeKey: string | null): string | null {
  if (!changeKey) return null;
  return /^(W\/)?".*"$/.test(changeKey) ? changeKey : `W/"${changeKey}"`;
}

/** The etag of an answered event: `@odata.etag`, else built from `changeKey`. */
function etagOf(event: { '@odata.etag'?: string; changeKey?: string }): string | null {
  return event['@odata.etag'] ?? ifMatchOf(event.changeKey ?? null);
}

/** A string literal for an OData $filter: single quotes doubled (OData ABNF, SQUOTE-in-string). */
function odataString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

type BatchAnswer = { status: number; headers: Record<string, string>; body?: unknown };

/**
 * Graph refused a person's freshly refreshed token too: this person's access no longer works (their account was
 * disabled, a Conditional Access policy now blocks it). It stops their calendar only, not everyone's.
 */
function delegatedRefused(response: HttpResponse, calendar: string): TargetError {
  const error = classifyGraphError(response, 'mailbox');
  return new TargetError('mailbox', error.code, error.message, {
    status: 401,
    ...error.supportIds(),
    remedy: `Graph refuses the delegated token of ${calendar} even fresh: the person may need to sign in again (connect again), or their account is blocked`,
  });
}

/** A 404 on one event (ErrorItemNotFound): gone, or not visible to us any more (confirmedGone). */
function isNotFound(error: TargetError): boolean {
  return error.scope === 'gone' && error.status === 404;
}

export class GraphTarget implements CalendarTarget {
  readonly kind = 'graph' as const;
  readonly batch?: BatchCapability;
  readonly watch: WatchCapability;
  /** Change notifications of mailboxes' calendars: application permissions only (not on a delegated target). */
  readonly subscriptions?: SubscriptionCapability;
  private readonly http: HttpClient;
  private readonly access: GraphAccess;
  private readonly base: string;
  private readonly options: GraphTargetOptions;
  /** Graph has answered at least one request (see request()). */
  private answered = false;

  /** What one request may take at most (CalendarTarget.requestTimeoutMs). */
  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? 60_000;
  }

  constructor(options: GraphTargetOptions) {
    this.options = options;
    this.http = new HttpClient({
      caPem: options.caPem,
      timeoutMs: options.requestTimeoutMs ?? 60_000,
      ...(options.maxResponseBytes ? { maxResponseBytes: options.maxResponseBytes } : {}),
      ...(options.proxy ? { proxy: options.proxy } : {}),
    });
    this.access = options.access ? options.access(this.http) : new AppOnlyAccess(new GraphTokenProvider(options, this.http));
    this.base = options.graphBaseUrl.replace(/\/+$/, '');
    const mode = options.batch ?? 'auto';
    if (mode !== 'off') {
      // Outlook runs at most 4 requests of a batch at once for a mailbox (throttling-limits, "Outlook service limits").
      this.batch = { maxOps: GRAPH_BATCH_MAX, mode, parallelism: 4, run: (calendar, ops, chosen) => this.runBatch(calendar, ops, mode === 'auto' ? (chosen ?? 'chain') : mode) };
    }
    this.watch = new GraphWatch(this.connection(), options.allDayTimeZone);
    if (!options.access) this.subscriptions = new GraphSubscriptions(this.connection());
  }

  /** Path of a request inside a batch: relative to the version root. */
  private relativeEventsPath(calendar: string): string {
    return `${this.access.mailboxPath(calendar)}/events`;
  }

  private eventsUrl(calendar: string): string {
    return `${this.base}${this.relativeEventsPath(calendar)}`;
  }

  private eventUrl(calendar: string, itemId: string): string {
    return `${this.eventsUrl(calendar)}/${encodeURIComponent(itemId)}`;
  }

  // ---- batches -------------------------------------------------------------------------------------------------

  private batchRequest(calendar: string, op: BatchOp, index: number, mode: 'chain' | 'parallel'): Record<string, unknown> {
    const id = String(index + 1);
    const dependsOn = mode === 'chain' && index > 0 ? { dependsOn: [String(index)] } : {};
    const events = this.relativeEventsPath(calendar);
    const headers: Record<string, string> = { prefer: PREFER_IMMUTABLE_ID, ...supportHeaders() };
    if (op.kind === 'create') {
      return { id, method: 'POST', url: events, headers: { ...headers, 'content-type': 'application/json' }, body: { ...graphEventBody(op.desired, this.options), transactionId: op.transactionId }, ...dependsOn };
    }
    const ifMatch = ifMatchOf(op.item.changeKey);
    if (ifMatch) headers['if-match'] = ifMatch;
    const url = `${events}/${encodeURIComponent(op.item.itemId)}`;
    if (op.kind === 'update') return { id, method: 'PATCH', url, headers: { ...headers, 'content-type': 'application/json' }, body: graphEventBody(op.desired, this.options), ...dependsOn };
    return { id, method: 'DELETE', url, headers, ...dependsOn };
  }

  private async runBatch(calendar: string, ops: BatchOp[], mode: 'chain' | 'parallel'): Promise<BatchOutcome[]> {
    const requests = ops.map((op, index) => this.batchRequest(calendar, op, index, mode));
    const response = await this.send(calendar, 'POST', `${this.base}/$batch`, { requests }, 'mailbox');
    const answers = new Map<string, BatchAnswer>();
    for (const answer of (JSON.parse(response.body) as { responses?: Array<BatchAnswer & { id: string }> }).responses ?? []) {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(answer.headers ?? {})) headers[name.toLowerCase()] = String(value);
      answers.set(String(answer.id), { ...answer, headers });
    }
    const outcomes = ops.map((op, index) => this.batchOutcome(op, answers.get(String(index + 1)), String((requests[index]!.headers as Record<string, string>)['client-request-id'])));
    return this.settleBatch(calendar, ops, outcomes);
  }

  /** The outcome of one request of a batch, before conflicts and missing items are settled (settleBatch). */
  private batchOutcome(op: BatchOp, answer: BatchAnswer | undefined, clientRequestId: string): BatchOutcome {
    if (!answer) return { ok: false, error: new TargetError('transient', 'MissingBatchResponse', 'the batch answer has no response for this request', { clientRequestId }) };
    if (answer.status === 424) {
      // Failed Dependency: an earlier request in the chain failed; this one was never run.
      return { ok: false, error: new TargetError('transient', 'FailedDependency', 'not run: an earlier request in the batch failed', { status: 424, clientRequestId }) };
    }
    if (answer.status >= 400) {
      const error = classifyGraphError({ status: answer.status, headers: answer.headers, body: JSON.stringify(answer.body ?? {}) }, op.kind === 'create' ? 'mailbox' : 'item');
      error.clientRequestId ??= clientRequestId;
      return { ok: false, error };
    }
    if (op.kind === 'delete') return { ok: true };
    const body = (answer.body ?? {}) as { id?: string; changeKey?: string; '@odata.etag'?: string };
    const itemId = body.id ?? (op.kind === 'update' ? op.item.itemId : undefined);
    if (!itemId) return { ok: false, error: new TargetError('transient', 'MissingItemId', 'the batch answer for a create carries no event id', { clientRequestId }) };
    return { ok: true, item: { itemId, changeKey: etagOf(body) } };
  }

  /**
   * Batch items answered 412 (a stale If-Match) are read again and sent once more on their own; items answered 404
   * are "gone" only once the mailbox is found reachable (a delete is then done), else they get the mailbox's failure.
   */
  private async settleBatch(calendar: string, ops: BatchOp[], outcomes: BatchOutcome[]): Promise<BatchOutcome[]> {
    const settled = [...outcomes];
    for (const [index, outcome] of outcomes.entries()) {
      const op = ops[index]!;
      if (outcome.ok || op.kind === 'create' || outcome.error.status !== 412) continue;
      // Sent again on its own (a 404 there is confirmed already).
      settled[index] = await this.outcomeOf(op.kind === 'update' ? this.writeAgain(op.desired, op.item) : this.removeAgain(calendar, op.item).then(() => undefined));
    }
    const missing = outcomes.map((outcome, index) => (!outcome.ok && ops[index]!.kind !== 'create' && isNotFound(outcome.error) ? index : -1)).filter((index) => index >= 0);
    if (missing.length === 0) return settled;
    const unreachable = await this.unreachable(calendar);
    for (const index of missing) settled[index] = unreachable ? { ok: false, error: unreachable } : ops[index]!.kind === 'delete' ? { ok: true } : settled[index]!;
    return settled;
  }

  private async outcomeOf(work: Promise<ItemRef | undefined>): Promise<BatchOutcome> {
    try {
      const item = await work;
      return item ? { ok: true, item } : { ok: true };
    } catch (error) {
      if (error instanceof TargetError) return { ok: false, error };
      throw error;
    }
  }

  // ---- one request ---------------------------------------------------------------------------------------------

  /**
   * One Graph request with a bearer token and our client-request-id. A 401 means Graph refused the token — expired
   * before its time or revoked (InvalidAuthenticationToken, https://learn.microsoft.com/graph/errors): it is dropped,
   * a fresh one is fetched and the request sent once more. Only a second 401 in a row is the credentials' fault
   * (fatal). Graph did not act on a request it answered 401, so sending it again duplicates nothing. Every failure
   * carries the client-request-id sent and Graph's request-id.
   */
  private async send(calendar: string, method: string, url: string, body?: unknown, context: 'mailbox' | 'item' = 'item', extra: Record<string, string> = {}): Promise<HttpResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      const token = await this.access.token(calendar).catch((error: unknown) => {
        // No token, no request: on the first attempt nothing was sent; on the second the first was refused (401).
        if (error instanceof TargetError) error.unsent = true;
        throw error;
      });
      const support = supportHeaders();
      const headers: Record<string, string> = { authorization: `Bearer ${token}`, accept: 'application/json', prefer: PREFER_IMMUTABLE_ID, ...support, ...extra };
      if (payload !== undefined) headers['content-type'] = 'application/json';
      let response: HttpResponse;
      try {
        response = await this.request({ method, url, headers, body: payload });
      } catch (error) {
        if (error instanceof TargetError) error.clientRequestId ??= support['client-request-id'];
        throw error;
      }
      if (response.status === 401 && attempt === 1) {
        this.access.invalidate(calendar, token);
        continue;
      }
      if (response.status >= 400) {
        const error = response.status === 401 && this.access.kind === 'delegated' ? delegatedRefused(response, calendar) : classifyGraphError(response, context);
        error.clientRequestId ??= support['client-request-id'];
        throw error;
      }
      return response;
    }
  }

  /**
   * Until Graph has answered once, a refused or unroutable connection means graphBaseUrl is wrong (or the endpoint
   * is down) for every mailbox alike: the run stops with that, instead of every request being retried and failed.
   */
  private async request(request: HttpRequest): Promise<HttpResponse> {
    try {
      const response = await this.http.request(request);
      this.answered = true;
      return response;
    } catch (error) {
      if (!this.answered && error instanceof NetworkError && (error.reason === 'refused' || error.reason === 'unreachable')) {
        throw new TargetError('fatal', error.code, `could not reach Microsoft Graph: ${error.message}`, {
          // Through a proxy that cannot be reached, it is the proxy that is wrong, not graphBaseUrl.
          remedy: error.proxy ? error.remedy : `check target.graphBaseUrl (${this.options.graphBaseUrl}): ${error.remedy ?? 'is the endpoint running?'}`,
          cause: error,
        });
      }
      throw error;
    }
  }

  // ---- listing -------------------------------------------------------------------------------------------------

  /**
   * The documented form of the filter on an extended property: "apply an eq operator on the id property. In
   * addition, … For string-typed extended properties, apply a contains, startswith, eq, or ne operator on value"
   * (https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get); every form on that page filters on
   * id and value, none on the id alone, so a tenant may refuse the id-only form. The value prefix is our tag's
   * format and instance ("v1;<instance>;", mapping.ts tagValue), which also keeps other deployments' events out of
   * the listing (value filters are case-insensitive there, so the instance is checked exactly on the answer too).
   */
  private listingQuery(): string {
    const tag = odataString(TAG_PROPERTY_ID);
    const query = new URLSearchParams({
      $filter: `singleValueExtendedProperties/Any(ep: ep/id eq ${tag} and startswith(ep/value, ${odataString(`v1;${this.options.instance};`)}))`,
      $expand: `singleValueExtendedProperties($filter=id eq ${tag})`,
      $select: 'id,changeKey,transactionId',
      $top: String(this.options.pageSize ?? 250),
    });
    return query.toString().replace(/\+/g, '%20');
  }

  async listOwned(calendar: string, cursor?: string): Promise<OwnedPage> {
    let url: string;
    if (cursor) {
      // Follow nextLink only back to the same Graph endpoint: our bearer token must never go anywhere else.
      if (new URL(cursor).origin !== new URL(this.base).origin) {
        throw new TargetError('fatal', 'UnexpectedNextLink', `Graph returned a nextLink to another host (${new URL(cursor).host})`);
      }
      url = cursor;
    } else {
      url = `${this.eventsUrl(calendar)}?${this.listingQuery()}`;
    }
    const response = await this.send(calendar, 'GET', url, undefined, 'mailbox');
    const page = JSON.parse(response.body) as {
      value?: Array<{ id: string; changeKey?: string; '@odata.etag'?: string; transactionId?: string | null; singleValueExtendedProperties?: Array<{ id: string; value: string }> }>;
      '@odata.nextLink'?: string;
    };
    const items: OwnedItem[] = [];
    for (const event of page.value ?? []) {
      const tag = this.tagOf(event);
      // Tagged by another calpush instance, or a tag we cannot read: not ours to touch.
      if (!tag) continue;
      items.push({ key: tag.key, itemId: event.id, changeKey: etagOf(event), contentHash: tag.contentHash, transactionId: event.transactionId ?? null });
    }
    return page['@odata.nextLink'] ? { items, next: page['@odata.nextLink'] } : { items };
  }

  /** Our tag on an event as Graph returned it (expanded), when it names this instance. */
  private tagOf(event: { singleValueExtendedProperties?: Array<{ id: string; value: string }> }): ReturnType<typeof parseTagValue> {
    const property = event.singleValueExtendedProperties?.find((p) => p.id.toLowerCase() === TAG_PROPERTY_ID.toLowerCase());
    const tag = property ? parseTagValue(property.value) : null;
    return tag && tag.instance === this.options.instance ? tag : null;
  }

  // ---- writing -------------------------------------------------------------------------------------------------

  async create(desired: DesiredEvent, transactionId: string): Promise<ItemRef> {
    const body = { ...graphEventBody(desired, this.options), transactionId };
    const response = await this.send(desired.event.calendar, 'POST', this.eventsUrl(desired.event.calendar), body, 'mailbox');
    const created = JSON.parse(response.body) as { id: string; changeKey?: string; '@odata.etag'?: string };
    return { itemId: created.id, changeKey: etagOf(created) };
  }

  private async patch(desired: DesiredEvent, item: ItemRef, etag: string | null): Promise<ItemRef> {
    const response = await this.send(desired.event.calendar, 'PATCH', this.eventUrl(desired.event.calendar, item.itemId), graphEventBody(desired, this.options), 'item', etag ? { 'if-match': etag } : {});
    const updated = JSON.parse(response.body) as { id?: string; changeKey?: string; '@odata.etag'?: string };
    return { itemId: updated.id ?? item.itemId, changeKey: etagOf(updated) };
  }

  /**
   * PATCH with `If-Match: <etag we hold>`: a person's change since our last write is seen as 412 Precondition
   * Failed ("A precondition provided in the request (such as an if-match header) does not match the resource's
   * current state", https://learn.microsoft.com/graph/errors). The current etag is read (with our tag: the event must
   * still be ours) and the PATCH sent once more — the source system is the authority on our events, so the person's
   * edit is overwritten. A 404 is "gone" (re-created by the engine) only once the mailbox is found reachable.
   */
  async update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
    try {
      return await this.patch(desired, item, ifMatchOf(item.changeKey));
    } catch (error) {
      if (error instanceof TargetError && error.status === 412) return this.writeAgain(desired, item);
      throw await this.confirmedGone(desired.event.calendar, error);
    }
  }

  private async writeAgain(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
    const etag = await this.currentEtag(desired.event.calendar, item.itemId);
    try {
      return await this.patch(desired, item, etag);
    } catch (error) {
      throw await this.confirmedGone(desired.event.calendar, error);
    }
  }

  /**
   * DELETE with If-Match, the same way as update: 412 → read the current etag (checking the event is still ours) and
   * delete once more. An event that is no longer ours is forgotten and left alone; a 404 counts as deleted only once
   * the mailbox is found reachable.
   */
  async remove(calendar: string, item: ItemRef): Promise<void> {
    try {
      await this.send(calendar, 'DELETE', this.eventUrl(calendar, item.itemId), undefined, 'item', this.ifMatchHeader(item.changeKey));
    } catch (error) {
      if (error instanceof TargetError && error.status === 412) return this.removeAgain(calendar, item);
      this.goneMeansDone(await this.confirmedGone(calendar, error));
    }
  }

  private async removeAgain(calendar: string, item: ItemRef): Promise<void> {
    try {
      const etag = await this.currentEtag(calendar, item.itemId);
      await this.send(calendar, 'DELETE', this.eventUrl(calendar, item.itemId), undefined, 'item', this.ifMatchHeader(etag));
    } catch (error) {
      this.goneMeansDone(await this.confirmedGone(calendar, error));
    }
  }

  private ifMatchHeader(changeKey: string | null): Record<string, string> {
    const etag = ifMatchOf(changeKey);
    return etag ? { 'if-match': etag } : {};
  }

  /** For a delete: an event that is gone (confirmed) or no longer ours leaves nothing of ours to delete. */
  private goneMeansDone(error: unknown): void {
    if (error instanceof TargetError && error.scope === 'gone') return;
    throw error;
  }

  /** The event's current etag, read with our tag: an event that no longer carries it is not ours to write ("gone"). */
  private async currentEtag(calendar: string, itemId: string): Promise<string | null> {
    const tag = odataString(TAG_PROPERTY_ID);
    const query = `$select=id&$expand=${encodeURIComponent(`singleValueExtendedProperties($filter=id eq ${tag})`)}`;
    const response = await this.send(calendar, 'GET', `${this.eventUrl(calendar, itemId)}?${query}`);
    const event = JSON.parse(response.body) as { id: string; changeKey?: string; '@odata.etag'?: string; singleValueExtendedProperties?: Array<{ id: string; value: string }> };
    if (!this.tagOf(event)) {
      // Someone removed our tag (or it is another deployment's): as "gone", the engine forgets the event (and creates
      // it anew if still wanted); the event itself is left alone.
      throw new TargetError('gone', 'NotOurs', `event ${itemId.slice(0, 16)}… no longer carries this instance's tag`);
    }
    return etagOf(event);
  }

  /**
   * A 404 ErrorItemNotFound on one event is "gone" only when the mailbox still answers: Exchange also says "not found"
   * for an item one may not see (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode,
   * ErrorItemNotFound; Graph's Outlook items are served by Exchange). So the mailbox's events are asked for once
   * ($top=1): refused there, the failure is the mailbox's (no delete recorded, nothing created twice). Other errors
   * pass through.
   */
  private async confirmedGone(calendar: string, error: unknown): Promise<unknown> {
    if (!(error instanceof TargetError) || !isNotFound(error)) return error;
    return (await this.unreachable(calendar)) ?? error;
  }

  /** Null when the mailbox's calendar answers; else why it does not. */
  private async unreachable(calendar: string): Promise<TargetError | null> {
    try {
      await this.send(calendar, 'GET', `${this.eventsUrl(calendar)}?$top=1&$select=id`, undefined, 'mailbox');
      return null;
    } catch (error) {
      if (error instanceof TargetError) return error;
      throw error;
    }
  }

  // ---- the resource agent's requests (meetings.ts) -------------------------------------------------------------

  /** The meeting requests of resource mailboxes, answered over this target's connection and token (issue #15). */
  meetings(): GraphMeetingDesk {
    return new GraphMeetingDesk(this.connection());
  }

  /** This target's connection and token for the readers beside it (the agent's desk, the watch). */
  private connection(): GraphConnection {
    return {
      base: this.base,
      mailboxPath: (mailbox) => this.access.mailboxPath(mailbox),
      send: (mailbox, method, url, body, context, headers) => {
        // Follow links only back to the same Graph endpoint: our bearer token must never go anywhere else.
        this.checkLink(url);
        return this.send(mailbox, method, url, body, context, headers);
      },
    };
  }

  /**
   * A link Graph handed out (@odata.nextLink, a delta link kept as a cursor) is followed only to this target's own
   * Graph endpoint; one that is not a URL at all is an unreadable answer, not a TypeError.
   */
  private checkLink(url: string): void {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch (error) {
      throw new TargetError('item', UNREADABLE_ANSWER, 'Graph returned a link that is not a URL', { cause: error });
    }
    if (parsed.origin !== new URL(this.base).origin) throw new TargetError('fatal', 'UnexpectedNextLink', `Graph returned a link to another host (${parsed.host})`);
  }

  /** The rooms of room lists (Place.Read.All), for the agent's and the config's `roomList` entries (issue #15). */
  rooms(): GraphRoomDirectory {
    return new GraphRoomDirectory(this.directoryConnection());
  }

  /** The members of mail-enabled groups (GroupMember.Read.All), for the agent's organizers.groups. */
  groups(): GraphGroupDirectory {
    return new GraphGroupDirectory(this.directoryConnection());
  }

  private directoryConnection(): GraphPlacesConnection {
    return {
      base: this.base,
      get: (key, url) => {
        // As for meetings(): links are followed only back to the same Graph endpoint.
        this.checkLink(url);
        return this.send(key, 'GET', url, undefined, 'item');
      },
    };
  }

  // ---- where a mailbox lives (Exchange hybrid routing) ----------------------------------------------------------

  /**
   * Asks for one event id of the mailbox's calendar. An answer means Exchange Online holds the mailbox; so does a 403
   * (it is there, outside the app's scope: delivery reports that). 404 MailboxNotEnabledForRESTAPI is Graph's answer
   * for a mailbox "on a dedicated Microsoft Exchange Server" that is "not a valid Microsoft 365 mailbox"
   * (https://learn.microsoft.com/exchange/troubleshoot/user-and-shared-mailboxes/rest-api-is-not-yet-supported-for-this-mailbox-error),
   * "hosted on-premise" in a hybrid organisation — Graph does not reach on-premises mailboxes
   * (https://learn.microsoft.com/graph/hybrid-rest-support: that preview ended). It is also the answer for a mailbox
   * without an Exchange Online licence, which is why Autodiscover is asked first by default (app/routing.ts).
   */
  async locate(mailbox: string): Promise<MailboxLocation> {
    try {
      await this.send(mailbox, 'GET', `${this.eventsUrl(mailbox)}?$top=1&$select=id`, undefined, 'mailbox');
      return { found: 'here', answer: 'Microsoft Graph answered for its calendar: the mailbox is in Exchange Online' };
    } catch (error) {
      if (!(error instanceof TargetError) || error.scope !== 'mailbox') throw error;
      if (error.code === 'MailboxNotEnabledForRESTAPI') {
        return { found: 'elsewhere', answer: 'Microsoft Graph answered 404 MailboxNotEnabledForRESTAPI: the mailbox is not in Exchange Online (on-premises, or without a licence)' };
      }
      if (error.status === 403) return { found: 'here', answer: `Microsoft Graph answered 403 ${error.code}: the mailbox is in Exchange Online, outside the app's scope` };
      if (error.status === 404) return { found: 'nowhere', answer: `Microsoft Graph answered 404 ${error.code}: Exchange Online has no such mailbox` };
      throw error;
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }
}
