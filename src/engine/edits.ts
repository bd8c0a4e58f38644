// Which of a watch page's changes are edits (docs/drift.md, "What counts as an edit"). A new ChangeKey / ETag only
// says an item was touched: Exchange gives one for a dismissed reminder too. So the items of ours whose key moved are
// read back (WatchCapability.edits, WATCH_READ_MAX to a request, each through the scheduler) and a change stays only
// where a managed field differs from what calpush wrote; the others are dropped before planner/drift.ts sees them.
import type { DesiredEvent } from '../model/event.ts';
import type { DeliveredRow, DesiredRow } from '../model/rows.ts';
import { WATCH_READ_MAX, type WatchCapability, type WatchChange } from '../targets/target.ts';

export interface EditCheck {
  calendar: string;
  watch: WatchCapability;
  delivered: readonly DeliveredRow[];
  desired: readonly DesiredRow[];
  /** Runs one read through the scheduler (the caller's lane, priority and request ledger); `cost` in items. */
  submit<T>(run: () => Promise<T>, cost: number): Promise<T>;
}

/**
 * The changes without those that touched none of the managed fields. Only items whose written content calpush knows
 * are read (the delivered row's content hash is the desired one's): for any other, and on a target that cannot read
 * back (no `edits`), a new key stays an edit, as before.
 */
export async function withoutNonEdits(changes: WatchChange[], check: EditCheck): Promise<WatchChange[]> {
  const edits = check.watch.edits;
  if (!edits) return changes;
  const candidates = toRead(changes, check);
  if (!candidates.length) return changes;
  const notEdited = new Set<string>();
  for (let at = 0; at < candidates.length; at += WATCH_READ_MAX) {
    const batch = candidates.slice(at, at + WATCH_READ_MAX);
    const found = await check.submit(() => edits.call(check.watch, check.calendar, batch), batch.length);
    for (const [itemId, fields] of found) {
      if (!fields.length) notEdited.add(itemId);
    }
  }
  return changes.filter((change) => change.kind !== 'changed' || !notEdited.has(change.itemId));
}

/** The items to read: ours, their last change a new key (a later removal decides itself), what calpush wrote known. */
function toRead(changes: WatchChange[], check: EditCheck): Array<{ itemId: string; desired: DesiredEvent }> {
  const last = new Map<string, WatchChange>();
  for (const change of changes) last.set(change.itemId, change);
  const delivered = new Map(check.delivered.map((row) => [row.itemId, row]));
  const desired = new Map(check.desired.map((row) => [row.key, row]));
  const read: Array<{ itemId: string; desired: DesiredEvent }> = [];
  for (const change of last.values()) {
    if (change.kind !== 'changed') continue;
    const row = delivered.get(change.itemId);
    if (!row?.changeKey || !change.changeKey || row.changeKey === change.changeKey) continue;
    const wanted = desired.get(row.key);
    if (wanted && wanted.contentHash === row.contentHash) read.push({ itemId: row.itemId, desired: wanted });
  }
  return read;
}
