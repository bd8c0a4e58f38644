// GET /users/{id}/events/{id}/instances?startDateTime&endDateTime (also below /calendar):
// https://learn.microsoft.com/graph/api/event-list-instances — "the instances (occurrences) of an event for a
// specified time range. If the event is a seriesMaster type, this returns the occurrences and exceptions of the event
// in the specified time range." Both parameters are required (as for calendarView); $select and $top apply; pages
// through @odata.nextLink. A single instance has no instances here [VERIFY: Graph's answer for one is not documented].
import { calendarViewWindow } from './calendar-view.ts';
import { GraphHttpError, type GraphResult } from './errors.ts';
import { isSeriesMaster, occurrencesIn } from './occurrences.ts';
import { applySelect, DEFAULT_PAGE_SIZE, encodeSkipToken, MAX_PAGE_SIZE, parseEventQuery } from './odata.ts';
import type { GraphOperation, GraphService, Mailbox, UserResourceHandler } from './service.ts';

function isInstancesPath(lower: string[]): boolean {
  const path = lower[0] === 'calendar' ? lower.slice(1) : lower;
  return path.length === 3 && path[0] === 'events' && path[2] === 'instances';
}

export function instancesResource(service: GraphService): UserResourceHandler {
  return {
    matches: isInstancesPath,
    methods: ['GET'],
    roles: () => ['Calendars.Read', 'Calendars.ReadWrite', 'Calendars.ReadBasic.All'],
    handle: (op, mailbox, rest, prefer) => instances(service, op, mailbox, rest, prefer),
  };
}

function instances(service: GraphService, op: GraphOperation, mailbox: Mailbox, rest: string[], prefer: Map<string, string>): GraphResult {
  const path = rest[0]!.toLowerCase() === 'calendar' ? rest.slice(1) : rest;
  const master = service.store.get(mailbox.address, path[1]!);
  if (!master) throw new GraphHttpError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  const { start, end, startRaw, endRaw } = calendarViewWindow(op.query);
  const query = parseEventQuery(op.query, 'collection');
  const { options, applied } = service.renderOptions(prefer);
  const all = isSeriesMaster(master) ? occurrencesIn(master, start, end) : [];
  const maxPageSize = Number(prefer.get('odata.maxpagesize'));
  const pageSize = query.top ?? (Number.isInteger(maxPageSize) && maxPageSize > 0 ? Math.min(maxPageSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE);
  const page = all.slice(query.skip, query.skip + pageSize);
  const body: Record<string, unknown> = { '@odata.context': `${service.baseUrl()}/v1.0/$metadata#Collection(event)` };
  body['value'] = page.map((occurrence) => applySelect(service.store.render(occurrence, options), query.select));
  if (query.skip + pageSize < all.length && pageSize > 0) {
    const select = query.select ? `&$select=${encodeURIComponent(query.select.join(','))}` : '';
    const top = query.top !== undefined ? `&$top=${query.top}` : '';
    body['@odata.nextLink'] = `${service.baseUrl()}/v1.0/users/${encodeURIComponent(mailbox.address)}/${rest.join('/')}?startDateTime=${encodeURIComponent(startRaw)}&endDateTime=${encodeURIComponent(endRaw)}${select}${top}&$skiptoken=${encodeSkipToken(query.skip + pageSize)}`;
  }
  return service.ok(200, body, service.appliedHeader(applied));
}
