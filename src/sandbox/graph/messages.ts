// Meeting messages in Graph: GET /users/{id}/messages and /users/{id}/mailFolders/inbox/messages (also
// mailFolders('inbox')), GET | PATCH | DELETE …/messages/{id}. Each is an eventMessage — eventMessageRequest for
// requests, eventMessageResponse for responses (https://learn.microsoft.com/graph/api/resources/eventmessage,
// …/eventmessagerequest, …/eventmessageresponse) — in the v1.0 CSDL's shape. `$expand=microsoft.graph.eventMessage/event`
// (or `event`) brings the associated calendar item of the mailbox (https://learn.microsoft.com/graph/api/eventmessage-get,
// example 2), present only when the Calendar Attendant placed one (the eventMessage page: "The assumption for
// attendees or room resources is that the Calendar Attendant is set to automatically update the calendar").
// Permissions: Mail.Read or Mail.ReadWrite to read, Mail.ReadWrite to change or delete
// (https://learn.microsoft.com/graph/api/user-list-messages, …/message-update, …/message-delete).
// Other mail, other folders, $filter, $orderby and $search on messages are not modelled.
import { inboxFolderId, type MessageRecord } from '../messages.ts';
import { badRequest, GraphHttpError, type GraphResult } from './errors.ts';
import { applySelect, decodeSkipToken, DEFAULT_PAGE_SIZE, encodeSkipToken, MAX_PAGE_SIZE } from './odata.ts';
import { formatInstantUtc, formatWall, instantToWall, type ResolvedZone } from './timezones.ts';
import type { RenderOptions } from './store.ts';
import type { GraphOperation, GraphService, Mailbox, UserResourceHandler } from './service.ts';

const READ = ['Mail.Read', 'Mail.ReadWrite'];
const WRITE = ['Mail.ReadWrite'];

/** messages[/id] or mailFolders/inbox/messages[/id] (mailFolders('inbox') too): the message id, or '' for the collection. */
function messagePath(lower: string[]): { id: number } | undefined {
  if (lower[0] === 'messages' && lower.length <= 2) return { id: 1 };
  const inbox = (lower[0] === 'mailfolders' && lower[1] === 'inbox' && lower[2] === 'messages') || (/^mailfolders\('inbox'\)$/.test(lower[0] ?? '') && lower[1] === 'messages');
  if (!inbox) return undefined;
  const at = lower[0] === 'mailfolders' ? 3 : 2;
  return lower.length <= at + 1 ? { id: at } : undefined;
}

export function messageResources(service: GraphService): UserResourceHandler {
  return {
    matches: (lower) => messagePath(lower) !== undefined,
    methods: ['GET', 'PATCH', 'DELETE'],
    roles: (method) => (method === 'GET' ? READ : WRITE),
    handle: (op, mailbox, rest, prefer) => {
      const at = messagePath(rest.map((s) => s.toLowerCase()))!.id;
      const id = rest[at];
      if (id === undefined) {
        if (op.method !== 'GET') throw new GraphHttpError(405, 'BadRequest', 'Specified HTTP method is not allowed for the request target.', { allow: 'GET' });
        return list(service, op, mailbox, rest, prefer);
      }
      return item(service, op, mailbox, id, prefer);
    },
  };
}

interface MessageQuery {
  select?: string[];
  top?: number;
  skip: number;
  expandEvent: boolean;
}

function parseQuery(params: URLSearchParams, collection: boolean): MessageQuery {
  const query: MessageQuery = { skip: 0, expandEvent: false };
  for (const [rawName, value] of params) {
    const name = rawName.toLowerCase();
    if (!name.startsWith('$')) continue;
    if (name === '$select') query.select = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
    else if (name === '$expand') {
      // The navigation is declared on eventMessage, so on a message collection it needs the type cast.
      if (!/^(microsoft\.graph\.eventmessage\/)?event$/i.test(value.trim())) throw badRequest(`The sandbox supports only $expand=microsoft.graph.eventMessage/event on messages, not '${value}'.`, 'ErrorInvalidUrlQuery');
      query.expandEvent = true;
    } else if (collection && name === '$top') {
      if (!/^\d+$/.test(value)) throw badRequest(`Invalid value '${value}' for $top query option found. The $top query option requires a non-negative integer value.`);
      query.top = Math.min(Number(value), MAX_PAGE_SIZE);
    } else if (collection && name === '$skip') {
      if (!/^\d+$/.test(value)) throw badRequest(`Invalid value '${value}' for $skip query option found. The $skip query option requires a non-negative integer value.`);
      query.skip = Number(value);
    } else if (collection && name === '$skiptoken') {
      const skip = decodeSkipToken(value);
      if (skip === undefined) throw badRequest('The $skiptoken value is invalid.', 'ErrorInvalidUrlQuery');
      query.skip = skip;
    } else throw badRequest(`The query parameter '${rawName}' is not supported.`);
  }
  return query;
}

function list(service: GraphService, op: GraphOperation, mailbox: Mailbox, rest: string[], prefer: Map<string, string>): GraphResult {
  const query = parseQuery(op.query, true);
  const { options, applied } = service.renderOptions(prefer);
  // Newest first ("receivedDateTime desc" is how Outlook lists a folder).
  const all = service.messages.list(mailbox.address);
  const maxPageSize = Number(prefer.get('odata.maxpagesize'));
  const pageSize = query.top ?? (Number.isInteger(maxPageSize) && maxPageSize > 0 ? Math.min(maxPageSize, MAX_PAGE_SIZE) : DEFAULT_PAGE_SIZE);
  const page = all.slice(query.skip, query.skip + pageSize);
  const body: Record<string, unknown> = { '@odata.context': service.contextUrl(mailbox, 'messages') };
  body['value'] = page.map((m) => render(service, m, query, options));
  if (query.skip + pageSize < all.length && pageSize > 0) {
    const params = [...op.query].filter(([k]) => !['$skip', '$skiptoken'].includes(k.toLowerCase())).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    params.push(`$skiptoken=${encodeSkipToken(query.skip + pageSize)}`);
    body['@odata.nextLink'] = `${service.baseUrl()}/v1.0/users/${encodeURIComponent(mailbox.address)}/${rest.join('/')}?${params.join('&')}`;
  }
  return service.ok(200, body, service.appliedHeader(applied));
}

function item(service: GraphService, op: GraphOperation, mailbox: Mailbox, id: string, prefer: Map<string, string>): GraphResult {
  const message = service.messages.get(mailbox.address, id);
  if (!message) throw new GraphHttpError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  if (op.method === 'DELETE') {
    // 204 No Content (https://learn.microsoft.com/graph/api/message-delete).
    service.messages.delete(mailbox.address, id);
    return { status: 204, headers: {} };
  }
  if (op.method === 'PATCH') {
    const patch = op.body as Record<string, unknown> | undefined;
    if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw badRequest('Empty Payload. JSON content expected.');
    const unknown = Object.keys(patch).filter((k) => k !== 'isRead');
    // The sandbox keeps isRead only; other writable message properties are not modelled.
    if (unknown.length > 0) throw badRequest(`The sandbox can update only isRead on a message, not '${unknown[0]}'.`, 'ErrorInvalidRequest');
    if (typeof patch['isRead'] !== 'boolean') throw badRequest(`Cannot convert the literal '${String(patch['isRead'])}' to the expected type 'Edm.Boolean'.`, 'RequestBodyRead');
    service.messages.update(message, (m) => (m.isRead = patch['isRead'] as boolean));
  }
  const query = parseQuery(op.query, false);
  const { options, applied } = service.renderOptions(prefer);
  return service.ok(200, { '@odata.context': service.contextUrl(mailbox, 'messages/$entity'), ...render(service, message, query, options) }, service.appliedHeader(applied));
}

function point(instant: number, zone: ResolvedZone | undefined): { dateTime: string; timeZone: string } {
  const z = zone ?? { name: 'UTC', iana: 'Etc/UTC' };
  return { dateTime: formatWall(instantToWall(instant, z.iana)), timeZone: z.name };
}

function location(displayName: string): Record<string, unknown> {
  return { displayName, locationType: 'default', uniqueIdType: 'unknown', address: {}, coordinates: {} };
}

function recipient(person: { name: string; address: string }): Record<string, unknown> {
  return { emailAddress: { name: person.name, address: person.address } };
}

/** One message as Graph writes it: message's properties, then eventMessage's, then the derived type's. */
export function renderMessage(service: GraphService, m: MessageRecord, options: RenderOptions): Record<string, unknown> {
  const text = m.body.contentType === 'html' ? m.body.content.replace(/<[^>]+>/g, ' ') : m.body.content;
  const graphId = m.id;
  const kind = m.type === 'meetingRequest' ? 'eventMessageRequest' : m.type === 'meetingCancelled' ? 'eventMessage' : 'eventMessageResponse';
  const out: Record<string, unknown> = {
    '@odata.type': `#microsoft.graph.${kind}`,
    '@odata.etag': `W/"${m.changeKey}"`,
    id: graphId,
    createdDateTime: formatInstantUtc(m.createdMs),
    lastModifiedDateTime: formatInstantUtc(m.modifiedMs),
    changeKey: m.changeKey,
    categories: [],
    receivedDateTime: formatInstantUtc(m.createdMs),
    sentDateTime: formatInstantUtc(m.createdMs),
    hasAttachments: false,
    internetMessageId: m.internetMessageId,
    subject: m.subject,
    bodyPreview: text.replace(/\s+/g, ' ').trim().slice(0, 255),
    importance: 'normal',
    parentFolderId: inboxFolderId(m.mailbox).replace(/\//g, '-').replace(/\+/g, '_'),
    conversationId: `AAQkA${Buffer.from(m.meeting.iCalUId).toString('base64url').slice(0, 40)}`,
    isDeliveryReceiptRequested: false,
    isReadReceiptRequested: false,
    isRead: m.isRead,
    isDraft: false,
    webLink: `https://outlook.office365.com/owa/?ItemID=${encodeURIComponent(graphId)}&exvsurl=1&viewmodel=ReadMessageItem`,
    inferenceClassification: 'focused',
    body: m.body,
    sender: recipient(m.from),
    from: recipient(m.from),
    toRecipients: m.to.map(recipient),
    ccRecipients: m.cc.map(recipient),
    bccRecipients: [],
    replyTo: [],
    flag: { flagStatus: 'notFlagged' },
    meetingMessageType: m.type,
    type: 'singleInstance',
    isOutOfDate: m.isOutOfDate,
    isAllDay: m.meeting.isAllDay,
    isDelegated: false,
    startDateTime: point(m.meeting.start.instant, options.timeZone),
    endDateTime: point(m.meeting.end.instant, options.timeZone),
    location: location(m.meeting.location),
    recurrence: null,
  };
  if (kind === 'eventMessageRequest') {
    Object.assign(out, {
      meetingRequestType: m.requestType ?? 'newMeetingRequest',
      responseRequested: m.meeting.responseRequested,
      allowNewTimeProposals: m.meeting.allowNewTimeProposals,
      previousStartDateTime: m.previous ? point(m.previous.start.instant, options.timeZone) : null,
      previousEndDateTime: m.previous ? point(m.previous.end.instant, options.timeZone) : null,
      previousLocation: m.previous ? location(m.previous.location) : null,
    });
  }
  if (kind === 'eventMessageResponse') Object.assign(out, { responseType: m.response ?? 'none', proposedNewTime: null });
  return out;
}

function render(service: GraphService, m: MessageRecord, query: MessageQuery, options: RenderOptions): Record<string, unknown> {
  const out = applySelect(renderMessage(service, m, options), query.select);
  if (query.select) out['@odata.type'] = `#microsoft.graph.${m.type === 'meetingRequest' ? 'eventMessageRequest' : m.type === 'meetingCancelled' ? 'eventMessage' : 'eventMessageResponse'}`;
  if (query.expandEvent) {
    const event = service.store.findByICalUId(m.mailbox, m.meeting.iCalUId);
    // Without an associated calendar item (no Calendar Attendant placed one) the navigation is empty [VERIFY]: null.
    out['event'] = event ? service.store.render(event, options) : null;
  }
  return out;
}
