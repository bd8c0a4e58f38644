// The Graph calendar API of the sandbox: routing of one Graph operation (a top-level request or a $batch item),
// mailbox resolution and scoping, permissions, fault injection, throttling, latency, and the event operations.
import { randomUUID } from 'node:crypto';
import type { AppRecord } from '../identity.ts';
import type { LatencyOptions, MailboxSeed, MailboxStats, MeetingsBehaviour, SandboxStats } from '../types.ts';
import { sleep } from '../http.ts';
import { ChangeLog } from '../changes.ts';
import { Meetings } from '../meetings.ts';
import { MessageStore } from '../messages.ts';
import { calendarViewWindow } from './calendar-view.ts';
import { isSeriesMaster, occurrenceById, occurrenceDate, occurrencesIn } from './occurrences.ts';
import { GraphHttpError, graphError, type GraphResult, type RequestIds } from './errors.ts';
import { FilterEvaluator } from './filter.ts';
import { applySelect, compareForOrder, DEFAULT_PAGE_SIZE, encodeSkipToken, MAX_PAGE_SIZE, parseEventQuery, parsePrefer, type EventQuery } from './odata.ts';
import { validateGraphBody } from './schema/validate.ts';
import { canonicalJson, EventStore, sameExtendedPropertyId, timePoint, type EventRecord, type RenderOptions } from './store.ts';
import { Throttler } from './throttle.ts';
import { resolvePreferredTimeZone } from './timezones.ts';
import { objectIdFor } from '../tenant.ts';

export interface GraphOperation {
  method: string;
  /** path below /v1.0, e.g. "/users/a@b.c/events" (not decoded) */
  path: string;
  query: URLSearchParams;
  /** lower-cased header names */
  headers: Record<string, string>;
  /** parsed JSON body, undefined when none */
  body: unknown;
  app: AppRecord;
  ids: RequestIds;
}

export interface Mailbox extends MailboxSeed {
  objectId: string;
}

/** A resource below /users/{id} that another module serves (messages, calendarView/delta, meeting responses). */
export interface UserResourceHandler {
  /** the path below /users/{id}, lower-cased */
  matches(lower: string[]): boolean;
  methods: string[];
  /** the application permissions of which the token needs one for this method */
  roles(method: string): string[];
  handle(op: GraphOperation, mailbox: Mailbox, rest: string[], prefer: Map<string, string>): GraphResult | Promise<GraphResult>;
}

/** What a path below /users/{id} names: one of the event resources, the user itself or another module's resource. */
interface UserTarget {
  resource: 'events' | 'event' | 'calendarView' | 'user' | 'extension';
  rest: string[];
  eventId: string | undefined;
  extension: UserResourceHandler | undefined;
}

/** A root other than /users (/places, /subscriptions): gets the operation and the segments after the root. */
export type RootHandler = (op: GraphOperation, segments: string[]) => GraphResult | Promise<GraphResult>;

interface FaultRule {
  remaining: number;
  status: 429 | 500 | 503 | 504;
  mailbox?: string;
  retryAfterSeconds?: number;
}

/** 1825 days: "The range between the start and end dates is greater than the allowed range. Maximum number of days: 1825"
 * (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/6321, protocol notes A1). */

const READ_ROLES = ['Calendars.Read', 'Calendars.ReadWrite', 'Calendars.ReadBasic.All'];
const WRITE_ROLES = ['Calendars.ReadWrite'];

export class GraphService {
  readonly store: EventStore;
  readonly changes: ChangeLog;
  readonly messages: MessageStore;
  readonly meetings: Meetings;
  readonly throttler: Throttler;
  private readonly userResources: UserResourceHandler[] = [];
  private readonly roots = new Map<string, RootHandler>();
  private readonly mailboxes = new Map<string, Mailbox>();
  private readonly byObjectId = new Map<string, Mailbox>();
  private readonly evaluator = new FilterEvaluator({ sameId: sameExtendedPropertyId });
  latency: LatencyOptions;
  stats: SandboxStats;
  private faultRules: FaultRule[] = [];
  private dropRules: Array<{ remaining: number; mailbox?: string }> = [];
  /** Mailboxes whose access the app lost (faults.revokeMailbox): events 404, the mailbox's collections 403. */
  private readonly revoked = new Set<string>();
  readonly baseUrl: () => string;

  constructor(options: { mailboxes: MailboxSeed[]; throttler: Throttler; latency: LatencyOptions; baseUrl: () => string; now?: () => number; domain?: string; meetings?: Partial<MeetingsBehaviour> }) {
    const now = options.now ?? Date.now;
    this.changes = new ChangeLog();
    this.store = new EventStore(now, this.changes);
    this.messages = new MessageStore(now, this.changes, options.domain ?? 'contoso.edu');
    this.meetings = new Meetings({ store: this.store, messages: this.messages, directory: this, now, ...(options.meetings ? { behaviour: options.meetings } : {}) });
    this.throttler = options.throttler;
    this.latency = options.latency;
    this.baseUrl = options.baseUrl;
    this.stats = emptyStats();
    for (const seed of options.mailboxes) {
      const mailbox: Mailbox = { ...seed, address: seed.address.toLowerCase(), objectId: objectIdFor(seed.address) };
      this.mailboxes.set(mailbox.address, mailbox);
      this.byObjectId.set(mailbox.objectId, mailbox);
    }
  }

  /** Serves a path below /users/{id} after the mailbox checks, permissions, faults and throttling. */
  addUserResource(handler: UserResourceHandler): void {
    this.userResources.push(handler);
  }

  /** Serves another root (e.g. /places, /subscriptions). */
  addRoot(name: string, handler: RootHandler): void {
    this.roots.set(name.toLowerCase(), handler);
  }

  listMailboxes(): MailboxSeed[] {
    return [...this.mailboxes.values()].map(({ objectId: _objectId, ...seed }) => ({ ...seed }));
  }

  mailbox(address: string): Mailbox | undefined {
    return this.mailboxes.get(address.toLowerCase()) ?? this.byObjectId.get(address.toLowerCase());
  }

  /** A hybrid move: where the mailbox lives from now on (MailboxSeed.home); its items stay where they are. */
  moveMailbox(address: string, to: 'online' | 'onPremises'): void {
    const mailbox = this.mailbox(address);
    if (!mailbox) throw new Error(`sandbox: no mailbox '${address}' in the tenant`);
    mailbox.home = to;
  }

  resetStats(): void {
    this.stats = emptyStats();
  }

  failNext(n: number, status: FaultRule['status'], opts: { mailbox?: string; retryAfterSeconds?: number } = {}): void {
    const rule: FaultRule = { remaining: n, status };
    if (opts.mailbox !== undefined) rule.mailbox = opts.mailbox.toLowerCase();
    if (opts.retryAfterSeconds !== undefined) rule.retryAfterSeconds = opts.retryAfterSeconds;
    this.faultRules.push(rule);
  }

  dropResponseAfterCreate(n: number, mailbox?: string): void {
    this.dropRules.push(mailbox === undefined ? { remaining: n } : { remaining: n, mailbox: mailbox.toLowerCase() });
  }

  clearFaults(): void {
    this.faultRules = [];
    this.dropRules = [];
    this.revoked.clear();
  }

  /** The app loses (or regains) its access to a mailbox's calendar, as SandboxFaults.revokeMailbox describes. */
  setRevoked(address: string, revoked: boolean): void {
    if (revoked) this.revoked.add(address.toLowerCase());
    else this.revoked.delete(address.toLowerCase());
  }

  private mailboxStats(address: string): MailboxStats {
    let s = this.stats.perMailbox[address];
    if (!s) {
      s = { requests: 0, writes: 0, throttled: 0, maxConcurrent: 0 };
      this.stats.perMailbox[address] = s;
    }
    return s;
  }

  /** Executes one Graph operation and never throws. */
  /** Counts a request (or $batch item) that lacks the support headers Microsoft asks clients to send. */
  noteSupportHeaders(headers: Record<string, string>): void {
    if (!headers['client-request-id']) this.stats.withoutClientRequestId++;
    if (headers['return-client-request-id']?.toLowerCase() !== 'true') this.stats.withoutReturnClientRequestId++;
  }

  async execute(op: GraphOperation): Promise<GraphResult> {
    this.stats.requests++;
    this.noteSupportHeaders(op.headers);
    this.stats.byMethod[op.method] = (this.stats.byMethod[op.method] ?? 0) + 1;
    const baseHeaders = { 'request-id': op.ids.requestId, 'client-request-id': op.ids.clientRequestId };
    try {
      const result = await this.route(op);
      result.headers = { ...baseHeaders, ...result.headers };
      if (result.status === 429) this.stats.throttled++;
      return result;
    } catch (error) {
      if (error instanceof GraphHttpError) {
        if (error.status === 429) this.stats.throttled++;
        return graphError(error.status, error.code, error.message, op.ids, { ...baseHeaders, ...error.headers });
      }
      return graphError(500, 'InternalServerError', `The sandbox failed: ${(error as Error).message}`, op.ids, baseHeaders);
    }
  }

  private async route(op: GraphOperation): Promise<GraphResult> {
    const rawSegments = op.path.split('/').filter((s) => s !== '');
    const segments = rawSegments.map((s) => {
      try {
        return decodeURIComponent(s);
      } catch {
        return s;
      }
    });
    const delegated = op.app.delegatedUser;
    if (segments[0]?.toLowerCase() === 'me') {
      // App-only tokens have no signed-in user (https://learn.microsoft.com/graph/auth-v2-service); with a delegated
      // token /me is the signed-in user (https://learn.microsoft.com/graph/api/user-get).
      if (!delegated) throw new GraphHttpError(400, 'BadRequest', '/me request is only valid with delegated authentication flow.');
      segments.splice(0, 1, 'users', delegated.address);
    }
    const [root, userId, ...rest] = segments;
    if (root === undefined) throw new GraphHttpError(400, 'BadRequest', 'Invalid request.');
    // /places and /subscriptions check the token themselves (application permissions; delegated tokens carry none of
    // the roles they ask for).
    const otherRoot = this.roots.get(root.toLowerCase());
    if (otherRoot) return otherRoot(op, segments.slice(1));
    if (root.toLowerCase() !== 'users') {
      // Graph's answer for an unknown segment (ODataLib RequestUriProcessor_ResourceNotFound).
      throw new GraphHttpError(400, 'BadRequest', `Resource not found for the segment '${root}'.`);
    }
    if (userId === undefined) throw new GraphHttpError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    const lower = rest.map((s) => s.toLowerCase());
    const extension = this.userResources.find((handler) => handler.matches(lower));
    let resource: 'events' | 'event' | 'calendarView' | 'user' | 'extension';
    let eventId: string | undefined;
    if (extension) resource = 'extension';
    else if (lower.length === 0) resource = 'user';
    else if (lower[0] === 'calendar' && lower.length >= 2) {
      if (lower[1] === 'events' && lower.length === 2) resource = 'events';
      else if (lower[1] === 'events' && lower.length === 3) {
        resource = 'event';
        eventId = rest[2];
      } else if (lower[1] === 'calendarview' && lower.length === 2) resource = 'calendarView';
      else throw new GraphHttpError(400, 'BadRequest', `Resource not found for the segment '${rest[lower.length - 1]}'.`);
    } else if (lower[0] === 'events' && lower.length === 1) resource = 'events';
    else if (lower[0] === 'events' && lower.length === 2) {
      resource = 'event';
      eventId = rest[1];
    } else if (lower[0] === 'calendarview' && lower.length === 1) resource = 'calendarView';
    else throw new GraphHttpError(400, 'BadRequest', `Resource not found for the segment '${rest[lower.length - 1] ?? rest[0]}'.`);

    const allowed: Record<typeof resource, string[]> = { events: ['GET', 'POST'], event: ['GET', 'PATCH', 'DELETE'], calendarView: ['GET'], user: ['GET'], extension: extension?.methods ?? [] };
    if (!allowed[resource].includes(op.method)) {
      throw new GraphHttpError(405, 'BadRequest', 'Specified HTTP method is not allowed for the request target.', { allow: allowed[resource].join(', ') });
    }
    if (delegated) return this.routeDelegated(op, delegated, { userId, resource, rest, eventId, extension });
    if (resource === 'user') {
      // Reading the user object needs User.Read.All, which the calendar apps do not have
      // (https://learn.microsoft.com/graph/api/user-get#permissions).
      if (!op.app.roles.some((r) => /^User\.(Read|ReadWrite|ReadBasic)\.All$/.test(r))) {
        throw new GraphHttpError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
      }
    }

    const isWrite = op.method !== 'GET';
    // Application permission check: "Access is denied. Check credentials and try again." (protocol notes A6,
    // https://github.com/microsoftgraph/microsoft-graph-docs/issues/3289).
    if (resource !== 'user') {
      const roles = extension ? extension.roles(op.method) : isWrite ? WRITE_ROLES : READ_ROLES;
      if (!op.app.roles.some((r) => roles.includes(r))) throw new GraphHttpError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    }

    const mailbox = this.mailbox(userId);
    if (!mailbox || mailbox.state === 'noMailbox') {
      // 404 ErrorInvalidUser "The requested user '<id>' is invalid." (https://github.com/microsoftgraph/microsoft-graph-docs/issues/7909)
      throw new GraphHttpError(404, 'ErrorInvalidUser', `The requested user '${userId}' is invalid.`);
    }
    if (op.app.scopeSet !== null && !op.app.scopeSet.has(mailbox.address)) {
      // Out of the app's ApplicationAccessPolicy / RBAC-for-Applications scope: 403 ErrorAccessDenied
      // "Access to OData is disabled." (https://learn.microsoft.com/graph/auth-limit-mailbox-access; protocol notes A6 —
      // [VERIFY] the RBAC wording, which may be the generic "Access is denied" text).
      throw new GraphHttpError(403, 'ErrorAccessDenied', 'Access to OData is disabled.');
    }
    if (mailbox.state === 'restDisabled') {
      // Unlicensed / on-premises / soft-deleted mailbox (https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/6519).
      throw new GraphHttpError(404, 'MailboxNotEnabledForRESTAPI', 'REST API is not yet supported for this mailbox.');
    }
    if (mailbox.home === 'onPremises' && resource !== 'user') {
      // A hybrid organisation's on-premises mailbox: its user is in the directory, its mailbox is not in Exchange
      // Online (https://learn.microsoft.com/exchange/troubleshoot/user-and-shared-mailboxes/rest-api-is-not-yet-supported-for-this-mailbox-error;
      // the wording as seen in https://learn.microsoft.com/answers/questions/1457213).
      throw new GraphHttpError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
    }
    if (this.revoked.has(mailbox.address) && resource !== 'user') {
      // Access lost: an item the caller may not see is "not found" (Exchange's ErrorItemNotFound: "the item was not
      // found or you do not have permission to access the item",
      // https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode), the mailbox's
      // collections are refused.
      if (resource === 'event') throw new GraphHttpError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
      throw new GraphHttpError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    }
    if (resource === 'user') {
      return this.ok(200, { '@odata.context': `${this.baseUrl()}/v1.0/$metadata#users/$entity`, id: mailbox.objectId, displayName: mailbox.displayName, mail: mailbox.address, userPrincipalName: mailbox.address });
    }

    return this.runOnMailbox(op, mailbox, { resource, rest, eventId, extension });
  }

  /**
   * A delegated token reaches the signed-in user's own mailbox only: Calendars.ReadWrite "allows the app to create,
   * read, update, and delete events in user calendars" of the signed-in user; another user's calendar needs that user
   * to have shared it or delegated it (https://learn.microsoft.com/graph/permissions-reference#calendarsreadwrite,
   * https://learn.microsoft.com/graph/outlook-share-or-delegate-calendar), else 403 ErrorAccessDenied. The scopes in
   * the token decide (scp); RBAC for Applications does not apply to delegated access.
   */
  private async routeDelegated(op: GraphOperation, user: NonNullable<AppRecord['delegatedUser']>, target: UserTarget & { userId: string }): Promise<GraphResult> {
    const { userId, resource, extension } = target;
    const mailbox = this.mailbox(userId);
    if (!mailbox || mailbox.state === 'noMailbox') throw new GraphHttpError(404, 'ErrorInvalidUser', `The requested user '${userId}' is invalid.`);
    const own = mailbox.address === user.address;
    if (resource === 'user') {
      if (!own || !user.scopes.some((s) => /^User\.Read/i.test(s))) throw new GraphHttpError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
      // proxyAddresses only when asked for with $select, as Graph returns a user's default properties otherwise.
      const select = (op.query.get('$select') ?? '').split(',').map((p) => p.trim().toLowerCase());
      const aliases = [`SMTP:${mailbox.address}`, ...(mailbox.aliases ?? []).map((a) => `smtp:${a.toLowerCase()}`)];
      return this.ok(200, {
        '@odata.context': `${this.baseUrl()}/v1.0/$metadata#users/$entity`,
        id: mailbox.objectId,
        displayName: mailbox.displayName,
        mail: mailbox.address,
        userPrincipalName: mailbox.address,
        ...(select.includes('proxyaddresses') ? { proxyAddresses: aliases } : {}),
      });
    }
    // The resources other modules serve (messages, calendarView/delta, accept/decline/cancel) are all documented for
    // delegated access with the delegated permission of the same name as the application one (e.g.
    // https://learn.microsoft.com/graph/api/event-delta#permissions, …/event-accept#permissions, …/user-list-messages#permissions).
    const needed = extension ? extension.roles(op.method) : op.method === 'GET' ? ['Calendars.Read', 'Calendars.ReadWrite'] : ['Calendars.ReadWrite'];
    if (!own || !user.scopes.some((s) => needed.includes(s))) throw new GraphHttpError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    if (mailbox.state === 'restDisabled') throw new GraphHttpError(404, 'MailboxNotEnabledForRESTAPI', 'REST API is not yet supported for this mailbox.');
    return this.runOnMailbox(op, mailbox, target);
  }

  /** Faults, throttling and the operation itself, on a mailbox the caller may use. */
  private async runOnMailbox(op: GraphOperation, mailbox: Mailbox, target: UserTarget): Promise<GraphResult> {
    const { resource, rest, eventId, extension } = target;
    const isWrite = op.method !== 'GET';
    const stats = this.mailboxStats(mailbox.address);
    stats.requests++;

    // Fault injection: answer without doing anything.
    const fault = this.faultRules.find((r) => r.remaining > 0 && (r.mailbox === undefined || r.mailbox === mailbox.address));
    if (fault) {
      fault.remaining--;
      if (fault.status === 429) stats.throttled++;
      const headers: Record<string, string> = fault.retryAfterSeconds !== undefined ? { 'retry-after': String(fault.retryAfterSeconds) } : {};
      const texts: Record<number, [string, string]> = {
        // Generic 429 body (https://learn.microsoft.com/graph/throttling, "Sample response").
        429: ['TooManyRequests', 'Please retry again later.'],
        500: ['InternalServerError', 'An internal server error occurred. The operation failed.'],
        503: ['ServiceUnavailable', 'The service is temporarily unavailable. Please retry after the time in the Retry-After header.'],
        504: ['GatewayTimeout', 'The gateway did not receive a timely response from the upstream server.'],
      };
      const [code, message] = texts[fault.status]!;
      return graphError(fault.status, code, message, op.ids, headers);
    }

    const admission = this.throttler.acquire(`${op.app.clientId.toLowerCase()}|${mailbox.address}`);
    if (!admission.ok) {
      stats.throttled++;
      return graphError(429, 'ApplicationThrottled', `Application is over its ${admission.limit} limit.`, op.ids, { 'retry-after': String(admission.retryAfterSeconds) });
    }
    stats.maxConcurrent = Math.max(stats.maxConcurrent, this.throttler.inFlight(`${op.app.clientId.toLowerCase()}|${mailbox.address}`));
    try {
      // Server time, spent while holding the concurrency slot.
      await sleep(this.latency.perRequestMs);
      if (isWrite) {
        this.stats.writes++;
        stats.writes++;
      }
      const prefer = parsePrefer(op.headers['prefer']);
      switch (resource) {
        case 'events':
          return op.method === 'POST' ? this.createEvent(op, mailbox, prefer) : this.listEvents(op, mailbox, prefer, 'events', rest);
        case 'calendarView':
          return this.listEvents(op, mailbox, prefer, 'calendarView', rest);
        case 'event':
          return this.eventItem(op, mailbox, eventId!, prefer);
        case 'extension':
          if (!extension) throw new GraphHttpError(400, 'BadRequest', 'Invalid request.');
          return await extension.handle(op, mailbox, rest, prefer);
        case 'user':
          throw new GraphHttpError(400, 'BadRequest', 'Invalid request.');
      }
    } finally {
      admission.release();
    }
  }

  ok(status: number, body: unknown, headers: Record<string, string> = {}): GraphResult {
    return body === undefined ? { status, headers } : { status, headers: { 'content-type': 'application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8', ...headers }, body };
  }

  /** Render options and the Preference-Applied header from the Prefer header. */
  renderOptions(prefer: Map<string, string>): { options: RenderOptions; applied: string[] } {
    const applied: string[] = [];
    const options: RenderOptions = { baseUrl: 'https://outlook.office365.com' };
    const tz = prefer.get('outlook.timezone');
    if (tz !== undefined) {
      // Prefer: outlook.timezone converts start/end in responses; default UTC
      // (https://learn.microsoft.com/graph/api/user-list-calendarview, Request headers).
      const zone = resolvePreferredTimeZone(tz);
      if (zone) {
        options.timeZone = zone;
        applied.push(`outlook.timezone="${tz}"`);
      }
    }
    const bodyType = prefer.get('outlook.body-content-type')?.toLowerCase();
    if (bodyType === 'text' || bodyType === 'html') {
      options.bodyContentType = bodyType;
      applied.push(`outlook.body-content-type="${bodyType}"`);
    }
    if (prefer.get('idtype')?.toLowerCase() === 'immutableid') {
      // Ids here never change anyway; Graph echoes the preference (https://learn.microsoft.com/graph/outlook-immutable-id).
      applied.push('IdType="ImmutableId"');
    }
    return { options, applied };
  }

  appliedHeader(applied: string[]): Record<string, string> {
    return applied.length > 0 ? { 'preference-applied': applied.join(', ') } : {};
  }

  contextUrl(mailbox: Mailbox, suffix: string): string {
    return `${this.baseUrl()}/v1.0/$metadata#users('${encodeURIComponent(mailbox.address)}')/${suffix}`;
  }

  private validate(body: unknown, mode: 'create' | 'update'): Record<string, unknown> {
    // The request body is checked against Graph's v1.0 model first (unknown property, wrong type, bad enum → 400).
    const problem = validateGraphBody('event', body, mode);
    if (problem) throw new GraphHttpError(problem.status, problem.code, problem.message);
    return body as Record<string, unknown>;
  }

  private renderEvent(record: EventRecord, query: Pick<EventQuery, 'select' | 'expandExtended'> | undefined, options: RenderOptions): Record<string, unknown> {
    const rendered = this.store.render(record, options);
    if (query?.expandExtended) {
      const matching = record.extendedProperties.filter((p) => this.evaluator.test(query.expandExtended!, { id: p.id, value: p.value }, new Map()));
      // Only matching properties come back; none → the property is absent (https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get).
      if (matching.length > 0) rendered['singleValueExtendedProperties'] = matching.map((p) => ({ id: p.id, value: p.value }));
    }
    return applySelect(rendered, query?.select);
  }

  private createEvent(op: GraphOperation, mailbox: Mailbox, prefer: Map<string, string>): GraphResult {
    const body = this.validate(op.body, 'create');
    const { options, applied } = this.renderOptions(prefer);
    const transactionId = typeof body['transactionId'] === 'string' ? body['transactionId'] : undefined;
    if (transactionId !== undefined) {
      const existing = this.store.findByTransactionId(mailbox.address, transactionId);
      if (existing) {
        if (existing.createFingerprint !== canonicalJson(body)) {
          // Same transactionId, different event: ErrorDuplicateTransactionId (protocol notes A2,
          // https://github.com/alcionai/corso/issues/2490). [VERIFY] the HTTP status (400 assumed).
          throw new GraphHttpError(400, 'ErrorDuplicateTransactionId', "Your request can't be completed. The TransactionId specified in the request has already been used to create a different event.");
        }
        // Re-POST of the identical body: 201 with the event created before, no new event
        // (https://learn.microsoft.com/graph/api/resources/event, transactionId; https://blog.rykoma.net/2020/10/05/1559/).
        return this.created(existing, mailbox, options, applied);
      }
    }
    const record = this.store.create(mailbox.address, mailbox.displayName, body);
    // "When an event is sent, the server sends invitations to all the attendees." (https://learn.microsoft.com/graph/api/user-post-events)
    this.meetings.created(record, 'all');
    return this.created(record, mailbox, options, applied);
  }

  private created(record: EventRecord, mailbox: Mailbox, options: RenderOptions, applied: string[]): GraphResult {
    const rendered = this.store.render(record, options);
    const result = this.ok(201, { '@odata.context': this.contextUrl(mailbox, 'events/$entity'), ...rendered }, { location: `${this.baseUrl()}/v1.0/users('${encodeURIComponent(mailbox.address)}')/events('${encodeURIComponent(record.id)}')`, ...this.appliedHeader(applied) });
    if (this.takeCreateDrop(mailbox.address)) result.drop = true;
    return result;
  }

  /** Whether the answer to this create (Graph's or EWS's CreateItem) is to be dropped (faults.dropResponseAfterCreate). */
  takeCreateDrop(address: string): boolean {
    const drop = this.dropRules.find((r) => r.remaining > 0 && (r.mailbox === undefined || r.mailbox === address.toLowerCase()));
    if (drop) drop.remaining--;
    return drop !== undefined;
  }

  /**
   * An occurrence's times changed on their own: it becomes an exception of its series (event-update on an
   * occurrence's id; https://learn.microsoft.com/graph/api/resources/event, type "exception"). Only start and end
   * are taken (the sandbox keeps no other property per occurrence); the occurrence is returned as it now is.
   */
  moveOccurrence(occurrence: EventRecord, changes: Record<string, unknown>): EventRecord {
    const other = Object.keys(changes).filter((key) => key !== 'start' && key !== 'end');
    if (other.length) throw new GraphHttpError(400, 'ErrorInvalidRequest', `The sandbox changes only the start and end of an occurrence, not ${other.join(', ')}.`);
    const master = this.store.get(occurrence.mailbox, occurrence.occurrenceOf!.id)!;
    if (master.meeting && !master.meeting.isOrganizer) throw new GraphHttpError(400, 'ErrorInvalidRequest', 'Only the organizer can change an occurrence of a meeting.');
    const start = changes['start'] !== undefined ? timePoint(changes['start'], 'start') : occurrence.start;
    const end = changes['end'] !== undefined ? timePoint(changes['end'], 'end') : occurrence.end;
    if (end.instant < start.instant) throw new GraphHttpError(400, 'ErrorInvalidRequest', 'The end of the occurrence is before its start.');
    const date = occurrenceDate(occurrence.id)!.date;
    this.meetings.occurrenceChanged(master, date, { start, end });
    return occurrenceById(occurrence.id, (id) => this.store.get(occurrence.mailbox, id))!;
  }

  private eventItem(op: GraphOperation, mailbox: Mailbox, eventId: string, prefer: Map<string, string>): GraphResult {
    // An occurrence's id reads the occurrence; a PATCH of its times makes it an exception (occurrences.ts).
    const record = this.store.get(mailbox.address, eventId) ?? (op.method !== 'DELETE' ? occurrenceById(eventId, (id) => this.store.get(mailbox.address, id)) : undefined);
    if (!record) {
      // 404 ErrorItemNotFound "The specified object was not found in the store." (https://github.com/microsoftgraph/msgraph-sdk-javascript/issues/228)
      throw new GraphHttpError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
    }
    const { options, applied } = this.renderOptions(prefer);
    if (op.method !== 'GET') this.checkIfMatch(op.headers['if-match'], record);
    if (op.method === 'DELETE') {
      // 204 No Content (https://learn.microsoft.com/graph/api/event-delete).
      this.deleteEvent(record);
      return { status: 204, headers: {} };
    }
    if (op.method === 'PATCH' && record.occurrenceOf) {
      const moved = this.moveOccurrence(record, this.validate(op.body, 'update'));
      return this.ok(200, { '@odata.context': this.contextUrl(mailbox, 'events/$entity'), ...this.store.render(moved, options) }, this.appliedHeader(applied));
    }
    if (op.method === 'PATCH') {
      this.patchEvent(record, this.validate(op.body, 'update'));
      // 200 with the updated event (https://learn.microsoft.com/graph/api/event-update).
      return this.ok(200, { '@odata.context': this.contextUrl(mailbox, 'events/$entity'), ...this.store.render(record, options) }, this.appliedHeader(applied));
    }
    const query = parseEventQuery(op.query, 'item');
    return this.ok(200, { '@odata.context': this.contextUrl(mailbox, 'events/$entity'), ...this.renderEvent(record, query, options) }, this.appliedHeader(applied));
  }

  /**
   * A PATCH of an event (validated). A meeting's update goes to its attendees, keeping the responses the organiser
   * has tracked; "An event update that includes only the attendees property in the request body sends a meeting
   * update to only the attendees that have changed." (https://learn.microsoft.com/graph/api/event-update)
   */
  patchEvent(record: EventRecord, body: Record<string, unknown>): void {
    const before = this.meetings.before(record);
    this.store.update(record, 'attendees' in body ? { ...body, attendees: this.meetings.keepStatuses(record, body['attendees']) } : body);
    this.meetings.updated(record, before, Object.keys(body).every((k) => k === 'attendees') ? 'changed' : 'all');
  }

  /** "If the event is a meeting, deleting the event on the organizer's calendar sends a cancellation message to the meeting attendees." (https://learn.microsoft.com/graph/api/event-delete) */
  deleteEvent(record: EventRecord): void {
    this.meetings.cancelled(record, undefined, 'all');
    this.store.delete(record.mailbox, record.id);
  }

  /**
   * If-Match on PATCH/DELETE: the write happens only when the event still has that etag, else 412 Precondition Failed
   * ("A precondition provided in the request (such as an if-match header) does not match the resource's current
   * state", https://learn.microsoft.com/graph/errors). The etag is `@odata.etag`, W/"<changeKey>"; the strong form
   * and `*` match too. The code and text are Exchange's for a stale change key (ErrorIrresolvableConflict,
   * https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode; seen from Graph in
   * https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/7934) [VERIFY] for events.
   */
  private checkIfMatch(header: string | undefined, record: EventRecord): void {
    if (header === undefined) return;
    const current = new Set([`W/"${record.changeKey}"`, `"${record.changeKey}"`, '*']);
    if (header.split(',').some((tag) => current.has(tag.trim()))) return;
    throw new GraphHttpError(412, 'ErrorIrresolvableConflict', 'The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.');
  }

  private listEvents(op: GraphOperation, mailbox: Mailbox, prefer: Map<string, string>, kind: 'events' | 'calendarView', pathRest: string[]): GraphResult {
    const query = parseEventQuery(op.query, 'collection');
    const { options, applied } = this.renderOptions(prefer);
    let records = this.store.list(mailbox.address);
    let windowParams = '';
    if (kind === 'calendarView') {
      const { start, end, startRaw, endRaw } = calendarViewWindow(op.query);
      // Events overlapping [start, end) (zero-length events at the start boundary included); a series as its
      // occurrences in the window, not its master (occurrences.ts).
      records = records.flatMap((r) => (isSeriesMaster(r) ? occurrencesIn(r, start, end) : [r])).filter((r) => {
        const i = EventStore.interval(r);
        return i.start < end && (i.end > start || (i.end === i.start && i.start >= start));
      });
      windowParams = `startDateTime=${encodeURIComponent(startRaw)}&endDateTime=${encodeURIComponent(endRaw)}`;
    }
    // Filter and sort on the UTC rendering with the extended properties attached (rendered only when needed).
    const needsView = query.filter !== undefined || query.orderBy.length > 0;
    let rows = records.map((record) => {
      const view = needsView ? this.store.render(record, {}) : {};
      if (needsView) view['singleValueExtendedProperties'] = record.extendedProperties.map((p) => ({ ...p }));
      return { record, view };
    });
    if (query.filter) rows = rows.filter((row) => this.evaluator.test(query.filter!, row.view));
    if (query.orderBy.length > 0) rows.sort((a, b) => compareForOrder(a.view, b.view, query.orderBy) || a.record.seq - b.record.seq);
    else if (kind === 'calendarView') rows.sort((a, b) => a.record.start.instant - b.record.start.instant || a.record.seq - b.record.seq);
    else rows.sort((a, b) => a.record.seq - b.record.seq);
    const total = rows.length;
    // Page size: $top, else Prefer: odata.maxpagesize, else 10 (https://learn.microsoft.com/graph/paging).
    const maxPageSize = Number(prefer.get('odata.maxpagesize'));
    const pageSize = query.top ?? (Number.isInteger(maxPageSize) && maxPageSize > 0 ? Math.min(maxPageSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE);
    if (query.top === undefined && Number.isInteger(maxPageSize) && maxPageSize > 0) applied.push(`odata.maxpagesize=${pageSize}`);
    const page = rows.slice(query.skip, query.skip + pageSize);
    const body: Record<string, unknown> = { '@odata.context': this.contextUrl(mailbox, kind === 'events' ? 'events' : 'calendarView') };
    if (query.count) body['@odata.count'] = total;
    body['value'] = page.map((row) => this.renderEvent(row.record, query, options));
    if (query.skip + pageSize < total && pageSize > 0) {
      // @odata.nextLink: an absolute URL carrying the other query options and an opaque $skiptoken
      // (https://learn.microsoft.com/graph/paging).
      const params: string[] = [];
      if (windowParams) params.push(windowParams);
      for (const [k, v] of op.query) {
        const name = k.toLowerCase();
        if (name === '$skip' || name === '$skiptoken' || name === 'startdatetime' || name === 'enddatetime') continue;
        params.push(`${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
      }
      params.push(`$skiptoken=${encodeSkipToken(query.skip + pageSize)}`);
      const userSegment = encodeURIComponent(mailbox.address);
      body['@odata.nextLink'] = `${this.baseUrl()}/v1.0/users/${userSegment}/${pathRest.join('/')}?${params.join('&')}`;
    }
    return this.ok(200, body, this.appliedHeader(applied));
  }
}

export function emptyStats(): SandboxStats {
  return { requests: 0, writes: 0, byMethod: {}, throttled: 0, tokenRequests: 0, unauthorized: 0, batches: 0, withoutClientRequestId: 0, withoutReturnClientRequestId: 0, perMailbox: {} };
}

export function newRequestIds(clientRequestId: string | undefined): RequestIds {
  const requestId = randomUUID();
  return { requestId, clientRequestId: clientRequestId && clientRequestId.length <= 200 ? clientRequestId : requestId };
}
