// Drift: what people did to our events in their calendars, and what planning makes of it (docs/drift.md). Pure.
//
// The watch (engine/watch.ts) reports item ids and change keys (Graph delta cannot return our tag, EWS SyncFolderItems
// is asked for ids only, CalDAV sync-collection gives hrefs and ETags), so drift is found by matching them against
// the items calpush delivered: a person's own events are never among those, and are never looked at again.
// - edited: the item's ChangeKey / ETag is not the one calpush's last write (or listing) recorded — the watch has
//   already dropped the changes that touched none of the fields calpush manages (engine/edits.ts, model/managed.ts);
// - deleted: the item was removed. Graph also reports events that left the delta window as removed, so a removal
//   of an item calpush itself placed outside the window is no deletion.
// What each policy does to the plan: `restore` an edit → the item is planned as stale (updated back to the desired
// content) until calpush's own write gives it a new ChangeKey; `restore` a deletion is a listing of the mailbox
// (engine/watch.ts: the listing, not the watch, decides what is created, so nothing is created twice); `respect`
// → the event is left alone while the source keeps it as it was when the change was seen; `detach` → the event is
// never planned again (neither created, updated nor deleted), whatever the source does.
import type { DeliveredRow, DesiredRow, DriftDecision, DriftKind, DriftPolicy } from '../model/rows.ts';

export type { DriftDecision };

/** What one policy does about edits and about deletions. */
export interface DriftPolicies {
  edited: DriftPolicy;
  deleted: DriftPolicy;
}

/** A change the watch saw (targets' WatchChange). */
export type SeenChange = { kind: 'changed'; itemId: string; changeKey: string | null } | { kind: 'removed'; itemId: string };


export interface FindDriftInput {
  delivered: readonly DeliveredRow[];
  desired: readonly Pick<DesiredRow, 'key' | 'contentHash'>[];
  changes: readonly SeenChange[];
  /** What was found before (the store's drift rows): a finding seen again is not a new one; detached keys are ignored. */
  known: readonly DriftDecision[];
  /** The window the watch read (Graph delta), if it has one: removals of items placed outside it are no deletions. */
  window: { start: number; end: number } | null;
  policyOf(key: string): DriftPolicies;
}

/** The new findings among the changes, each with the policy that answers it. */
export function findDrift(input: FindDriftInput): DriftDecision[] {
  const byItem = new Map(input.delivered.map((row) => [row.itemId, row]));
  const desired = new Map(input.desired.map((row) => [row.key, row.contentHash]));
  const known = new Map(input.known.map((row) => [row.key, row]));
  // The last change of an item counts (a page may hold an update and then the deletion).
  const last = new Map<string, SeenChange>();
  for (const change of input.changes) last.set(change.itemId, change);
  const found: DriftDecision[] = [];
  for (const change of last.values()) {
    const row = byItem.get(change.itemId);
    if (!row) continue; // not an item calpush delivered: a person's own event, or another deployment's
    const before = known.get(row.key);
    if (before?.policy === 'detach') continue;
    const kind = driftKind(row, change, input.window);
    if (!kind) continue;
    const changeKey = change.kind === 'changed' ? change.changeKey : null;
    if (before && before.kind === kind && before.itemId === row.itemId && before.changeKey === changeKey) continue;
    const policy = input.policyOf(row.key)[kind];
    found.push({ key: row.key, kind, policy, itemId: row.itemId, changeKey, contentHash: policy === 'respect' ? (desired.get(row.key) ?? null) : null });
  }
  return found;
}

function driftKind(row: DeliveredRow, change: SeenChange, window: { start: number; end: number } | null): DriftKind | null {
  if (change.kind === 'changed') {
    // Unknown on either side (a server that gave no ETag on the write): nothing to compare, no finding.
    return row.changeKey && change.changeKey && row.changeKey !== change.changeKey ? 'edited' : null;
  }
  const starts = row.startsAtMs;
  if (window && typeof starts === 'number' && (starts < window.start || starts >= window.end)) return null;
  return 'deleted';
}

/**
 * The rows a plan is made of, with the drift found in the mailbox applied: detached events and respected ones (while
 * the source keeps them as they were) are left out on both sides; an item edited by a person that is to be restored
 * is stale (its content hash no longer matches), so the plan updates it.
 */
export function applyDrift<D extends Pick<DesiredRow, 'key' | 'contentHash'>>(desired: readonly D[], delivered: readonly DeliveredRow[], drift: readonly DriftDecision[]): { desired: D[]; delivered: DeliveredRow[] } {
  if (!drift.length) return { desired: [...desired], delivered: [...delivered] };
  const wanted = new Map(desired.map((row) => [row.key, row.contentHash]));
  const leave = new Set<string>();
  const stale = new Map<string, string | null>();
  for (const row of drift) {
    if (row.policy === 'detach' || (row.policy === 'respect' && wanted.has(row.key) && wanted.get(row.key) === row.contentHash)) leave.add(row.key);
    else if (row.policy === 'restore' && row.kind === 'edited') stale.set(row.itemId, row.changeKey);
  }
  return {
    desired: desired.filter((row) => !leave.has(row.key)),
    delivered: delivered
      .filter((row) => !leave.has(row.key))
      .map((row) => (stale.has(row.itemId) && stale.get(row.itemId) === row.changeKey ? { ...row, contentHash: '' } : row)),
  };
}
