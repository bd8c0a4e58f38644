// OData system query options for the event endpoints: $select, $top, $skip, $skiptoken, $orderby, $filter,
// $expand=singleValueExtendedProperties($filter=…), $count. (https://learn.microsoft.com/graph/query-parameters)
import { GraphHttpError, badRequest } from './errors.ts';
import { FilterSemanticError, FilterSyntaxError, parseFilter, validateFilter, type FilterNode } from './filter.ts';

export interface OrderKey {
  path: string[];
  descending: boolean;
}

export interface EventQuery {
  select?: string[];
  top?: number;
  skip: number;
  filter?: FilterNode;
  orderBy: OrderKey[];
  /** $expand=singleValueExtendedProperties($filter=…): the inner filter over {id, value} */
  expandExtended?: FilterNode;
  count: boolean;
}

/** Default and maximum page size for Outlook event collections. */
export const DEFAULT_PAGE_SIZE = 10;
export const MAX_PAGE_SIZE = 1000;

/** Top-level properties of microsoft.graph.event (the v1.0 CSDL, schema/graph-v1.json) + outlookItem/entity. */
export const EVENT_PROPERTIES = [
  'id', 'categories', 'changeKey', 'createdDateTime', 'lastModifiedDateTime', 'allowNewTimeProposals', 'attendees', 'body', 'bodyPreview',
  'cancelledOccurrences', 'end', 'hasAttachments', 'hideAttendees', 'iCalUId', 'importance', 'isAllDay', 'isCancelled', 'isDraft',
  'isOnlineMeeting', 'isOrganizer', 'isReminderOn', 'location', 'locations', 'onlineMeeting', 'onlineMeetingProvider', 'onlineMeetingUrl',
  'organizer', 'originalEndTimeZone', 'originalStart', 'originalStartTimeZone', 'recurrence', 'reminderMinutesBeforeStart',
  'responseRequested', 'responseStatus', 'sensitivity', 'seriesMasterId', 'showAs', 'start', 'subject', 'transactionId', 'type', 'webLink',
];
const PROPERTY_BY_LOWER = new Map(EVENT_PROPERTIES.map((p) => [p.toLowerCase(), p]));
const NAVIGATION = new Set(['attachments', 'calendar', 'exceptionoccurrences', 'extensions', 'instances', 'multivalueextendedproperties', 'singlevalueextendedproperties']);

const SUPPORTED = new Set(['$select', '$top', '$skip', '$skiptoken', '$orderby', '$filter', '$expand', '$count']);
/** Known OData options the Outlook event collections do not support. */
const UNSUPPORTED = new Set(['$search', '$apply', '$compute', '$format', '$levels', '$deltatoken', '$index', '$schemaversion']);

export function notFoundProperty(name: string): GraphHttpError {
  // ODataLib's text (Microsoft.OData.Core.txt, MetadataBinder_PropertyNotDeclared), as Graph returns it.
  return badRequest(`Could not find a property named '${name}' on type 'microsoft.graph.event'.`);
}

function parseNonNegativeInt(name: string, raw: string): number {
  if (!/^\d+$/.test(raw.trim())) {
    // ODataLib: "Invalid value '{0}' for $top query option found. The $top query option requires a non-negative integer value."
    throw badRequest(`Invalid value '${raw}' for ${name} query option found. The ${name} query option requires a non-negative integer value.`);
  }
  return Number(raw.trim());
}

function parseFilterOption(raw: string): FilterNode {
  let node: FilterNode;
  try {
    node = parseFilter(raw);
  } catch (error) {
    if (error instanceof FilterSyntaxError) throw badRequest('Invalid filter clause');
    throw error;
  }
  try {
    validateFilter(node);
  } catch (error) {
    if (error instanceof FilterSemanticError) throw badRequest(error.message);
    throw error;
  }
  return node;
}

/** Splits on commas that are not inside parentheses or quotes. */
function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let quoted = false;
  let current = '';
  for (const c of text) {
    if (c === "'") quoted = !quoted;
    if (!quoted && c === '(') depth++;
    if (!quoted && c === ')') depth--;
    if (!quoted && depth === 0 && c === ',') {
      parts.push(current);
      current = '';
      continue;
    }
    current += c;
  }
  parts.push(current);
  return parts.map((p) => p.trim()).filter((p) => p !== '');
}

function parseExpand(raw: string): FilterNode | undefined {
  let extended: FilterNode | undefined;
  for (const item of splitTopLevel(raw)) {
    const m = /^([A-Za-z]+)\s*(?:\((.*)\))?$/s.exec(item);
    if (!m) throw badRequest(`Term '${item}' is not valid in a $select or $expand expression.`);
    const name = m[1]!;
    if (name.toLowerCase() !== 'singlevalueextendedproperties') {
      if (NAVIGATION.has(name.toLowerCase())) throw badRequest(`The sandbox does not support $expand=${name}.`, 'ErrorInvalidUrlQuery');
      throw badRequest(`Could not find a property named '${name}' on type 'microsoft.graph.event'.`);
    }
    const options = m[2] ?? '';
    const filter = /^\s*\$filter\s*=\s*(.*)$/is.exec(options);
    if (!filter) {
      // Reading extended properties needs $expand with a $filter on the id: "currently the only way to get the
      // singleValueLegacyExtendedProperty object" (https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get).
      // [VERIFY] the answer Graph gives without the $filter.
      throw badRequest('The $expand of singleValueExtendedProperties requires a $filter on the property id.', 'ErrorInvalidUrlQuery');
    }
    let node: FilterNode;
    try {
      node = parseFilter(filter[1]!);
    } catch {
      throw badRequest('Invalid filter clause');
    }
    extended = node;
  }
  return extended;
}

/** Parses the query options of an event collection or item request. */
export function parseEventQuery(params: URLSearchParams, kind: 'collection' | 'item'): EventQuery {
  const query: EventQuery = { skip: 0, orderBy: [], count: false };
  const seen = new Set<string>();
  for (const [rawName, value] of params) {
    const name = rawName.toLowerCase();
    if (!name.startsWith('$')) continue; // other parameters (startDateTime, …) are the endpoint's business
    if (seen.has(name)) {
      // ODataLib: "Query option '{0}' was specified more than once, but it must be specified at most once."
      throw badRequest(`Query option '${rawName}' was specified more than once, but it must be specified at most once.`);
    }
    seen.add(name);
    if (UNSUPPORTED.has(name) || !SUPPORTED.has(name)) {
      // ODataLib: "The query parameter '{0}' is not supported."
      throw badRequest(`The query parameter '${rawName}' is not supported.`);
    }
    if (kind === 'item' && name !== '$select' && name !== '$expand') {
      throw badRequest(`The query parameter '${rawName}' is not supported.`);
    }
    switch (name) {
      case '$select': {
        const fields = splitTopLevel(value);
        query.select = fields.map((f) => {
          const property = PROPERTY_BY_LOWER.get(f.toLowerCase());
          if (!property) {
            if (NAVIGATION.has(f.toLowerCase())) return f;
            throw notFoundProperty(f);
          }
          return property;
        });
        break;
      }
      case '$top': {
        const top = parseNonNegativeInt('$top', value);
        // Outlook caps a page at 1000 items; larger $top values are not an error but are capped
        // (https://github.com/microsoftgraph/microsoft-graph-docs/issues/12653 — "absurdly high numbers … does not fail").
        query.top = Math.min(top, MAX_PAGE_SIZE);
        break;
      }
      case '$skip':
        query.skip = parseNonNegativeInt('$skip', value);
        break;
      case '$skiptoken': {
        const skip = decodeSkipToken(value);
        if (skip === undefined) throw badRequest('The $skiptoken value is invalid.', 'ErrorInvalidUrlQuery');
        query.skip = skip;
        break;
      }
      case '$filter':
        query.filter = parseFilterOption(value);
        break;
      case '$orderby':
        query.orderBy = splitTopLevel(value).map((item) => {
          const m = /^([A-Za-z0-9_/]+)(?:\s+(asc|desc))?$/i.exec(item);
          if (!m) throw badRequest(`Syntax error at position ${value.indexOf(item)} in '${value}'.`);
          const path = m[1]!.split('/');
          const property = PROPERTY_BY_LOWER.get(path[0]!.toLowerCase());
          if (!property) throw notFoundProperty(path[0]!);
          return { path: [property, ...path.slice(1)], descending: (m[2] ?? '').toLowerCase() === 'desc' };
        });
        break;
      case '$expand':
        query.expandExtended = parseExpand(value);
        break;
      case '$count':
        if (value !== 'true' && value !== 'false') throw badRequest(`'${value}' is not a valid count option.`);
        query.count = value === 'true';
        break;
    }
  }
  return query;
}

export function encodeSkipToken(skip: number): string {
  return Buffer.from(JSON.stringify({ s: skip, v: 1 })).toString('base64url');
}

export function decodeSkipToken(token: string): number | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { s?: unknown };
    return typeof parsed.s === 'number' && Number.isInteger(parsed.s) && parsed.s >= 0 ? parsed.s : undefined;
  } catch {
    return undefined;
  }
}

function valueAt(record: Record<string, unknown>, path: string[]): unknown {
  let current: unknown = record;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    const obj = current as Record<string, unknown>;
    const key = Object.keys(obj).find((k) => k.toLowerCase() === segment.toLowerCase());
    current = key === undefined ? undefined : obj[key];
  }
  return current;
}

export function compareForOrder(a: Record<string, unknown>, b: Record<string, unknown>, keys: OrderKey[]): number {
  for (const key of keys) {
    const x = valueAt(a, key.path);
    const y = valueAt(b, key.path);
    let order = 0;
    if (x === y) order = 0;
    else if (x === undefined || x === null) order = -1;
    else if (y === undefined || y === null) order = 1;
    else if (typeof x === 'number' && typeof y === 'number') order = x - y;
    else if (typeof x === 'boolean' && typeof y === 'boolean') order = Number(x) - Number(y);
    else order = String(x).toLowerCase() < String(y).toLowerCase() ? -1 : String(x).toLowerCase() > String(y).toLowerCase() ? 1 : 0;
    if (order !== 0) return key.descending ? -order : order;
  }
  return 0;
}

/** Keeps the selected properties; id (and @odata.etag) are always returned (https://learn.microsoft.com/graph/query-parameters#select). */
export function applySelect(event: Record<string, unknown>, select: string[] | undefined): Record<string, unknown> {
  if (!select) return event;
  const out: Record<string, unknown> = {};
  if ('@odata.etag' in event) out['@odata.etag'] = event['@odata.etag'];
  out['id'] = event['id'];
  for (const name of select) if (name in event) out[name] = event[name];
  if (event['singleValueExtendedProperties'] !== undefined) out['singleValueExtendedProperties'] = event['singleValueExtendedProperties'];
  return out;
}

/** Parses a Prefer header into its preferences (name lower-cased → raw value without quotes). */
export function parsePrefer(header: string | undefined): Map<string, string> {
  const prefs = new Map<string, string>();
  if (!header) return prefs;
  for (const part of splitTopLevel(header.replace(/"[^"]*"/g, (q) => q.replace(/,/g, '\u0000')))) {
    const m = /^([^=\s]+)\s*(?:=\s*(.*))?$/.exec(part.trim());
    if (!m) continue;
    const value = (m[2] ?? '').trim().replace(/\u0000/g, ',').replace(/^"(.*)"$/, '$1');
    prefs.set(m[1]!.toLowerCase(), value);
  }
  return prefs;
}
