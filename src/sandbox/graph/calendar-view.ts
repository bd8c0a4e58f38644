// The time window of GET /calendarView and of its delta (https://learn.microsoft.com/graph/api/user-list-calendarview,
// https://learn.microsoft.com/graph/api/event-delta): both take startDateTime and endDateTime, read with the offset in
// the value (no offset ⇒ UTC) and not affected by Prefer: outlook.timezone.
import { GraphHttpError } from './errors.ts';

/** 1825 days: the longest window Graph answers. */
const MAX_WINDOW_MS = 1825 * 24 * 60 * 60 * 1000;

export interface CalendarViewWindow {
  start: number;
  end: number;
  /** The parameters as the caller wrote them, for the next link. */
  startRaw: string;
  endRaw: string;
}

/** The window a request asks for, or the error Graph answers when it is missing, malformed or too long. */
export function calendarViewWindow(query: URLSearchParams): CalendarViewWindow {
  const get = (name: string) => [...query.entries()].find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1];
  const startRaw = get('startDateTime');
  const endRaw = get('endDateTime');
  if (!startRaw || !endRaw) {
    // https://github.com/microsoftgraph/microsoft-graph-docs-contrib/issues/4342 (protocol notes A1)
    throw new GraphHttpError(400, 'ErrorInvalidParameter', 'This request requires a time window specified by the query string parameters StartDateTime and EndDateTime.');
  }
  const parse = (raw: string) => Date.parse(/(Z|[+-]\d{2}:?\d{2})$/i.test(raw) ? raw : `${raw}Z`);
  const start = parse(startRaw);
  const end = parse(endRaw);
  if (Number.isNaN(start) || Number.isNaN(end)) {
    throw new GraphHttpError(400, 'ErrorInvalidParameter', `The value '${Number.isNaN(start) ? startRaw : endRaw}' of parameter '${Number.isNaN(start) ? 'StartDateTime' : 'EndDateTime'}' is invalid.`);
  }
  if (end - start > MAX_WINDOW_MS) {
    throw new GraphHttpError(400, 'ErrorInvalidRequest', 'The range between the start and end dates is greater than the allowed range. Maximum number of days: 1825');
  }
  return { start, end, startRaw, endRaw };
}
