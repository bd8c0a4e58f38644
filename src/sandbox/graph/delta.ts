// GET /users/{id}/calendarView/delta (also /calendar/calendarView/delta): https://learn.microsoft.com/graph/api/event-delta
// and https://learn.microsoft.com/graph/delta-query-events.
// - A round starts with startDateTime/endDateTime and follows @odata.nextLink ($skiptoken) until a page carries
//   @odata.deltaLink ($deltatoken); the tokens "encode the startDateTime and endDateTime parameters" and are opaque.
// - The first round returns every event in the window; later rounds what was "added, deleted, or updated", with
//   deleted events — and events outside the window that were added, updated or deleted — as `@removed` with reason
//   `deleted` ("Filter the events under @removed for the date range that your scenario requires").
// - A series comes as its occurrences, never as its master (occurrences.ts).
// - The properties are those of GET /calendarView; "You cannot use $select"; $expand, $filter, $orderby and $search
//   are not supported. Page size: Prefer odata.maxpagesize; time zone: Prefer outlook.timezone, "UTC assumed".
// - An unknown or expired token answers 410 Gone SyncStateNotFound (protocol notes A1, quoting
//   https://learn.microsoft.com/graph/delta-query-overview: "older delta tokens are deleted"); SandboxFaults.expireSyncStates
//   expires every token issued so far.
import { calendarViewWindow } from './calendar-view.ts';
import { GraphHttpError, type GraphResult } from './errors.ts';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE } from './odata.ts';
import { isSeriesMaster, occurrencesIn } from './occurrences.ts';
import { EventStore } from './store.ts';
import type { GraphOperation, GraphService, Mailbox, UserResourceHandler } from './service.ts';


interface DeltaState {
  v: 1;
  /** ChangeLog generation the state belongs to */
  g: number;
  m: string;
  s: number;
  e: number;
  /** changes after this number are still to come in this round */
  c: number;
  /** the first round: only events in the window, no removals */
  i: boolean;
}

function isDeltaPath(lower: string[]): boolean {
  const path = lower[0] === 'calendar' ? lower.slice(1) : lower;
  return path.length === 2 && path[0] === 'calendarview' && path[1] === 'delta';
}

export function deltaResource(service: GraphService): UserResourceHandler {
  return {
    matches: isDeltaPath,
    methods: ['GET'],
    roles: () => ['Calendars.Read', 'Calendars.ReadWrite', 'Calendars.ReadBasic.All'],
    handle: (op, mailbox, rest, prefer) => delta(service, op, mailbox, rest, prefer),
  };
}

function encode(state: DeltaState): string {
  return Buffer.from(JSON.stringify(state)).toString('base64url');
}

function decode(service: GraphService, token: string, mailbox: Mailbox): DeltaState {
  let state: DeltaState | undefined;
  try {
    state = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as DeltaState;
  } catch {
    state = undefined;
  }
  const wellFormed = state && state.v === 1 && typeof state.g === 'number' && typeof state.c === 'number' && typeof state.s === 'number' && typeof state.e === 'number';
  // A token of another mailbox, an older generation or no token at all: the state is not found.
  if (!wellFormed || state!.m !== mailbox.address || state!.g !== service.changes.generation) {
    throw new GraphHttpError(410, 'SyncStateNotFound', 'The sync state generation is not found. Start a new round of synchronization without a token.');
  }
  return state!;
}

function startState(service: GraphService, op: GraphOperation, mailbox: Mailbox): DeltaState {
  const { start, end } = calendarViewWindow(op.query);
  return { v: 1, g: service.changes.generation, m: mailbox.address, s: start, e: end, c: 0, i: true };
}

function readState(service: GraphService, op: GraphOperation, mailbox: Mailbox): DeltaState {
  let token: string | undefined;
  for (const [rawName, value] of op.query) {
    const name = rawName.toLowerCase();
    if (name === '$deltatoken' || name === '$skiptoken') token = value;
    else if (name.startsWith('$')) throw new GraphHttpError(400, 'BadRequest', `The query parameter '${rawName}' is not supported.`);
  }
  return token === undefined ? startState(service, op, mailbox) : decode(service, token, mailbox);
}

function inWindow(service: GraphService, mailbox: Mailbox, id: string, state: DeltaState): boolean {
  const record = service.store.get(mailbox.address, id);
  if (!record) return false;
  // Overlapping the window, as calendarView counts it (graph/service.ts); a series by its occurrences.
  if (isSeriesMaster(record)) return occurrencesIn(record, state.s, state.e).length > 0;
  const i = EventStore.interval(record);
  return i.start < state.e && (i.end > state.s || (i.end === i.start && i.start >= state.s));
}

function delta(service: GraphService, op: GraphOperation, mailbox: Mailbox, rest: string[], prefer: Map<string, string>): GraphResult {
  const state = readState(service, op, mailbox);
  const { options, applied } = service.renderOptions(prefer);
  const maxPageSize = Number(prefer.get('odata.maxpagesize'));
  const pageSize = Number.isInteger(maxPageSize) && maxPageSize > 0 ? Math.min(maxPageSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE;
  if (Number.isInteger(maxPageSize) && maxPageSize > 0) applied.push(`odata.maxpagesize=${pageSize}`);
  const watermark = service.changes.current();
  let changed = service.changes.since(mailbox.address, 'calendar', state.c);
  if (state.i) changed = changed.filter((item) => !item.deleted && inWindow(service, mailbox, item.id, state));
  const page = changed.slice(0, pageSize);
  const value = page.flatMap((item) => {
    const record = !item.deleted ? service.store.get(mailbox.address, item.id) : undefined;
    // A changed series comes as its occurrences in the window, on the page of its change (so a page may hold more
    // than the page size); a deleted series as its master's id removed.
    if (record && isSeriesMaster(record)) return occurrencesIn(record, state.s, state.e).map((occurrence) => ({ '@odata.type': '#microsoft.graph.event', ...service.store.render(occurrence, options) }));
    if (record && inWindow(service, mailbox, item.id, state)) return [{ '@odata.type': '#microsoft.graph.event', ...service.store.render(record, options) }];
    return [{ '@odata.type': '#microsoft.graph.event', id: item.id, '@removed': { reason: 'deleted' } }];
  });
  const link = `${service.baseUrl()}/v1.0/users/${encodeURIComponent(mailbox.address)}/${rest.join('/')}`;
  const body: Record<string, unknown> = { '@odata.context': `${service.baseUrl()}/v1.0/$metadata#Collection(event)` };
  if (changed.length > page.length) body['@odata.nextLink'] = `${link}?$skiptoken=${encode({ ...state, c: page[page.length - 1]!.lastSeq })}`;
  else body['@odata.deltaLink'] = `${link}?$deltatoken=${encode({ ...state, c: watermark, i: false })}`;
  body['value'] = value;
  return service.ok(200, body, service.appliedHeader(applied));
}
