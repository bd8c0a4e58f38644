// The EWS requests calpush sends, as schema-valid SOAP 1.1 (messages.xsd / types.xsd). Each builder returns the
// body element (the one child of soap:Body); `envelope()` adds the header.
//
// Shapes: https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item,
// …/updateitem-operation, …/deleteitem-operation, …/finditem-operation, …/getitem-operation-calendar-item.
import type { DesiredEvent } from '../../model/event.ts';
import type { ItemRef } from '../target.ts';
import { calendarItemForCreate, calendarItemUpdates, tagFieldUri, transactionFieldUri, type MappingOptions } from './mapping.ts';
import { el, NS_MESSAGES, soapEnvelope, type XmlElement } from './xml.ts';

import type { ServerVersion } from './schema.ts';

export { SERVER_VERSIONS, type ServerVersion } from './schema.ts';
export type AccessMode = 'delegate' | 'impersonation';
export type DeleteType = 'HardDelete' | 'SoftDelete' | 'MoveToDeletedItems';

export interface RequestContext {
  access: AccessMode;
  serverVersion: ServerVersion;
  /** The mailbox whose calendar is addressed. */
  mailbox: string;
}

/**
 * The calendar of the mailbox. Delegate access names the mailbox in the folder id
 * (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-access-a-calendar-as-a-delegate-by-using-ews-in-exchange);
 * under impersonation the request acts as the mailbox owner, whose own calendar it is.
 */
export function calendarFolder(context: RequestContext): XmlElement {
  return el(
    't:DistinguishedFolderId',
    { Id: 'calendar' },
    context.access === 'delegate' && el('t:Mailbox', {}, el('t:EmailAddress', {}, context.mailbox)),
  );
}

/** The SOAP header: the schema version, and under impersonation the mailbox acted for. */
export function headerFor(context: RequestContext): XmlElement[] {
  return [
    el('t:RequestServerVersion', { Version: context.serverVersion }),
    context.access === 'impersonation' &&
      el('t:ExchangeImpersonation', {}, el('t:ConnectingSID', {}, el('t:PrimarySmtpAddress', {}, context.mailbox))),
  ].filter((part): part is XmlElement => part !== false);
}

export function envelope(context: RequestContext, body: XmlElement): string {
  return soapEnvelope(headerFor(context), body);
}

/**
 * The SOAPAction HTTP header of an operation, as Exchange's Services.wsdl binds every operation:
 * `<soap:operation soapAction="http://schemas.microsoft.com/exchange/services/2006/messages/FindItem"/>` (the messages
 * namespace, a slash, the operation; src/sandbox/ews/schema/services.wsdl binds its operations the same way). SOAP 1.1
 * §6.1.1 (https://www.w3.org/TR/2000/NOTE-SOAP-20000508/#_Toc478383528): "An HTTP client MUST use this header field
 * when issuing a SOAP HTTP Request", its value a quoted URI.
 */
export function soapAction(operation: string): string {
  return `"${NS_MESSAGES}/${operation}"`;
}

function itemId(item: ItemRef, withChangeKey: boolean): XmlElement {
  return el('t:ItemId', { Id: item.itemId, ChangeKey: withChangeKey && item.changeKey ? item.changeKey : undefined });
}

/**
 * Several appointments in one CreateItem; nobody is invited (SendMeetingInvitations="SendToNone": they have no
 * attendees, and nothing must ever be mailed). MessageDisposition applies to messages only and is left out.
 */
export function createItemBody(context: RequestContext, items: Array<{ desired: DesiredEvent; transactionId: string }>, mapping: MappingOptions): XmlElement {
  return el(
    'm:CreateItem',
    { SendMeetingInvitations: 'SendToNone' },
    el('m:SavedItemFolderId', {}, calendarFolder(context)),
    el('m:Items', {}, items.map((item) => calendarItemForCreate(item.desired, item.transactionId, mapping))),
  );
}

/**
 * Several full updates in one UpdateItem. ConflictResolution="AlwaysOverwrite" with the ChangeKey we hold: the
 * source system is the authority on these events, so a change someone made in Outlook since we last wrote is
 * overwritten rather than merged (AutoResolve) or refused (NeverOverwrite). The ChangeKey is still sent, because
 * Exchange wants a current one for UpdateItem even when overwriting (ErrorChangeKeyRequiredForWriteOperations).
 */
export function updateItemBody(items: Array<{ desired: DesiredEvent; item: ItemRef }>, mapping: MappingOptions): XmlElement {
  return el(
    'm:UpdateItem',
    { ConflictResolution: 'AlwaysOverwrite', SendMeetingInvitationsOrCancellations: 'SendToNone' },
    el(
      'm:ItemChanges',
      {},
      items.map((entry) => el('t:ItemChange', {}, itemId(entry.item, true), el('t:Updates', {}, calendarItemUpdates(entry.desired, mapping)))),
    ),
  );
}

/**
 * Several deletions in one DeleteItem; nobody is told (SendMeetingCancellations="SendToNone"). The ChangeKey we hold
 * goes with each id (ItemIdType's optional ChangeKey): a server that checks it answers a stale one with a ChangeKey
 * code, and the target reads the current one (and checks the tag is still ours) before deleting.
 */
export function deleteItemBody(items: ItemRef[], deleteType: DeleteType): XmlElement {
  return el('m:DeleteItem', { DeleteType: deleteType, SendMeetingCancellations: 'SendToNone' }, el('m:ItemIds', {}, items.map((item) => itemId(item, true))));
}

/**
 * The mailbox's calendar folder (IdOnly): is the calendar still reachable with our rights? Asked before an
 * ErrorItemNotFound counts as "the item is gone", because Exchange answers ErrorItemNotFound also when "you do not
 * have permission to access the item" (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode);
 * the folder is refused with ErrorAccessDenied / ErrorFolderNotFound when the rights are gone
 * (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getfolder-operation).
 */
export function getCalendarFolderBody(context: RequestContext): XmlElement {
  return el('m:GetFolder', {}, el('m:FolderShape', {}, el('t:BaseShape', {}, 'IdOnly')), el('m:FolderIds', {}, calendarFolder(context)));
}

function ownedShape(): XmlElement {
  return el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, tagFieldUri(), transactionFieldUri()));
}

/**
 * One page of the items in the calendar that carry our tag (any instance: the instance is checked on the answer).
 * IdOnly returns ItemId with its ChangeKey; the tag and the transactionId come as additional properties. A
 * restriction cannot be combined with CalendarView, so the items (not occurrences) are paged with an index.
 */
export function findOwnedBody(context: RequestContext, offset: number, pageSize: number): XmlElement {
  return el(
    'm:FindItem',
    { Traversal: 'Shallow' },
    ownedShape(),
    el('m:IndexedPageItemView', { MaxEntriesReturned: String(pageSize), Offset: String(offset), BasePoint: 'Beginning' }),
    el('m:Restriction', {}, el('t:Exists', {}, tagFieldUri())),
    el('m:ParentFolderIds', {}, calendarFolder(context)),
  );
}

/** The items carrying one of these transactionIds (creates whose answer was lost). */
export function findByTransactionBody(context: RequestContext, transactionIds: string[]): XmlElement {
  const equal = (id: string) => el('t:IsEqualTo', {}, transactionFieldUri(), el('t:FieldURIOrConstant', {}, el('t:Constant', { Value: id })));
  const expression = transactionIds.length === 1 ? equal(transactionIds[0]!) : el('t:Or', {}, transactionIds.map(equal));
  return el(
    'm:FindItem',
    { Traversal: 'Shallow' },
    ownedShape(),
    el('m:IndexedPageItemView', { MaxEntriesReturned: String(Math.max(10, transactionIds.length * 2)), Offset: '0', BasePoint: 'Beginning' }),
    el('m:Restriction', {}, expression),
    el('m:ParentFolderIds', {}, calendarFolder(context)),
  );
}

/** The current ChangeKey (and our tag) of items, for an update whose ChangeKey is unknown or stale. */
export function getItemsBody(items: ItemRef[]): XmlElement {
  return el('m:GetItem', {}, el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, tagFieldUri())), el('m:ItemIds', {}, items.map((item) => itemId(item, false))));
}
