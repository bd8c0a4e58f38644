// A dry run's answer for one mailbox: what a delivery would create, update and delete there, from the very planner a
// delivery uses (plan()), so a dry run cannot disagree with a real run about the same state. Pure, like plan().
import type { DeliveredRow, DesiredRow, DriftDecision, DriftPolicy } from '../model/rows.ts';
import { applyDrift } from './drift.ts';
import { plan } from './plan.ts';

/** How many ids of each kind of operation a preview names. */
export const PREVIEW_SAMPLE = 10;

export interface OperationPreview {
  count: number;
  /**
   * The first ids (the source's own ids), soonest event first. An item whose key is neither desired nor removed by this change (found by
   * a listing, or left by an earlier run) has no known id: it is named "key:<its key>".
   */
  ids: string[];
}

/**
 * What a real run would compare the desired state with:
 * - store:      what the store recorded as delivered (the real run lists nothing either);
 * - listed:     the target's tagged items, listed now with read-only requests, as the real run lists first;
 * - not-listed: the store has no complete record and the target was not (or could not be) listed — the target may
 *               hold tagged items the store does not know, which the real run would adopt or delete.
 */
export type PreviewBasis = 'store' | 'listed' | 'not-listed';

export interface MailboxPreview {
  calendar: string;
  basis: PreviewBasis;
  /** The named target a real run would deliver it through (set by the dry run, which asks the routing). */
  target?: string;
  /** The target that delivered it so far, when a real run would move it (and list and adopt on `target`). */
  movedFrom?: string;
  create: OperationPreview;
  update: OperationPreview;
  delete: OperationPreview;
  unchanged: number;
  /**
   * The watch's recorded findings (docs/drift.md) the plan applied, by policy: restore (an edit is updated back; a
   * deletion is created again if the listing does not find it), respect and detach (left alone). Only when any.
   */
  drift?: Record<DriftPolicy, OperationPreview>;
  /** What the preview cannot know, in words. */
  note?: string;
  /** Why the mailbox could not be listed. */
  error?: { code: string; message: string; remedy?: string };
}

export interface PreviewInput {
  instance: string;
  calendar: string;
  /** The desired state as the change would leave it. */
  desired: DesiredRow[];
  delivered: DeliveredRow[];
  generations: Map<string, number>;
  /** Source ids of the events the change removes from the desired set, by key. */
  removedIds: Map<string, string>;
  basis: PreviewBasis;
  /** The mailbox's drift findings (store.driftFor): applied as a real delivery applies them (engine/replanning.ts). */
  drift?: readonly DriftDecision[];
  sample?: number;
}

export function previewMailbox(input: PreviewInput): MailboxPreview {
  const sample = input.sample ?? PREVIEW_SAMPLE;
  const drifted = applyDrift(input.desired, input.delivered, input.drift ?? []);
  const { ops, unchanged } = plan({ instance: input.instance, calendar: input.calendar, desired: drifted.desired, delivered: drifted.delivered, generations: input.generations });
  const desiredIds = new Map(input.desired.map((row) => [row.key, row.sourceId]));
  const idOf = (key: string) => desiredIds.get(key) ?? input.removedIds.get(key) ?? `key:${key}`;
  const preview: MailboxPreview = {
    calendar: input.calendar,
    basis: input.basis,
    create: { count: 0, ids: [] },
    update: { count: 0, ids: [] },
    delete: { count: 0, ids: [] },
    unchanged,
  };
  // Soonest first: the ids shown are the events the run would touch first, not a random handful.
  ops.sort((a, b) => (a.startsAtMs ?? Number.POSITIVE_INFINITY) - (b.startsAtMs ?? Number.POSITIVE_INFINITY) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const op of ops) {
    const entry = preview[op.kind];
    entry.count++;
    if (entry.ids.length < sample) entry.ids.push(idOf(op.key));
  }
  if (input.drift?.length) {
    const drift: Record<DriftPolicy, OperationPreview> = { restore: { count: 0, ids: [] }, respect: { count: 0, ids: [] }, detach: { count: 0, ids: [] } };
    for (const finding of input.drift) {
      const entry = drift[finding.policy];
      entry.count++;
      if (entry.ids.length < sample) entry.ids.push(idOf(finding.key));
    }
    preview.drift = drift;
  }
  if (input.basis === 'not-listed') {
    preview.note = 'not yet listed; a real run lists it first: tagged events the store does not know would then be adopted, or deleted if not desired';
  }
  return preview;
}
