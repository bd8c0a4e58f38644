// The push API (fastify): systems write events, calpush records them in the desired state at once and answers
// 202; the delivery loop takes it from there.
//
// Rules the handlers follow:
// - An event is validated by the event model (validateEvent), the same code that checks input files.
// - Nothing is partly applied: a single-event request changes its event or nothing; a bulk request (batch,
//   replacement) is applied in one store transaction — by default every valid item and none of the invalid ones
//   (each item is all or nothing), with `atomic=true` all items or none.
// - A calendar is known when it is in the config's `mailboxes` (when given), or else has a feed or is in the store. Writing to a calendar
//   creates it, unless `mailboxes` is given and does not include it (404). A calendar fed by an iCalendar feed is
//   written by its feed only (409).
import type { Socket } from 'node:net';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest, type RouteOptions } from 'fastify';
import type { z } from 'zod';
import { retentionRule, type Config } from '../app/config.ts';
import { namedMailboxes } from '../app/mailboxes.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { previewMailbox, type MailboxPreview } from '../planner/preview.ts';
import { eventKey, validateEvent, type CanonicalEvent, type DesiredEvent } from '../model/event.ts';
import { EmptyInputRefused, type DesiredOp, type EventDeliveryState, type Store } from '../store/store.ts';
import type { HeldEvent } from '../model/rows.ts';
import { validateRecord } from '../sources/records.ts';
import { redactUrl } from '../sources/feeds.ts';
import { ApiKeyVerifier, FailedAuthentications, hasScope, mayUseCalendar, type Authentication, type Principal } from './auth.ts';
import type { ServerConfig } from './config.ts';
import { registerDashboard } from './dashboard/index.ts';
import { registerConsent, type ConsentOptions } from './consent/index.ts';
import { registerNotifications, type NotificationReceiver } from './notifications.ts';
import type { ConnectionRow, ConnectionStore } from '../store/connections.ts';
import type { DashboardScheduler } from './dashboard/data.ts';
import type { DeliveryLoopStatus } from '../engine/loop.ts';
import type { Metrics } from './metrics.ts';
import { buildOpenApi, renderDocsHtml, type RouteAuth, type RouteDoc } from './openapi.ts';
import { fieldErrors, invalid, problem, PROBLEM_TYPES, ProblemError, type FieldError } from './problem.ts';
import {
  acceptedSchema,
  batchItemSchema,
  batchQuerySchema,
  batchResultSchema,
  calendarEventSchema,
  calendarListSchema,
  calendarParamsSchema,
  calendarStatusSchema,
  connectionListSchema,
  connectionStatusSchema,
  eventBodySchema,
  eventParamsSchema,
  eventStatusSchema,
  healthSchema,
  replaceQuerySchema,
  replaceResultSchema,
  type BatchItemResult,
  type CalendarStatus,
  type EventRecord,
  type EventStatus,
  type Health,
} from './schemas.ts';

export const API_VERSION = '0.1.0';

const routeTables = new WeakMap<FastifyInstance, Array<{ method: string; url: string; auth: RouteAuth }>>();

/** Every route fastify registered (HEAD twins included), as its onRoute hook saw them. */
export function routeTable(app: FastifyInstance): Array<{ method: string; url: string; auth: RouteAuth }> {
  return [...(routeTables.get(app) ?? [])];
}

export interface AppOptions {
  store: Store;
  config: Config;
  server: ServerConfig;
  /** Calendar → feed URL for calendars fed by a feed. */
  /**
   * The calendars this deployment manages: the config's `mailboxes` with the rooms of its room lists (app/mailboxes.ts;
   * serve updates the set in place when it reads the lists again). Default: the addresses `mailboxes` names.
   */
  mailboxes?: Set<string> | null;
  feeds?: Map<string, string>;
  loop?: { nudge(calendar?: string, events?: number): void; status(): DeliveryLoopStatus; deliverNow?(calendar: string): void };
  /** The delivery's scheduler, read by the dashboard (rates, who is throttled now). */
  scheduler?: DashboardScheduler;
  metrics: Metrics;
  logger?: boolean | { level: string };
  /** For the health answer while shutting down. */
  stopping?: () => boolean;
  /** Serve HTTPS with this key and certificate (PEM). */
  https?: { key: string; cert: string };
  /** "Now" for retention (which events have ended), API keys' last use and the failed-authentication window (default: the system clock). */
  clock?: Clock;
  /** Delegated access (target kind "graph-delegated"): the people's connections, their API and the consent pages. */
  /** Graph's change notifications of the watched mailboxes (server/notifications.ts), when serve subscribes. */
  notifications?: NotificationReceiver;
  delegated?: { connections: ConnectionStore; connectUrl: (calendar?: string) => string; consent?: Omit<ConsentOptions, 'store' | 'clock' | 'knows' | 'mailboxes'> };
}

interface RouteSpec extends RouteDoc {
  bodyLimit?: 'single' | 'bulk';
  /** The route's :calendar is checked against the key's calendar patterns before the handler runs. */
  calendarParam?: boolean;
  handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>;
}

/** The body of an application/x-ndjson request, split by the handler (each line is an item). */
class NdjsonBody {
  readonly text: string;
  constructor(text: string) {
    this.text = text;
  }
}

const NDJSON_TYPES = ['application/x-ndjson', 'application/ndjson', 'application/jsonl', 'application/json-lines'];

/** The media types a route's body may have ("application/x-ndjson" stands for every NDJSON spelling). */
function acceptedMediaTypes(contentTypes: string[]): string[] {
  return contentTypes.flatMap((type) => (type === 'application/x-ndjson' ? NDJSON_TYPES : [type]));
}

/** Whether the request carries a body (Content-Length above 0, or chunked). */
function hasBody(request: FastifyRequest): boolean {
  const length = request.headers['content-length'];
  return (length !== undefined && length !== '0') || request.headers['transfer-encoding'] !== undefined;
}

/**
 * Answers a request Node's HTTP parser could not read (a request head over 16 KB, a broken request line, a head
 * that never finished) with a fixed problem document and closes the connection: there is no request yet to
 * authenticate, and nothing of it is repeated back.
 */
function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const kind = error.code === 'HPE_HEADER_OVERFLOW' ? 'header-too-large' : error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 'request-timeout' : 'invalid-request';
  const body = JSON.stringify(problem(kind, kind === 'invalid-request' ? 'the request could not be read as HTTP/1.1' : undefined));
  const reason = kind === 'header-too-large' ? 'Request Header Fields Too Large' : kind === 'request-timeout' ? 'Request Timeout' : 'Bad Request';
  if (socket.writable) {
    socket.write(`HTTP/1.1 ${PROBLEM_TYPES[kind].status} ${reason}\r\nConnection: close\r\nContent-Type: application/problem+json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
  }
  socket.destroy();
}

const ADDRESS = /^[^\s@]+@[^\s@]+$/;

export function statusUrl(calendar: string, id?: string): string {
  return `/v1/calendars/${encodeURIComponent(calendar)}${id === undefined ? '' : `/events/${encodeURIComponent(id)}`}`;
}

/** The event as the API shows it: the input shape, normalised. */
export function toEventRecord(event: CanonicalEvent): EventRecord {
  const t = event.timing;
  return {
    calendar: event.calendar,
    id: event.id,
    subject: event.subject,
    ...(t.allDay ? { start: t.startDate, end: t.endDate, allDay: true } : { start: t.start, end: t.end, timeZone: t.timeZone, allDay: false }),
    body: event.body,
    location: event.location,
    categories: event.categories,
    showAs: event.showAs,
    sensitivity: event.sensitivity,
    reminderMinutes: event.reminderMinutes,
  };
}

/** The delivery status of one event from what the store knows; null when the store knows nothing of it. */
export function eventStatus(calendar: string, id: string, state: EventDeliveryState): EventStatus | null {
  const { desired, delivered, pending, mailbox } = state;
  if (!desired && !delivered.length && !pending.length) return null;
  const failedOp = pending.find((op) => op.lastError);
  const current = desired ? delivered.find((d) => d.contentHash === desired.contentHash) : undefined;
  const item = current ?? delivered[0];
  let status: EventStatus['status'];
  let reason: string | undefined;
  if (failedOp) {
    status = 'failed';
    reason = failedOp.lastError!;
  } else if (!desired) {
    status = 'deleting';
  } else if (current && !pending.length) {
    status = 'delivered';
  } else if (mailbox?.state === 'failed' && mailbox.lastError) {
    status = 'failed';
    reason = `${mailbox.lastErrorCode ?? 'Error'}: ${mailbox.lastError}`;
  } else {
    status = 'pending';
  }
  if (status === 'deleting' && mailbox?.state === 'failed' && mailbox.lastError) {
    status = 'failed';
    reason = `${mailbox.lastErrorCode ?? 'Error'}: ${mailbox.lastError}`;
  }
  return {
    calendar,
    id: desired?.sourceId ?? id,
    status,
    ...(reason ? { reason } : {}),
    targetItemId: item?.itemId ?? null,
    pendingOperation: pending[0]?.kind ?? null,
    event: desired ? toEventRecord(desired.event) : null,
    updatedAt: desired?.updatedAt ?? null,
    deliveredAt: current?.deliveredAt ?? null,
  };
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown, what: 'path' | 'query'): z.infer<S> {
  const parsed = schema.safeParse(value ?? {});
  if (parsed.success) return parsed.data;
  throw invalid(
    `invalid ${what === 'path' ? 'path parameter' : 'query parameter'}`,
    parsed.error.issues.map((issue) => ({ field: issue.path.join('.') || '(query)', message: issue.message })),
  );
}

function calendarFromPath(raw: string): string {
  const calendar = raw.trim().toLowerCase();
  if (!ADDRESS.test(calendar) || calendar.length > 320) throw invalid('invalid path parameter', [{ field: 'calendar', message: 'must be a mailbox address like someone@example.edu' }]);
  return calendar;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The items of a bulk body: a JSON array, {"events"|"items": [...]}, or NDJSON lines. */
function bulkItems(body: unknown, key: 'events' | 'items'): Array<{ item: number; value: unknown } | { item: number; error: string }> {
  if (body instanceof NdjsonBody) {
    const items: Array<{ item: number; value: unknown } | { item: number; error: string }> = [];
    body.text.split('\n').forEach((line, index) => {
      if (!line.trim()) return;
      try {
        items.push({ item: index + 1, value: JSON.parse(line) });
      } catch (error) {
        items.push({ item: index + 1, error: `is not valid JSON: ${(error as Error).message}` });
      }
    });
    return items;
  }
  const list = Array.isArray(body) ? body : isPlainObject(body) && Array.isArray(body[key]) ? (body[key] as unknown[]) : null;
  if (!list) throw invalid(`the body must be a JSON array, {"${key}": [...]}, or NDJSON (Content-Type: application/x-ndjson)`, [{ field: '(body)', message: 'is not a list of items' }]);
  return list.map((value, index) => ({ item: index + 1, value }));
}

export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  const { store, config, server, metrics } = options;
  const clock = options.clock ?? systemClock;
  const feeds = options.feeds ?? new Map<string, string>();
  const mailboxes = options.mailboxes !== undefined ? options.mailboxes : config.mailboxes ? new Set(namedMailboxes(config)) : null;
  const verifier = new ApiKeyVerifier(store, options.clock);
  const principals = new WeakMap<FastifyRequest, Principal>();
  const failures = new FailedAuthentications({ max: server.authFailureLimit, windowMs: server.authFailureWindowSeconds * 1000 }, clock);

  /**
   * Answers a request whose key did not authenticate: 401, or 429 with Retry-After once its address has failed
   * server.authFailureLimit times within the window. Every failure counts, the limited ones too.
   */
  const refuse = (request: FastifyRequest, reply: FastifyReply, result: Extract<Authentication, { ok: false }>) => {
    metrics.authFailures.inc({ reason: result.reason });
    const waitMs = failures.retryAfterMs(request.ip);
    failures.record(request.ip);
    if (waitMs > 0) {
      metrics.authLimited.inc();
      const seconds = Math.ceil(waitMs / 1000);
      return reply
        .code(429)
        .header('retry-after', String(seconds))
        .type('application/problem+json')
        .send(problem('too-many-requests', `too many failed authentications from this address; try again in ${seconds} s`));
    }
    const detail =
      result.reason === 'missing'
        ? 'send Authorization: Bearer <key>'
        : result.reason === 'malformed'
          ? 'the Authorization header must be "Bearer <key>"'
          : result.reason === 'revoked'
            ? 'the API key was revoked'
            : 'the API key is not valid';
    return reply
      .code(401)
      .header('www-authenticate', result.reason === 'missing' ? 'Bearer realm="calpush"' : 'Bearer realm="calpush", error="invalid_token"')
      .type('application/problem+json')
      .send(problem('unauthorized', detail));
  };

  const app = Fastify({
    // Requests are logged without their query string: the consent page's callback carries the authorization code.
    logger: options.logger ? { ...(typeof options.logger === 'object' ? options.logger : {}), serializers: { req: requestForLog } } : false,
    trustProxy: server.trustProxy,
    bodyLimit: server.bodyLimitBytes,
    routerOptions: { maxParamLength: 2048, ignoreTrailingSlash: true },
    // A URL the router cannot take (bad percent-encoding, a path parameter over 2048 characters) is authenticated
    // like any other request before it is answered, and the answer never repeats the URL.
    frameworkErrors: (error, rawRequest, rawReply) => {
      const request = rawRequest as unknown as FastifyRequest;
      const reply = rawReply as unknown as FastifyReply;
      void (async () => {
        const result = await verifier.verify(request.headers.authorization);
        if (!result.ok) return refuse(request, reply, result);
        const tooLong = error.code === 'FST_ERR_MAX_PARAM_LENGTH';
        const body = tooLong
          ? problem('uri-too-long', 'a path parameter is longer than 2048 characters')
          : problem('invalid-request', 'the URL path is not valid percent-encoding (RFC 3986)', { errors: [{ field: '(path)', message: 'is not valid percent-encoding' }] });
        return reply.code(body.status).type('application/problem+json').send(body);
      })().catch((failure: unknown) => {
        request.log.error({ err: failure }, 'request failed');
        void reply.code(500).type('application/problem+json').send(problem('internal-error'));
      });
    },
    clientErrorHandler,
    ...(options.https ? { https: options.https } : {}),
  }) as unknown as FastifyInstance;

  const table: Array<{ method: string; url: string; auth: RouteAuth }> = [];
  routeTables.set(app, table);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) table.push({ method, url: route.url, auth: ((route.config ?? {}) as { auth?: RouteAuth }).auth ?? 'read' });
  });

  app.addContentTypeParser(NDJSON_TYPES, { parseAs: 'string' }, (_request, body, done) => done(null, new NdjsonBody(body as string)));
  // fastify reads text/plain bodies as strings by default; no route takes one (415, as docs/api.md says).
  app.removeContentTypeParser('text/plain');

  // --- Calendars ---------------------------------------------------------------------------------------------
  const known = async (calendar: string) => (mailboxes ? mailboxes.has(calendar) : feeds.has(calendar) || store.hasCalendar(calendar));
  /** Why the calendar cannot be written through the API, or null. */
  const writeRefusal = (calendar: string): ProblemError | null => {
    if (mailboxes && !mailboxes.has(calendar)) return new ProblemError(problem('not-found', `${calendar} is not one of the calendars this deployment manages (the config's mailboxes)`));
    if (feeds.has(calendar)) return new ProblemError(problem('conflict', `${calendar} is fed by an iCalendar feed; its feed is its only source`));
    return null;
  };
  const requireKnown = async (calendar: string) => {
    if (!(await known(calendar))) throw new ProblemError(problem('not-found', `calpush does not know the calendar ${calendar}`));
  };
  const principalOf = (request: FastifyRequest) => principals.get(request)!;
  /** Tells the delivery loop of a change of `events` events (a few make it interactive: delivered first). */
  const nudge = (calendar: string, events = 1) => options.loop?.nudge(calendar, events);

  // --- Authentication, metrics, errors ----------------------------------------------------------------------
  app.addHook('onRequest', async (request, reply) => {
    const routeConfig = (request.routeOptions.config ?? {}) as { auth?: RouteAuth; calendarParam?: boolean; contentTypes?: string[] };
    const auth = routeConfig.auth ?? 'read';
    // The dashboard's routes ("session") check their own sessions (src/server/dashboard).
    if (auth === 'none' || auth === 'session' || (auth === 'docs' && server.publicDocs)) return;
    const result = await verifier.verify(request.headers.authorization);
    if (!result.ok) {
      refuse(request, reply, result);
      return reply;
    }
    const principal = result.principal;
    principals.set(request, principal);
    if (auth === 'admin' && principal.scope !== 'admin') {
      reply.code(403).header('www-authenticate', 'Bearer realm="calpush", error="insufficient_scope", scope="admin"').type('application/problem+json').send(problem('forbidden', 'this needs a key of the admin scope'));
      return reply;
    }
    const needed = auth === 'write' ? 'write' : 'read';
    if (!hasScope(principal, needed)) {
      reply
        .code(403)
        .header('www-authenticate', 'Bearer realm="calpush", error="insufficient_scope", scope="write"')
        .type('application/problem+json')
        .send(problem('forbidden', 'this API key is read-only'));
      return reply;
    }
    if (routeConfig.calendarParam) {
      const raw = (request.params as { calendar?: string }).calendar ?? '';
      if (!mayUseCalendar(principal, raw.trim())) {
        reply.code(403).type('application/problem+json').send(problem('forbidden', `this API key may not use the calendar ${raw}`));
        return reply;
      }
    }
    // The body's media type is checked before the body is read: NDJSON sent to the single-event PUT, or any type a
    // route does not take, is 415 with what the route does take.
    const mediaType = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
    if (routeConfig.contentTypes && hasBody(request) && mediaType && !acceptedMediaTypes(routeConfig.contentTypes).includes(mediaType)) {
      reply.code(415).type('application/problem+json').send(unsupportedMediaType(mediaType, routeConfig.contentTypes));
      return reply;
    }
  });

  app.addHook('onResponse', async (request, reply) => {
    metrics.httpRequests.inc({ method: request.method, route: request.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) });
  });

  app.setErrorHandler(async (error: Error & { statusCode?: number; code?: string }, request, reply) => {
    let body;
    if (error instanceof ProblemError) body = error.problem;
    else if (error.statusCode === 413) body = problem('payload-too-large', `the body is larger than this route accepts (${request.routeOptions.bodyLimit ?? server.bodyLimitBytes} bytes)`);
    else if (error.statusCode === 415) {
      const contentTypes = ((request.routeOptions.config ?? {}) as { contentTypes?: string[] }).contentTypes;
      body = unsupportedMediaType((request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(), contentTypes);
    }
    else if (error.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || error.code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || error instanceof SyntaxError) {
      body = problem('invalid-json', error.message, { errors: [{ field: '(body)', message: `is not valid JSON: ${error.message}` }] });
    } else if (error.statusCode && error.statusCode >= 400 && error.statusCode < 500) {
      // e.g. a "__proto__" key, refused by fastify's JSON parser: the document as a whole is not accepted.
      body = problem('invalid-request', error.message, { errors: [{ field: '(body)', message: error.message }] });
    }
    else {
      request.log.error({ err: error }, 'request failed');
      body = problem('internal-error', 'the request failed inside calpush; nothing was partly applied');
    }
    return reply.code(body.status).type('application/problem+json').send({ ...body, instance: request.url.split('?')[0] });
  });

  app.setNotFoundHandler(async (request, reply) => reply.code(404).type('application/problem+json').send(problem('not-found', `no route ${request.method} ${request.url.split('?')[0]}`)));

  // --- Routes ------------------------------------------------------------------------------------------------
  const routes: RouteSpec[] = [];
  const route = (spec: RouteSpec) => routes.push(spec);
  const problemResponses = (...statuses: number[]) => Object.fromEntries(statuses.map((s) => [s, { description: DESCRIPTIONS[s] ?? 'Problem' }]));
  const DESCRIPTIONS: Record<number, string> = {
    400: 'Invalid request: `errors` names each bad field',
    404: 'Unknown calendar or event',
    409: 'The calendar is fed by an iCalendar feed, or the replacement would remove everything',
    413: 'The body is too large',
    415: 'Unsupported Content-Type',
  };

  route({
    method: 'PUT',
    url: '/v1/calendars/:calendar/events/:eventId',
    operationId: 'putEvent',
    summary: 'Create or replace one event',
    description: 'The other events of the calendar stay as they are. Answers 202 once the event is recorded; delivery follows.',
    tag: 'events',
    auth: 'write',
    calendarParam: true,
    bodyLimit: 'single',
    params: eventParamsSchema,
    body: { schema: eventBodySchema, contentTypes: ['application/json'] },
    responses: {
      202: { description: 'Recorded; GET the status URL (also in Location) for the delivery status', schema: acceptedSchema, headers: { Location: 'The status URL' } },
      ...problemResponses(400, 404, 409, 413, 415),
    },
    handler: async (request, reply) => {
      const params = parseWith(eventParamsSchema, request.params, 'path');
      const body = request.body;
      if (!isPlainObject(body)) throw invalid('the body must be a JSON object (the event)', [{ field: '(body)', message: 'must be a JSON object' }]);
      const errors: FieldError[] = [];
      const calendar = params.calendar.trim().toLowerCase();
      if (body.calendar !== undefined && (typeof body.calendar !== 'string' || body.calendar.trim().toLowerCase() !== calendar)) {
        errors.push({ field: 'calendar', pointer: '/calendar', message: 'must be left out or be the calendar of the URL' });
      }
      if (body.id !== undefined && body.id !== params.eventId) errors.push({ field: 'id', pointer: '/id', message: 'must be left out or be the event id of the URL' });
      const validation = validateEvent({ ...body, calendar: params.calendar, id: params.eventId });
      if (!validation.ok) errors.push(...fieldErrors(validation.problems, ['calendar', 'id']));
      if (errors.length) throw invalid('the event is invalid; nothing was changed', errors);
      if (!validation.ok) throw new Error('unreachable');
      const desired = validation.desired;
      const refusal = writeRefusal(desired.event.calendar);
      if (refusal) throw refusal;
      const [result] = await store.applyDesiredOps([{ kind: 'upsert', desired }]);
      if (result !== 'unchanged') nudge(desired.event.calendar);
      const url = statusUrl(desired.event.calendar, desired.event.id);
      return reply.code(202).header('location', url).send({ calendar: desired.event.calendar, id: desired.event.id, result, statusUrl: url });
    },
  });

  route({
    method: 'DELETE',
    url: '/v1/calendars/:calendar/events/:eventId',
    operationId: 'deleteEvent',
    summary: 'Remove one event',
    description:
      'Removes the event from the desired state; its item in the calendar is deleted by the delivery. Deleting an event that is not there is not an error (result "absent"), so that a retried delete succeeds.',
    tag: 'events',
    auth: 'write',
    calendarParam: true,
    params: eventParamsSchema,
    responses: { 202: { description: 'Recorded', schema: acceptedSchema, headers: { Location: 'The status URL' } }, ...problemResponses(400, 404, 409) },
    handler: async (request, reply) => {
      const params = parseWith(eventParamsSchema, request.params, 'path');
      const calendar = calendarFromPath(params.calendar);
      if (!params.eventId || params.eventId.length > 512) throw invalid('invalid path parameter', [{ field: 'eventId', message: 'must be 1 to 512 characters' }]);
      await requireKnown(calendar);
      const refusal = writeRefusal(calendar);
      if (refusal) throw refusal;
      const [result] = await store.applyDesiredOps([{ kind: 'remove', calendar, key: eventKey(calendar, params.eventId) }]);
      if (result === 'removed') nudge(calendar);
      const url = statusUrl(calendar, params.eventId);
      return reply.code(202).header('location', url).send({ calendar, id: params.eventId, result, statusUrl: url });
    },
  });

  route({
    method: 'GET',
    url: '/v1/calendars/:calendar/events/:eventId',
    operationId: 'getEvent',
    summary: 'One event: what is wanted and its delivery status',
    tag: 'events',
    auth: 'read',
    calendarParam: true,
    params: eventParamsSchema,
    responses: { 200: { description: 'The event and its delivery status', schema: eventStatusSchema }, ...problemResponses(400, 404) },
    handler: async (request) => {
      const params = parseWith(eventParamsSchema, request.params, 'path');
      const calendar = calendarFromPath(params.calendar);
      await requireKnown(calendar);
      const status = eventStatus(calendar, params.eventId, await store.eventState(calendar, eventKey(calendar, params.eventId)));
      if (!status) throw new ProblemError(problem('not-found', `${calendar} has no event "${params.eventId}"`));
      return status;
    },
  });

  route({
    method: 'PUT',
    url: '/v1/calendars/:calendar/events',
    operationId: 'replaceEvents',
    summary: 'Replace the calendar’s complete set of events',
    description:
      'The body is the complete desired state of the calendar (a timetable): events not in it are removed. Items are checked one by one: ' +
      'by default the valid ones are applied and an invalid item keeps whatever was delivered for its id; with atomic=true one invalid item rejects the request. ' +
      'An empty set is refused (409) unless allowEmpty=true. An id given twice is rejected (both items). ' +
      'An event that has ended and is absent from the body stays, or is removed once it ended more than afterDays ago (the config\'s retention). ' +
      'With dryRun=true nothing is recorded: the answer (200) says what would change and what a delivery would create, update and delete.',
    tag: 'calendars',
    auth: 'write',
    calendarParam: true,
    bodyLimit: 'bulk',
    params: calendarParamsSchema,
    query: replaceQuerySchema,
    body: {
      schema: calendarEventSchema.array(),
      contentTypes: ['application/json', 'application/x-ndjson'],
      description: `A JSON array of events (or {"events": [...]}), or NDJSON with one event per line; at most ${server.replaceMaxEvents} events`,
    },
    responses: {
      200: { description: 'dryRun=true: nothing recorded; what would change', schema: replaceResultSchema },
      202: { description: 'Recorded', schema: replaceResultSchema, headers: { Location: 'The calendar status URL' } },
      ...problemResponses(400, 404, 409, 413, 415),
    },
    handler: async (request, reply) => {
      const params = parseWith(calendarParamsSchema, request.params, 'path');
      const query = parseWith(replaceQuerySchema, request.query, 'query');
      const calendar = calendarFromPath(params.calendar);
      const refusal = writeRefusal(calendar);
      if (refusal) throw refusal;
      const items = bulkItems(request.body, 'events');
      if (items.length > server.replaceMaxEvents) throw new ProblemError(problem('payload-too-large', `${items.length} events; at most ${server.replaceMaxEvents} are accepted (server.replaceMaxEvents)`));
      const errors: Array<z.infer<typeof replaceResultSchema>['errors'][number]> = [];
      const warnings: typeof errors = [];
      const rejected = new Set<number>();
      const held: HeldEvent[] = [];
      const valid: Array<{ item: number; desired: DesiredEvent }> = [];
      for (const entry of items) {
        if ('error' in entry) {
          errors.push({ item: entry.item, field: '(item)', message: entry.error });
          rejected.add(entry.item);
          continue;
        }
        const value = entry.value;
        if (!isPlainObject(value)) {
          errors.push({ item: entry.item, field: '(item)', message: 'must be a JSON object (an event)' });
          rejected.add(entry.item);
          continue;
        }
        const id = typeof value.id === 'string' ? value.id : undefined;
        if (value.calendar !== undefined && (typeof value.calendar !== 'string' || value.calendar.trim().toLowerCase() !== calendar)) {
          errors.push({ item: entry.item, ...(id ? { id } : {}), field: 'calendar', pointer: '/calendar', message: 'must be left out or be the calendar of the URL' });
          rejected.add(entry.item);
          if (id) held.push({ calendar, key: eventKey(calendar, id) });
          continue;
        }
        const result = validateRecord(`item ${entry.item}`, { ...value, calendar });
        if (!result.ok) {
          for (const e of fieldErrors(result.errors.map((r) => ({ field: r.field, message: r.message })))) errors.push({ item: entry.item, ...(id ? { id } : {}), ...e });
          rejected.add(entry.item);
          if (result.held) held.push(result.held);
          continue;
        }
        valid.push({ item: entry.item, desired: result.desired });
        for (const w of result.warnings) warnings.push({ item: entry.item, ...(id ? { id } : {}), field: w.field, message: w.message });
      }
      // An id given twice: neither item is applied, and what was delivered for it stays.
      const byKey = new Map<string, number[]>();
      for (const v of valid) byKey.set(v.desired.key, [...(byKey.get(v.desired.key) ?? []), v.item]);
      const staged = valid.filter((v) => {
        const places = byKey.get(v.desired.key)!;
        if (places.length === 1) return true;
        errors.push({ item: v.item, id: v.desired.event.id, field: 'id', pointer: '/id', message: `id "${v.desired.event.id}" is given more than once (items ${places.join(', ')}); none of them was applied` });
        rejected.add(v.item);
        held.push({ calendar, key: v.desired.key });
        return false;
      });
      errors.sort((a, b) => a.item - b.item);
      if (query.atomic && errors.length) throw invalid(`${rejected.size} of ${items.length} events are invalid; nothing was changed (atomic=true)`, errors.map(itemFieldError));
      if (!staged.length && errors.length) throw invalid(`none of the ${items.length} events is valid; nothing was changed`, errors.map(itemFieldError));
      const importer = await store.beginDesiredImport();
      const finish = { calendars: [calendar], refuseEmpty: !query.allowEmpty, source: 'api' as const, retention: retentionRule(config, clock.now()) };
      let result;
      let plan: MailboxPreview | undefined;
      try {
        await importer.add(staged.map((v) => ({ desired: v.desired, record: `item ${v.item}` })));
        await importer.hold(held);
        if (query.dryRun) {
          // The same replacement, rolled back; the plan is made against what the store recorded as delivered (the
          // API does not reach the target: a calendar never listed says so in `basis`).
          result = await importer.preview(finish, (view) => {
            const basis = view.mailbox.inventoriedAt ? 'store' : 'not-listed';
            plan = previewMailbox({ instance: config.instance, calendar: view.calendar, desired: view.desired(), delivered: view.delivered(), generations: view.generations(), removedIds: view.removedIds(), basis });
          });
          await importer.abort();
        } else result = await importer.finish(finish);
      } catch (error) {
        await importer.abort();
        if (error instanceof EmptyInputRefused) {
          throw new ProblemError(problem('conflict', `an empty set would remove all ${error.existing} events of ${calendar}; nothing was changed. Send allowEmpty=true if that is wanted.`));
        }
        throw error;
      }
      const url = statusUrl(calendar);
      const answer = {
        calendar,
        accepted: result.applied,
        rejected: rejected.size,
        added: result.added,
        changed: result.changed,
        removed: result.removed,
        unchanged: result.unchanged,
        kept: result.kept,
        errors,
        warnings,
        statusUrl: url,
      };
      if (query.dryRun) return reply.code(200).send({ ...answer, dryRun: true, ...(plan ? { plan } : {}) });
      if (result.added + result.changed + result.removed > 0) nudge(calendar, result.added + result.changed + result.removed);
      return reply.code(202).header('location', url).send(answer);
    },
  });

  route({
    method: 'POST',
    url: '/v1/events/batch',
    operationId: 'batch',
    summary: 'Upsert and delete many events, in any calendars',
    description:
      `At most ${server.batchMaxItems} items. Items are applied in order in one transaction (a later item on the same event wins). ` +
      'Each item is all or nothing; by default the valid items are applied and each invalid one is answered in `items`. With atomic=true one invalid item rejects the whole batch. ' +
      'A batch in which no item is valid is answered 400.',
    tag: 'events',
    auth: 'write',
    bodyLimit: 'bulk',
    query: batchQuerySchema,
    body: {
      schema: batchItemSchema.array(),
      contentTypes: ['application/json', 'application/x-ndjson'],
      description: 'A JSON array of items (or {"items": [...]}), or NDJSON with one item per line',
    },
    responses: { 202: { description: 'Applied; a result per item', schema: batchResultSchema }, ...problemResponses(400, 413, 415) },
    handler: async (request, reply) => {
      const query = parseWith(batchQuerySchema, request.query, 'query');
      const principal = principalOf(request);
      const items = bulkItems(request.body, 'items');
      if (!items.length) throw invalid('the batch has no item', [{ field: '(body)', message: 'is empty' }]);
      if (items.length > server.batchMaxItems) throw new ProblemError(problem('payload-too-large', `${items.length} items; at most ${server.batchMaxItems} are accepted (server.batchMaxItems)`));
      const knownCache = new Map<string, boolean>();
      const isKnown = async (calendar: string) => {
        if (!knownCache.has(calendar)) knownCache.set(calendar, await known(calendar));
        return knownCache.get(calendar)!;
      };
      const results: BatchItemResult[] = [];
      const ops: Array<{ index: number; op: DesiredOp }> = [];
      for (const entry of items) {
        if ('error' in entry) {
          results.push({ item: entry.item, status: 400, errors: [{ field: '(item)', message: entry.error }] });
          continue;
        }
        const value = entry.value;
        if (!isPlainObject(value)) {
          results.push({ item: entry.item, status: 400, errors: [{ field: '(item)', message: 'must be a JSON object' }] });
          continue;
        }
        const { op = 'upsert', ...record } = value;
        const base = { item: entry.item, ...(typeof record.calendar === 'string' ? { calendar: record.calendar.trim().toLowerCase() } : {}), ...(typeof record.id === 'string' ? { id: record.id } : {}) };
        if (op !== 'upsert' && op !== 'delete') {
          results.push({ ...base, status: 400, errors: [{ field: 'op', pointer: '/op', message: 'must be "upsert" or "delete"' }] });
          continue;
        }
        let desired: DesiredEvent | null = null;
        if (op === 'upsert') {
          const validation = validateEvent(record);
          if (!validation.ok) {
            results.push({ ...base, op, status: 400, errors: fieldErrors(validation.problems) });
            continue;
          }
          desired = validation.desired;
        } else {
          const problems: FieldError[] = [];
          if (typeof record.calendar !== 'string' || !ADDRESS.test(record.calendar.trim())) problems.push({ field: 'calendar', pointer: '/calendar', message: 'must be a mailbox address' });
          if (typeof record.id !== 'string' || !record.id || record.id.length > 512) problems.push({ field: 'id', pointer: '/id', message: 'must be a string of 1 to 512 characters' });
          const extra = Object.keys(record).filter((k) => k !== 'calendar' && k !== 'id');
          if (extra.length) problems.push({ field: extra[0]!, pointer: `/${extra[0]}`, message: 'a delete takes only calendar and id' });
          if (problems.length) {
            results.push({ ...base, op, status: 400, errors: problems });
            continue;
          }
        }
        const calendar = desired ? desired.event.calendar : (record.calendar as string).trim().toLowerCase();
        const id = desired ? desired.event.id : (record.id as string);
        if (!mayUseCalendar(principal, calendar)) {
          results.push({ ...base, op, calendar, id, status: 403, errors: [{ field: 'calendar', pointer: '/calendar', message: 'this API key may not use this calendar' }] });
          continue;
        }
        const refusal = writeRefusal(calendar) ?? (op === 'delete' && !(await isKnown(calendar)) ? new ProblemError(problem('not-found', `calpush does not know the calendar ${calendar}`)) : null);
        if (refusal) {
          results.push({ ...base, op, calendar, id, status: refusal.problem.status, errors: [{ field: 'calendar', pointer: '/calendar', message: refusal.problem.detail ?? refusal.problem.title }] });
          continue;
        }
        if (desired) knownCache.set(calendar, true);
        results.push({ ...base, op, calendar, id, status: 202, statusUrl: statusUrl(calendar, id) });
        ops.push({ index: results.length - 1, op: desired ? { kind: 'upsert', desired } : { kind: 'remove', calendar, key: eventKey(calendar, id) } });
      }
      const rejected = results.filter((r) => r.status !== 202).length;
      const itemErrors = results.filter((r) => r.status !== 202);
      if (query.atomic && rejected) {
        throw new ProblemError(problem('invalid-request', `${rejected} of ${items.length} items cannot be applied; nothing was changed (atomic=true)`, { errors: itemErrors.flatMap(batchFieldErrors), items: itemErrors }));
      }
      if (!ops.length) throw new ProblemError(problem('invalid-request', `none of the ${items.length} items can be applied; nothing was changed`, { errors: itemErrors.flatMap(batchFieldErrors), items: itemErrors }));
      const outcomes = await store.applyDesiredOps(ops.map((o) => o.op));
      const changed = new Map<string, number>();
      ops.forEach((o, n) => {
        const outcome = outcomes[n]!;
        results[o.index]!.result = outcome;
        if (outcome === 'unchanged' || outcome === 'absent') return;
        const calendar = o.op.kind === 'upsert' ? o.op.desired.event.calendar : o.op.calendar;
        changed.set(calendar, (changed.get(calendar) ?? 0) + 1);
      });
      for (const [calendar, events] of changed) nudge(calendar, events);
      return reply.code(202).send({ applied: ops.length, rejected, items: results });
    },
  });

  route({
    method: 'GET',
    url: '/v1/calendars',
    operationId: 'listCalendars',
    summary: 'The calendars calpush knows (those the key may use)',
    tag: 'calendars',
    auth: 'read',
    responses: { 200: { description: 'The calendars', schema: calendarListSchema } },
    handler: async (request) => {
      const principal = principalOf(request);
      const rows = new Map((await store.mailboxes()).map((m) => [m.calendar, m]));
      const counts = await store.desiredCounts();
      const all = new Set([...(await store.calendars()), ...(mailboxes ?? [])]);
      const calendars = [...all]
        .filter((c) => (!mailboxes || mailboxes.has(c)) && mayUseCalendar(principal, c))
        .sort()
        .map((calendar) => {
          const m = rows.get(calendar);
          return { calendar, state: m?.state ?? 'pending', desired: counts.get(calendar) ?? 0, upToDate: !!m && m.state === 'ok' && m.deliveredVersion >= m.desiredVersion };
        });
      return { calendars };
    },
  });

  route({
    method: 'GET',
    url: '/v1/calendars/:calendar',
    operationId: 'getCalendar',
    summary: 'Delivery status of one calendar',
    tag: 'calendars',
    auth: 'read',
    calendarParam: true,
    params: calendarParamsSchema,
    responses: { 200: { description: 'The calendar’s status', schema: calendarStatusSchema }, ...problemResponses(400, 404) },
    handler: async (request) => {
      const params = parseWith(calendarParamsSchema, request.params, 'path');
      const calendar = calendarFromPath(params.calendar);
      await requireKnown(calendar);
      const mailbox = await store.mailbox(calendar);
      const counts = await store.calendarCounts(calendar);
      const feedUrl = feeds.get(calendar);
      const feed = feedUrl ? await store.feedState(calendar) : null;
      const status: CalendarStatus = {
        calendar,
        state: mailbox?.state ?? 'pending',
        upToDate: !!mailbox && mailbox.state === 'ok' && mailbox.deliveredVersion >= mailbox.desiredVersion && counts.pending === 0,
        desired: counts.desired,
        delivered: counts.delivered,
        pending: counts.pending,
        failedEvents: counts.failedOps,
        lastSyncAt: mailbox?.lastSyncAt ?? null,
        lastError: mailbox?.lastError ? { code: mailbox.lastErrorCode, message: mailbox.lastError } : null,
        source: feedUrl ? 'feed' : 'api',
        ...(feedUrl
          ? {
              feed: {
                url: redactUrl(feedUrl),
                lastFetchAt: feed?.lastFetchAt ?? null,
                lastOutcome: feed?.lastOutcome ?? null,
                lastError: feed?.lastError ?? null,
                lastChangeAt: feed?.lastChangeAt ?? null,
                consecutiveEmpty: feed?.consecutiveEmpty ?? 0,
              },
            }
          : {}),
      };
      return status;
    },
  });

  route({
    method: 'GET',
    url: '/v1/health',
    operationId: 'health',
    summary: 'Liveness and delivery state (no key needed)',
    tag: 'operations',
    auth: 'none',
    responses: { 200: { description: 'Serving', schema: healthSchema }, 503: { description: 'Shutting down or the store is unusable', schema: healthSchema, contentType: 'application/json' } },
    handler: async (_request, reply) => {
      let storeOk = true;
      try {
        await store.hasCalendar('health@check.invalid');
      } catch {
        storeOk = false;
      }
      const delivery = options.loop?.status() ?? { state: 'stopped' as const, delivering: [], fatal: null, lastRunAt: null };
      const stopping = options.stopping?.() ?? false;
      const health: Health = {
        status: stopping ? 'stopping' : !storeOk || delivery.fatal ? 'degraded' : 'ok',
        version: API_VERSION,
        store: storeOk ? 'ok' : 'error',
        delivery: { state: delivery.state, delivering: delivery.delivering.length, fatal: delivery.fatal, lastRunAt: delivery.lastRunAt },
        feeds: feeds.size,
      };
      return reply.code(stopping || !storeOk ? 503 : 200).send(health);
    },
  });

  route({
    method: 'GET',
    url: '/metrics',
    operationId: 'metrics',
    summary: 'Prometheus metrics (no key needed)',
    tag: 'operations',
    auth: 'none',
    responses: { 200: { description: 'Prometheus text format', contentType: 'text/plain' } },
    handler: async (_request, reply) => reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  });

  // --- Connections (delegated access) --------------------------------------------------------------------------
  const delegated = options.delegated;
  if (delegated) {
    const { connections, connectUrl } = delegated;
    const statusOf = (calendar: string, row: ConnectionRow | null) => ({
      calendar,
      state: row?.state ?? ('not-connected' as const),
      reason: row?.reason ?? null,
      message: row?.reasonMessage ?? null,
      username: row?.username ?? null,
      connectedAt: row?.connectedAt ?? null,
      changedAt: row?.changedAt ?? null,
      lastRefreshAt: row?.lastRefreshAt ?? null,
      connectUrl: connectUrl(calendar),
    });
    route({
      method: 'GET',
      url: '/v1/connections',
      operationId: 'listConnections',
      summary: 'The people’s connections of their calendars (delegated access)',
      tag: 'connections',
      auth: 'read',
      responses: { 200: { description: 'Every calendar that was ever connected (those the key may use)', schema: connectionListSchema } },
      handler: async (request) => ({ connections: (await connections.connections()).filter((c) => mayUseCalendar(principalOf(request), c.calendar)).map((c) => statusOf(c.calendar, c)) }),
    });
    route({
      method: 'GET',
      url: '/v1/connections/:calendar',
      operationId: 'getConnection',
      summary: 'Whether a calendar is connected, why not, and where its person connects (again)',
      tag: 'connections',
      auth: 'read',
      calendarParam: true,
      params: calendarParamsSchema,
      responses: { 200: { description: 'The connection', schema: connectionStatusSchema }, ...problemResponses(400) },
      handler: async (request) => {
        const calendar = calendarFromPath(parseWith(calendarParamsSchema, request.params, 'path').calendar);
        return statusOf(calendar, await connections.connection(calendar));
      },
    });
    route({
      method: 'DELETE',
      url: '/v1/connections/:calendar',
      operationId: 'disconnect',
      summary: 'Disconnect a calendar (admin): its tokens are deleted, delivery to it stops; nothing is deleted from the calendar',
      tag: 'connections',
      auth: 'admin',
      calendarParam: true,
      params: calendarParamsSchema,
      responses: { 200: { description: 'Disconnected', schema: connectionStatusSchema }, ...problemResponses(400, 404) },
      handler: async (request) => {
        const calendar = calendarFromPath(parseWith(calendarParamsSchema, request.params, 'path').calendar);
        if (!(await connections.disconnect(calendar, 'DisconnectedByAdmin', `disconnected by an administrator (key ${principalOf(request).keyId})`))) {
          throw new ProblemError(problem('not-found', `${calendar} is not connected`));
        }
        request.log.info({ calendar, keyId: principalOf(request).keyId }, 'connection: disconnected by an admin');
        return statusOf(calendar, await connections.connection(calendar));
      },
    });
  }

  let openApiDocument: Record<string, unknown> | null = null;
  const document = () =>
    (openApiDocument ??= buildOpenApi(routes, {
      version: API_VERSION,
      publicDocs: server.publicDocs,
      limits: { bodyLimitBytes: server.bodyLimitBytes, bulkBodyLimitBytes: server.bulkBodyLimitBytes, batchMaxItems: server.batchMaxItems, replaceMaxEvents: server.replaceMaxEvents },
    }));

  route({
    method: 'GET',
    url: '/openapi.json',
    operationId: 'openapi',
    summary: 'This contract (OpenAPI 3.1)',
    tag: 'operations',
    auth: 'docs',
    responses: { 200: { description: 'The OpenAPI document' } },
    handler: async () => document(),
  });

  route({
    method: 'GET',
    url: '/docs',
    operationId: 'docs',
    summary: 'This contract as a page',
    tag: 'operations',
    auth: 'docs',
    responses: { 200: { description: 'HTML', contentType: 'text/html' } },
    handler: async (_request, reply) => reply.type('text/html; charset=utf-8').send(renderDocsHtml(document())),
  });

  for (const spec of routes) {
    const options: RouteOptions = {
      method: spec.method,
      url: spec.url,
      config: { auth: spec.auth, calendarParam: spec.calendarParam ?? false, ...(spec.body ? { contentTypes: spec.body.contentTypes } : {}) },
      handler: spec.handler,
      ...(spec.bodyLimit === 'bulk' ? { bodyLimit: server.bulkBodyLimitBytes } : {}),
    };
    app.route(options);
  }
  if (options.notifications) await registerNotifications(app, options.notifications);
  if (delegated?.consent) {
    await registerConsent(app, {
      ...delegated.consent,
      store: delegated.connections,
      clock,
      mailboxes,
      knows: async (calendar) => (await store.hasCalendar(calendar)) || feeds.has(calendar),
    });
  }
  if (server.dashboard.enabled) {
    await registerDashboard(app, {
      store,
      config,
      server,
      feeds,
      loop: options.loop,
      scheduler: options.scheduler,
      failures,
      metrics,
      clock,
      openApi: document,
      ...(delegated ? { delegated: { connections: delegated.connections, connectUrl: delegated.connectUrl } } : {}),
    });
  }
  return app;
}

/** A request as the log shows it: method and path, never the query (codes, states) or headers (keys, cookies). */
function requestForLog(request: { method: string; url: string; ip?: string }): Record<string, string | undefined> {
  return { method: request.method, url: request.url.split('?')[0], remoteAddress: request.ip };
}

function unsupportedMediaType(mediaType: string, contentTypes: string[] | undefined) {
  const what = mediaType ? `a body of type ${mediaType}` : 'a body without Content-Type';
  if (!contentTypes) return problem('unsupported-media-type', `this route takes no body, not ${what}`);
  if (contentTypes.includes('application/x-ndjson')) {
    return problem('unsupported-media-type', `this route takes a JSON array or object (application/json) or NDJSON lines (application/x-ndjson), not ${what}`);
  }
  return problem('unsupported-media-type', `this route takes one JSON event (application/json), not ${what}; send many events as NDJSON to PUT /v1/calendars/{calendar}/events or POST /v1/events/batch`);
}

function itemFieldError(error: { item: number; field: string; pointer?: string; message: string }): FieldError {
  return { field: `item ${error.item}: ${error.field}`, ...(error.pointer ? { pointer: `/${error.item - 1}${error.pointer}` } : {}), message: error.message };
}

function batchFieldErrors(result: BatchItemResult): FieldError[] {
  return (result.errors ?? []).map((e) => ({ field: `item ${result.item}: ${e.field}`, ...(e.pointer ? { pointer: `/${result.item - 1}${e.pointer}` } : {}), message: e.message }));
}
