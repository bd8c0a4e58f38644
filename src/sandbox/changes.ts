// What changed in each mailbox folder, and when: the ground under Graph delta (calendarView/delta), EWS
// SyncFolderItems and Graph change notifications. Every create, update and delete of a calendar item or an inbox
// message is recorded with a sequence number that only grows; a sync state is "everything up to number N".
//
// Only the latest change of each item is kept (with the number it was first seen at, so a sync can tell a new item
// from a changed one), so the log grows with the items a mailbox ever held, not with the number of edits.

export type Folder = 'calendar' | 'inbox';
export type ChangeKind = 'created' | 'updated' | 'deleted';

export interface Change {
  mailbox: string;
  folder: Folder;
  id: string;
  kind: ChangeKind;
  seq: number;
}

/** The latest state of one item as the log knows it. */
export interface ItemHistory {
  id: string;
  /** the number of the change that created it */
  firstSeq: number;
  /** the number of its latest change */
  lastSeq: number;
  deleted: boolean;
}

export class ChangeLog {
  /**
   * Sync states carry the generation they were made in; a new generation (SandboxFaults.expireSyncStates) makes
   * every earlier one unknown, as when Exchange drops old states from its cache (Graph: 410 SyncStateNotFound; EWS:
   * ErrorInvalidSyncStateData).
   */
  generation = 1;
  private seq = 0;
  private readonly items = new Map<string, Map<string, ItemHistory>>();
  private readonly listeners = new Set<(change: Change) => void>();

  /** The number of the latest change anywhere: a watermark that covers everything so far. */
  current(): number {
    return this.seq;
  }

  record(mailbox: string, folder: Folder, id: string, kind: ChangeKind): void {
    const seq = ++this.seq;
    const key = `${mailbox.toLowerCase()}|${folder}`;
    let folderItems = this.items.get(key);
    if (!folderItems) {
      folderItems = new Map();
      this.items.set(key, folderItems);
    }
    const known = folderItems.get(id);
    if (known && kind !== 'created') {
      known.lastSeq = seq;
      known.deleted = kind === 'deleted';
    } else folderItems.set(id, { id, firstSeq: seq, lastSeq: seq, deleted: kind === 'deleted' });
    const change: Change = { mailbox: mailbox.toLowerCase(), folder, id, kind, seq };
    for (const listener of this.listeners) listener(change);
  }

  /** Items of a folder changed after `watermark`, oldest change first. */
  since(mailbox: string, folder: Folder, watermark: number): ItemHistory[] {
    const folderItems = this.items.get(`${mailbox.toLowerCase()}|${folder}`);
    if (!folderItems) return [];
    return [...folderItems.values()].filter((item) => item.lastSeq > watermark).sort((a, b) => a.lastSeq - b.lastSeq);
  }

  /** Called after every change (subscriptions' notifications); returns the function that stops it. */
  subscribe(listener: (change: Change) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}
