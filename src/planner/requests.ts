// How planned operations become requests: which operations share a request (a JSON $batch, an EWS batch), in what
// order, and which shape a batch takes. Pure: the engine hands each group to the scheduler as one request.
import type { PendingOp } from '../model/rows.ts';

/** When an operation's event starts; unknown (an item found by a listing) counts as the far future. */
export function startOf(op: PendingOp): number {
  return op.startsAtMs ?? Number.MAX_SAFE_INTEGER;
}

/**
 * Groups of at most `maxOps`, in start order. Urgent operations (events starting before `urgentBefore`) never share
 * a group with far-future ones, so they are not held up by them: the scheduler sends the urgent groups first.
 */
export function requestGroups(ops: readonly PendingOp[], options: { maxOps: number; urgentBefore: number }): PendingOp[][] {
  const groups: PendingOp[][] = [];
  let current: PendingOp[] = [];
  const urgent = (op: PendingOp) => startOf(op) < options.urgentBefore;
  for (const op of [...ops].sort((a, b) => startOf(a) - startOf(b))) {
    if (current.length === options.maxOps || (current.length > 0 && urgent(current[0]!) !== urgent(op))) {
      groups.push(current);
      current = [];
    }
    current.push(op);
  }
  if (current.length) groups.push(current);
  return groups;
}

/** A request's place in the scheduler: its soonest event's start (lower goes first). */
export function requestPriority(group: readonly PendingOp[]): number {
  return Math.min(...group.map(startOf));
}

/** What a target offers (BatchCapability.mode), and what one batch request is sent as. */
export type BatchMode = 'chain' | 'parallel' | 'auto';
export type BatchShape = 'chain' | 'parallel';

export interface BatchShapeInput {
  /** The target's batch mode; absent when it cannot batch. */
  mode: BatchMode | undefined;
  /** Items of one parallel batch the server runs at once (Outlook: 4). */
  parallelism: number;
  /** Mailboxes with requests queued or in flight now. */
  activeMailboxes: number;
  /** Requests in flight across all mailboxes, at most. */
  globalConcurrency: number;
}

/**
 * The shape of the next batch request. "auto": chains (4 per mailbox, each one request slot for 20 × server time;
 * the round trip is hidden) while the active mailboxes leave enough global request slots for that; once they would
 * not, one parallel batch per mailbox (one request slot for ⌈20 / 4⌉ × server time + a round trip) does more with
 * each slot (docs/benchmarks.md measures both).
 */
export function batchShape(input: BatchShapeInput): BatchShape {
  if (input.mode === undefined || input.mode === 'chain') return 'chain';
  if (input.mode === 'parallel') return 'parallel';
  return input.activeMailboxes * input.parallelism > input.globalConcurrency ? 'parallel' : 'chain';
}
