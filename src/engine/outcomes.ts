// What to do with the answer to one operation: record it, stop the mailbox (or the run), create a gone item anew,
// send it again, or report it failed. Pure: the engine acts on the answer (engine/sending.ts).
import type { PendingOp } from '../model/rows.ts';
import type { BatchOutcome, ItemRef, TargetError } from '../targets/target.ts';

export type OutcomeAction =
  /** Done: record what was delivered. */
  | { kind: 'answered'; item: ItemRef | undefined }
  /** The mailbox (403/404) or everything (credentials, endpoint) cannot be used: stop it. */
  | { kind: 'halt'; error: TargetError }
  /** The item of an update is gone (deleted by a person) while the source still wants the event: create it anew. */
  | { kind: 'recreate' }
  /** Throttled or not run inside a batch: send it again once the batch's longest Retry-After has passed. */
  | { kind: 'retry'; error: TargetError }
  /** Refused, or out of attempts: report it, go on with the rest. */
  | { kind: 'fail'; error: TargetError };

export interface OutcomeContext {
  /** Operations in the request that carried this one (1: a single request). */
  requestSize: number;
  /** How often this operation has been sent, this time included. */
  attempt: number;
  maxAttempts: number;
}

/**
 * Items of a batch that were throttled or not run are sent again (https://learn.microsoft.com/graph/throttling,
 * "Throttling and batching"); a single request has already had its retries inside the scheduler.
 */
export function outcomeAction(op: PendingOp, outcome: BatchOutcome, context: OutcomeContext): OutcomeAction {
  if (outcome.ok) return { kind: 'answered', item: outcome.item };
  const { error } = outcome;
  if (error.scope === 'mailbox' || error.scope === 'fatal') return { kind: 'halt', error };
  if (error.scope === 'gone' && op.kind === 'update') return { kind: 'recreate' };
  if (error.scope === 'transient' && context.requestSize > 1 && context.attempt < context.maxAttempts) return { kind: 'retry', error };
  return { kind: 'fail', error };
}
