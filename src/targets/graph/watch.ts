// Watching a Graph calendar for what people did to our events (docs/drift.md): `GET /users/{m}/calendarView/delta`
// (https://learn.microsoft.com/graph/api/event-delta, https://learn.microsoft.com/graph/delta-query-events).
// - A round starts with startDateTime/endDateTime and follows @odata.nextLink until a page carries @odata.deltaLink,
//   kept as the sync state; the first round returns every event in the window, later rounds what was "added,
//   deleted, or updated" since.
// - Deleted events — and events moved out of the window — come as `@removed` with only their id ("Filter the
//   events under @removed for the date range that your scenario requires"): the watch reports a removal, and the
//   engine only acts on removals of our items whose start it knows to be in the window.
// - "You cannot use $select"; the tag (an extended property) cannot be expanded here, so the watch reports ids and
//   change keys, and the engine matches them against the items it delivered.
// - An expired token answers 410 Gone SyncStateNotFound ("older delta tokens are deleted",
//   https://learn.microsoft.com/graph/delta-query-overview): the next round starts from the window again.
// - So a new change key only says "look": edits() reads the changed items' managed fields, 20 to a JSON $batch
//   (https://learn.microsoft.com/graph/json-batching), and the engine counts an edit only where they differ from
//   what calpush wrote (model/managed.ts: a dismissed reminder is no edit).
// Ids as ImmutableId, like every other request of the target (https://learn.microsoft.com/graph/outlook-immutable-id),
// so that they match the ids calpush delivered.
import type { DesiredEvent } from '../../model/event.ts';
import { changedFields, plainText, writtenFields, type ManagedFields } from '../../model/managed.ts';
import type { HttpResponse } from '../http.ts';
import { TargetError, WATCH_READ_MAX, WATCH_STATE_NOT_FOUND, type WatchCapability, type WatchChange, type WatchPage } from '../target.ts';
import { classifyGraphError } from './errors.ts';
import type { GraphConnection } from './meetings.ts';

const WATCH_PREFER = 'IdType="ImmutableId", outlook.timezone="UTC", odata.maxpagesize=100';

interface DeltaEvent {
  id?: unknown;
  changeKey?: unknown;
  '@odata.etag'?: unknown;
  '@removed'?: unknown;
}

/** The managed fields (model/managed.ts) as an event's properties; times in UTC ("Prefer: outlook.timezone"). */
const MANAGED_SELECT = 'subject,body,start,end,isAllDay,location,showAs,sensitivity';
const READ_PREFER = 'IdType="ImmutableId", outlook.timezone="UTC"';

interface ManagedEvent {
  subject?: string;
  body?: { contentType?: string; content?: string };
  start?: { dateTime?: string; timeZone?: string };
  end?: { dateTime?: string; timeZone?: string };
  isAllDay?: boolean;
  location?: { displayName?: string };
  showAs?: string;
  sensitivity?: string;
}

/** A Graph dateTimeTimeZone asked for in UTC as an instant; anything else is NaN (differs: counted as an edit). */
function utcInstant(value: { dateTime?: string; timeZone?: string } | undefined): number {
  if (!value?.dateTime || value.timeZone !== 'UTC') return Number.NaN;
  return Date.parse(`${value.dateTime.replace(/(\.\d{3})\d*$/, '$1')}Z`);
}

/** The managed fields of an event as Graph answered it. */
export function graphManagedFields(event: ManagedEvent): ManagedFields {
  return {
    subject: event.subject ?? '',
    body: plainText(event.body?.content ?? '', event.body?.contentType?.toLowerCase() === 'html' ? 'html' : 'text'),
    start: utcInstant(event.start),
    end: utcInstant(event.end),
    allDay: event.isAllDay === true,
    location: event.location?.displayName ?? '',
    showAs: event.showAs ?? '',
    sensitivity: event.sensitivity ?? '',
  };
}

const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

/** The If-Match form calpush keeps (graph/target.ts etagOf): `@odata.etag`, else W/"<changeKey>". */
function etagOf(event: DeltaEvent): string | null {
  if (typeof event['@odata.etag'] === 'string') return event['@odata.etag'];
  return typeof event.changeKey === 'string' && event.changeKey ? `W/"${event.changeKey}"` : null;
}

/** The changes of one delta page; entries without a string id are not events and are skipped. */
export function deltaChanges(value: unknown): WatchChange[] {
  if (!Array.isArray(value)) return [];
  const changes: WatchChange[] = [];
  for (const entry of value as DeltaEvent[]) {
    if (!entry || typeof entry !== 'object' || typeof entry.id !== 'string' || !entry.id) continue;
    changes.push(entry['@removed'] !== undefined ? { kind: 'removed', itemId: entry.id } : { kind: 'changed', itemId: entry.id, changeKey: etagOf(entry) });
  }
  return changes;
}

export class GraphWatch implements WatchCapability {
  private readonly graph: GraphConnection;
  private readonly allDayTimeZone: string;
  constructor(graph: GraphConnection, allDayTimeZone: string) {
    this.graph = graph;
    this.allDayTimeZone = allDayTimeZone;
  }

  /** One $batch of GETs of the items' managed fields; a 404 leaves the item out, any other failure fails the read. */
  async edits(calendar: string, items: ReadonlyArray<{ itemId: string; desired: DesiredEvent }>): Promise<Map<string, string[]>> {
    const found = new Map<string, string[]>();
    if (!items.length) return found;
    if (items.length > WATCH_READ_MAX) throw new RangeError(`edits() reads at most ${WATCH_READ_MAX} items at once`);
    const events = `${this.graph.mailboxPath(calendar)}/events`;
    const requests = items.map((item, index) => ({ id: String(index + 1), method: 'GET', url: `${events}/${encodeURIComponent(item.itemId)}?$select=${MANAGED_SELECT}`, headers: { prefer: READ_PREFER } }));
    const response = await this.graph.send(calendar, 'POST', `${this.graph.base}/$batch`, { requests }, 'mailbox', {});
    const answers = new Map<string, { status: number; headers?: Record<string, string>; body?: unknown }>();
    for (const answer of (JSON.parse(response.body) as { responses?: Array<{ id: string; status: number; headers?: Record<string, string>; body?: unknown }> }).responses ?? []) answers.set(String(answer.id), answer);
    for (const [index, item] of items.entries()) {
      const answer = answers.get(String(index + 1));
      if (!answer) throw new TargetError('transient', 'MissingBatchResponse', 'the batch answer has no response for a read of a changed event');
      if (answer.status === 404) continue;
      if (answer.status >= 400) throw classifyGraphError({ status: answer.status, headers: lowerCased(answer.headers), body: JSON.stringify(answer.body ?? {}) }, 'item');
      const written = writtenFields(item.desired, this.allDayTimeZone, { showAs: item.desired.event.showAs, sensitivity: item.desired.event.sensitivity });
      found.set(item.itemId, changedFields(written, graphManagedFields((answer.body ?? {}) as ManagedEvent)));
    }
    return found;
  }

  async changes(calendar: string, state: string | null, window: { start: number; end: number }): Promise<WatchPage> {
    const url = state ?? `${this.graph.base}${this.graph.mailboxPath(calendar)}/calendarView/delta?startDateTime=${iso(window.start)}&endDateTime=${iso(window.end)}`;
    let response: HttpResponse;
    try {
      response = await this.graph.send(calendar, 'GET', url, undefined, 'mailbox', { prefer: WATCH_PREFER });
    } catch (error) {
      if (error instanceof TargetError && error.status === 410) throw new TargetError('item', WATCH_STATE_NOT_FOUND, `Graph no longer knows the delta token of ${calendar}: ${error.message}`, { status: 410 });
      throw error;
    }
    let page: { value?: unknown; '@odata.nextLink'?: unknown; '@odata.deltaLink'?: unknown };
    try {
      page = JSON.parse(response.body) as typeof page;
    } catch (error) {
      throw new TargetError('transient', 'UnreadableAnswer', 'a calendarView delta page is not JSON', { cause: error });
    }
    const next = typeof page['@odata.nextLink'] === 'string' ? page['@odata.nextLink'] : undefined;
    const delta = typeof page['@odata.deltaLink'] === 'string' ? page['@odata.deltaLink'] : undefined;
    if (!next && !delta) throw new TargetError('transient', 'NoDeltaLink', 'a calendarView delta page carries neither @odata.nextLink nor @odata.deltaLink');
    return { changes: deltaChanges(page.value), state: (next ?? delta)!, more: Boolean(next) };
  }
}

function lowerCased(headers: Record<string, string> | undefined): Record<string, string> {
  return Object.fromEntries(Object.entries(headers ?? {}).map(([name, value]) => [name.toLowerCase(), String(value)]));
}
