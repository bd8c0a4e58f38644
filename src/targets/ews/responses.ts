// Reading EWS answers: a SOAP fault (the request as a whole was refused) or one response message per item of the
// request, in request order (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-process-calendar-items-in-batches-in-exchange).
// Nothing here throws: an answer that cannot be read becomes { kind: 'unreadable' }.
import { TAG_PROPERTY_NAME } from '../../model/tag.ts';
import { TRANSACTION_PROPERTY_NAME } from './mapping.ts';
import { attr, child, children, descendants, parseXml, path, text, type XmlValue } from './xml.ts';

export type Operation = 'CreateItem' | 'UpdateItem' | 'DeleteItem' | 'FindItem' | 'GetItem' | 'GetFolder' | 'SyncFolderItems' | 'GetRooms' | 'ExpandDL' | 'Subscribe' | 'Unsubscribe' | 'GetStreamingEvents';

/**
 * Operations whose answer is one message without a ResponseMessages container: `<m:GetRoomsResponse ResponseClass=…>`
 * carries ResponseCode and the result itself (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getrooms-operation).
 */
const SINGLE_MESSAGE_OPERATIONS: ReadonlySet<Operation> = new Set(['GetRooms']);

export interface ParsedItem {
  itemId: string;
  changeKey: string | null;
  /** Our tag's value, when the item carries it and it was asked for. */
  tag: string | null;
  transactionId: string | null;
}

export interface ResponseMessage {
  responseClass: 'Success' | 'Warning' | 'Error';
  /** ResponseCode, "NoError" on success. */
  code: string;
  message: string;
  /** MessageXml's <Value Name="…">: BackOffMilliseconds for ErrorServerBusy, and the like. */
  values: Record<string, string>;
  items: ParsedItem[];
  /** FindItem's RootFolder paging. */
  paging?: { nextOffset: number | null; includesLastItemInRange: boolean; total: number | null };
  /** The response message as parsed, for readers of more than the above (the resource agent: ews/meetings.ts). */
  node: XmlValue;
}

export type SoapAnswer =
  | { kind: 'messages'; messages: ResponseMessage[] }
  | { kind: 'fault'; code: string; message: string; values: Record<string, string> }
  | { kind: 'unreadable'; reason: string };

function messageValues(message: XmlValue | null): Record<string, string> {
  const values: Record<string, string> = {};
  if (!message) return values;
  const xml = child(message, 'MessageXml');
  if (!xml) return values;
  for (const value of descendants(xml, 'Value')) {
    const name = attr(value, 'Name');
    if (name && !(name in values)) values[name] = text(value);
  }
  // Schema violations come as LineNumber / LinePosition / Violation.
  for (const name of ['LineNumber', 'LinePosition', 'Violation']) {
    const found = descendants(xml, name)[0];
    if (found) values[name] = text(found);
  }
  return values;
}

/**
 * The code that says what happened. One of EWS's throttling forms is "HTTP 200 … an EWS schema-based error response
 * with an ErrorInternalServerError error code. An inner ErrorServerBusy error code may be present"
 * (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange, "Throttling
 * related error codes"); the inner code travels in MessageXml as `<t:Value Name="InnerErrorResponseCode">`
 * (as in Microsoft's support article "Email can't be received because the license is invalid for the mailbox",
 * learn.microsoft.com/troubleshoot/dynamics-365/…). Such an answer is ErrorServerBusy for everything that follows.
 */
function effectiveCode(code: string, values: Record<string, string>): string {
  return code === 'ErrorInternalServerError' && values['InnerErrorResponseCode'] === 'ErrorServerBusy' ? 'ErrorServerBusy' : code;
}

export function backOffMs(values: Record<string, string>): number | undefined {
  const raw = values['BackOffMilliseconds'];
  if (raw === undefined || !/^\s*\d{1,10}\s*$/.test(raw)) return undefined;
  return Number(raw);
}

function parseItem(node: XmlValue): ParsedItem | null {
  const id = child(node, 'ItemId');
  const itemId = id ? attr(id, 'Id') : undefined;
  if (!itemId) return null;
  let tag: string | null = null;
  let transactionId: string | null = null;
  for (const property of children(node, 'ExtendedProperty')) {
    const uri = child(property, 'ExtendedFieldURI');
    const name = attr(uri, 'PropertyName');
    const value = text(child(property, 'Value'));
    if (name === TAG_PROPERTY_NAME) tag = value;
    else if (name === TRANSACTION_PROPERTY_NAME) transactionId = value || null;
  }
  return { itemId, changeKey: (id && attr(id, 'ChangeKey')) || null, tag, transactionId };
}

/** Items of an <Items> element, whatever their element name (CalendarItem, Item, MeetingRequest, …). */
function parseItems(items: XmlValue | null): ParsedItem[] {
  if (!items) return [];
  const parsed: ParsedItem[] = [];
  for (const name of Object.keys(items)) {
    if (name.startsWith('@_') || name === '#text') continue;
    for (const node of children(items, name)) {
      const item = parseItem(node);
      if (item) parsed.push(item);
    }
  }
  return parsed;
}

function parseMessage(node: XmlValue): ResponseMessage {
  const responseClass = attr(node, 'ResponseClass');
  const values = messageValues(node);
  const code = effectiveCode(text(child(node, 'ResponseCode')) || (responseClass === 'Success' ? 'NoError' : 'ErrorUnknown'), values);
  const message: ResponseMessage = {
    responseClass: responseClass === 'Success' || responseClass === 'Warning' ? responseClass : 'Error',
    code,
    message: text(child(node, 'MessageText')),
    values,
    items: parseItems(child(node, 'Items')),
    node,
  };
  const root = child(node, 'RootFolder');
  if (root) {
    const offset = attr(root, 'IndexedPagingOffset');
    const total = attr(root, 'TotalItemsInView');
    message.items = parseItems(child(root, 'Items'));
    message.paging = {
      nextOffset: offset !== undefined && /^\d+$/.test(offset) ? Number(offset) : null,
      includesLastItemInRange: attr(root, 'IncludesLastItemInRange') !== 'false',
      total: total !== undefined && /^\d+$/.test(total) ? Number(total) : null,
    };
  }
  return message;
}

/** Reads the answer to `operation`. */
export function parseSoapAnswer(body: string, operation: Operation): SoapAnswer {
  try {
    const document = parseXml(body);
    if (!document) return { kind: 'unreadable', reason: 'not XML' };
    const soapBody = path(document, 'Envelope', 'Body');
    if (!soapBody) return { kind: 'unreadable', reason: 'no SOAP Envelope/Body' };
    const fault = child(soapBody, 'Fault');
    if (fault) {
      const detail = child(fault, 'detail') ?? child(fault, 'Detail');
      const faultCode = text(child(fault, 'faultcode')).replace(/^.*:/, '');
      const values = messageValues(detail);
      const code = effectiveCode(text(child(detail, 'ResponseCode')) || faultCode || 'SoapFault', values);
      const message = text(child(detail, 'Message')) || text(child(fault, 'faultstring')) || code;
      return { kind: 'fault', code, message, values };
    }
    const response = child(soapBody, `${operation}Response`);
    if (response && SINGLE_MESSAGE_OPERATIONS.has(operation)) return { kind: 'messages', messages: [parseMessage(response)] };
    const container = response ? child(response, 'ResponseMessages') : null;
    if (!container) return { kind: 'unreadable', reason: `no ${operation}Response/ResponseMessages` };
    const messages = children(container, `${operation}ResponseMessage`).map(parseMessage);
    return { kind: 'messages', messages };
  } catch (error) {
    return { kind: 'unreadable', reason: error instanceof Error ? error.message : String(error) };
  }
}
