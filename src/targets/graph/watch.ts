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
// Ids as ImmutableId, like every other request of the target (https://learn.microsoft.com/graph/outlook-immutable-id),
// so that they match the ids calpush delivered.
import type { HttpResponse } from '../http.ts';
import { TargetError, WATCH_STATE_NOT_FOUND, type WatchCapability, type WatchChange, type WatchPage } from '../target.ts';
import type { GraphConnection } from './meetings.ts';

const WATCH_PREFER = 'IdType="ImmutableId", outlook.timezone="UTC", odata.maxpagesize=100';

interface DeltaEvent {
  id?: unknown;
  changeKey?: unknown;
  '@odata.etag'?: unknown;
  '@removed'?: unknown;
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
  constructor(graph: GraphConnection) {
    this.graph = graph;
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
