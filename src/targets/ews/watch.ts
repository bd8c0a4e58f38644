// Watching an Exchange calendar for what people did to our events (docs/drift.md): `SyncFolderItems` on the calendar
// folder (https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems-operation,
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-synchronize-items-by-using-ews-in-exchange).
// - Without a SyncState every item is a Create ("all items are considered new during an initial synchronization");
//   with one, what was created, updated or deleted since, each with its ItemId (Id and ChangeKey; a Delete the Id).
// - At most MaxChangesReturned per call; IncludesLastItemInRange false: call again with the new SyncState.
// - IdOnly: the watch needs ids and change keys only (the engine matches them against the items it delivered).
// - A SyncState Exchange no longer knows is ErrorInvalidSyncStateData: the next round starts without one.
import { TargetError, WATCH_STATE_NOT_FOUND, type WatchCapability, type WatchChange, type WatchPage } from '../target.ts';
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

export class EwsWatch implements WatchCapability {
  private readonly ews: EwsConnection;
  constructor(ews: EwsConnection) {
    this.ews = ews;
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
