// Watching an Exchange calendar for what people did to our events (docs/drift.md): `SyncFolderItems` on the calendar
// folder (https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems-operation,
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-synchronize-items-by-using-ews-in-exchange).
// - Without a SyncState every item is a Create ("all items are considered new during an initial synchronization");
//   with one, what was created, updated or deleted since, each with its ItemId (Id and ChangeKey; a Delete the Id).
// - At most MaxChangesReturned per call; IncludesLastItemInRange false: call again with the new SyncState.
// - IdOnly: the watch needs ids and change keys only (the engine matches them against the items it delivered).
// - A SyncState Exchange no longer knows is ErrorInvalidSyncStateData: the next round starts without one.
// - An Update only says the ChangeKey moved (a dismissed reminder moves it too): edits() reads the changed items'
//   managed fields with one GetItem (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getitem-operation)
//   and the engine counts an edit only where they differ from what calpush wrote (model/managed.ts).
import type { DesiredEvent } from '../../model/event.ts';
import { changedFields, plainText, writtenFields, type ManagedFields } from '../../model/managed.ts';
import { TargetError, WATCH_READ_MAX, WATCH_STATE_NOT_FOUND, type WatchCapability, type WatchChange, type WatchPage } from '../target.ts';
import { freeBusyStatus, sensitivityWord, type MappingOptions } from './mapping.ts';
import type { EwsConnection } from './meetings.ts';
import type { ResponseMessage } from './responses.ts';
import { calendarFolder } from './requests.ts';
import { attr, child, children, el, text, type XmlValue } from './xml.ts';

/** Changes per SyncFolderItems call (the schema allows 1–512). */
const MAX_CHANGES = 256;

/** The ItemId of a change: `ItemId` directly (Delete) or on the item it carries (Create, Update: CalendarItem, …). */
function itemIdOf(change: XmlValue): XmlValue | null {
  const direct = child(change, 'ItemId');
  if (direct) return direct;
  for (const [name, value] of Object.entries(change)) {
    if (name.startsWith('@_') || name === '#text' || typeof value !== 'object' || value === null) continue;
    const id = child(value, 'ItemId');
    if (id) return id;
  }
  return null;
}

/** The changes of one SyncFolderItems answer; a change without an item id is skipped. */
export function syncChanges(changes: XmlValue | null): WatchChange[] {
  const found: WatchChange[] = [];
  for (const kind of ['Create', 'Update', 'Delete'] as const) {
    for (const change of children(changes, kind)) {
      const id = itemIdOf(change);
      const itemId = id ? attr(id, 'Id') : undefined;
      if (!itemId) continue;
      found.push(kind === 'Delete' ? { kind: 'removed', itemId } : { kind: 'changed', itemId, changeKey: (id && attr(id, 'ChangeKey')) || null });
    }
  }
  return found;
}

/** The managed fields (model/managed.ts) as EWS field URIs. */
const MANAGED_FIELDS = ['item:Subject', 'item:Body', 'item:Sensitivity', 'calendar:Start', 'calendar:End', 'calendar:IsAllDayEvent', 'calendar:LegacyFreeBusyStatus', 'calendar:Location'];

/** A GetItem of the items' managed fields. */
export function managedItemsBody(itemIds: readonly string[]): ReturnType<typeof el> {
  return el(
    'm:GetItem',
    {},
    el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly'), el('t:AdditionalProperties', {}, MANAGED_FIELDS.map((uri) => el('t:FieldURI', { FieldURI: uri })))),
    el('m:ItemIds', {}, itemIds.map((id) => el('t:ItemId', { Id: id }))),
  );
}

/** The managed fields of a t:CalendarItem as GetItem answered it (Start/End are xs:dateTime in UTC). */
export function ewsManagedFields(item: XmlValue | null): ManagedFields {
  const body = child(item, 'Body');
  return {
    subject: text(child(item, 'Subject')),
    body: plainText(text(body), attr(body, 'BodyType') === 'HTML' ? 'html' : 'text'),
    start: Date.parse(text(child(item, 'Start'))),
    end: Date.parse(text(child(item, 'End'))),
    allDay: text(child(item, 'IsAllDayEvent')) === 'true',
    location: text(child(item, 'Location')),
    showAs: text(child(item, 'LegacyFreeBusyStatus')),
    sensitivity: text(child(item, 'Sensitivity')),
  };
}

/** GetItem of several items: one response message per item, in order (the target's send, which checks the count). */
export type EwsReadMany = (mailbox: string, body: ReturnType<typeof el>, count: number) => Promise<ResponseMessage[]>;

export class EwsWatch implements WatchCapability {
  private readonly ews: EwsConnection;
  private readonly readMany: EwsReadMany;
  private readonly mapping: MappingOptions;
  /** `failed`: a response message's TargetError (the target's classification). */
  private readonly failed: (message: ResponseMessage, mailbox: string) => TargetError;
  constructor(ews: EwsConnection, readMany: EwsReadMany, mapping: MappingOptions, failed: (message: ResponseMessage, mailbox: string) => TargetError) {
    this.ews = ews;
    this.readMany = readMany;
    this.mapping = mapping;
    this.failed = failed;
  }

  /** One GetItem of the items' managed fields; ErrorItemNotFound leaves an item out, any other failure fails the read. */
  async edits(calendar: string, items: ReadonlyArray<{ itemId: string; desired: DesiredEvent }>): Promise<Map<string, string[]>> {
    const found = new Map<string, string[]>();
    if (!items.length) return found;
    if (items.length > WATCH_READ_MAX) throw new RangeError(`edits() reads at most ${WATCH_READ_MAX} items at once`);
    const messages = await this.readMany(calendar, managedItemsBody(items.map((item) => item.itemId)), items.length);
    for (const [index, item] of items.entries()) {
      const message = messages[index]!;
      if (message.code === 'ErrorItemNotFound') continue;
      if (message.responseClass === 'Error') throw this.failed(message, calendar);
      const { event } = item.desired;
      const written = writtenFields(item.desired, this.mapping.allDayTimeZone, { showAs: freeBusyStatus(event.showAs, this.mapping.serverVersion), sensitivity: sensitivityWord(event.sensitivity) });
      found.set(item.itemId, changedFields(written, ewsManagedFields(child(child(message.node, 'Items'), 'CalendarItem'))));
    }
    return found;
  }

  async changes(calendar: string, state: string | null): Promise<WatchPage> {
    const body = el(
      'm:SyncFolderItems',
      {},
      el('m:ItemShape', {}, el('t:BaseShape', {}, 'IdOnly')),
      el('m:SyncFolderId', {}, calendarFolder(this.ews.context(calendar))),
      state !== null && el('m:SyncState', {}, state),
      el('m:MaxChangesReturned', {}, String(MAX_CHANGES)),
    );
    let message: ResponseMessage;
    try {
      message = await this.ews.call(calendar, 'SyncFolderItems', body, 'list');
    } catch (error) {
      if (error instanceof TargetError && error.code === 'ErrorInvalidSyncStateData') throw new TargetError('item', WATCH_STATE_NOT_FOUND, `Exchange no longer knows the SyncState of ${calendar}'s calendar: ${error.message}`);
      throw error;
    }
    const next = text(child(message.node, 'SyncState'));
    if (!next) throw new TargetError('transient', 'NoSyncState', 'a SyncFolderItems answer carries no SyncState');
    return { changes: syncChanges(child(message.node, 'Changes')), state: next, more: text(child(message.node, 'IncludesLastItemInRange')) === 'false' };
  }
}
