// SyncFolderItems on a mailbox's calendar or inbox
// (https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems-operation,
// https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-synchronize-items-by-using-ews-in-exchange).
// - Without a SyncState every item is a Create ("all items are considered new during an initial synchronization");
//   with one, what was created, updated or deleted since (Create, Update, Delete).
// - At most MaxChangesReturned changes (the schema allows 1–512) per call; IncludesLastItemInRange false means call
//   again with the new SyncState. SyncFolderItems "cannot return properties such as Body".
// - The SyncState is opaque; one the server does not know (or of another folder, or expired by
//   SandboxFaults.expireSyncStates) is ErrorInvalidSyncStateData (the responsecode page: "Invalid synchronization
//   state data is present in the request" [VERIFY] the text).
// - Ignore and SyncScope NormalAndAssociatedItems are not modelled (associated items do not exist here).
import type { ChangeLog, Folder, ItemHistory } from '../changes.ts';
import { ewsIdFromGraph, type Shape } from './items.ts';
import { EwsItemError } from './soap.ts';
import { esc } from './xml.ts';

interface SyncState {
  v: 1;
  g: number;
  m: string;
  f: Folder;
  w: number;
}

export function readSyncState(text: string | undefined, changes: ChangeLog, mailbox: string, folder: Folder): number {
  if (text === undefined || text.trim() === '') return 0;
  let state: SyncState | undefined;
  try {
    state = JSON.parse(Buffer.from(text.trim(), 'base64').toString('utf8')) as SyncState;
  } catch {
    state = undefined;
  }
  if (!state || state.v !== 1 || state.g !== changes.generation || state.m !== mailbox || state.f !== folder || typeof state.w !== 'number') {
    throw new EwsItemError('ErrorInvalidSyncStateData', 'Invalid synchronization state data is present in the request.');
  }
  return state.w;
}

function writeSyncState(changes: ChangeLog, mailbox: string, folder: Folder, watermark: number): string {
  const state: SyncState = { v: 1, g: changes.generation, m: mailbox, f: folder, w: watermark };
  return Buffer.from(JSON.stringify(state)).toString('base64');
}

/** Renders the current item (undefined when it is gone). */
export type ItemRenderer = (id: string, shape: Shape) => string | undefined;

/** The SyncFolderItemsResponseMessage for one folder. */
export function syncFolderItems(changes: ChangeLog, mailbox: string, folder: Folder, watermark: number, max: number, shape: Shape, render: ItemRenderer): { xml: string; handled: number } {
  const since: ItemHistory[] = changes.since(mailbox, folder, watermark);
  const out: string[] = [];
  let consumed = 0;
  let last = watermark;
  for (const item of since) {
    if (out.length >= max) break;
    consumed++;
    last = item.lastSeq;
    const isNew = item.firstSeq > watermark;
    if (item.deleted) {
      // Created and deleted since the last sync: the client never saw it.
      if (!isNew) out.push(`<t:Delete><t:ItemId Id="${esc(ewsIdFromGraph(item.id))}"/></t:Delete>`);
      continue;
    }
    const xml = render(item.id, shape);
    if (xml === undefined) continue;
    out.push(isNew ? `<t:Create>${xml}</t:Create>` : `<t:Update>${xml}</t:Update>`);
  }
  const includesLast = consumed === since.length;
  const state = writeSyncState(changes, mailbox, folder, includesLast ? Math.max(last, changes.current()) : last);
  const xml = `<m:SyncFolderItemsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SyncState>${state}</m:SyncState><m:IncludesLastItemInRange>${includesLast}</m:IncludesLastItemInRange><m:Changes>${out.join('')}</m:Changes></m:SyncFolderItemsResponseMessage>`;
  return { xml, handled: Math.max(1, out.length) };
}
