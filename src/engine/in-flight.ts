// Creates still on their way when a mailbox changes hands (issue #17, docs/workers.md "Creates in flight").
//
// A worker cut off from the database gives its lease up after 3/4 of its length, but a create it sent before may
// still reach the target afterwards: the request is on the wire, or the server is still working on it (a request
// given up by the client can still land). The next holder that listed the mailbox before then would not see the
// event and create it again — on EWS always (CreateItem has no transactionId; ours is found only within the process
// that sent it), on Graph when the event changed meanwhile (the transactionId covers the content). So each create
// is marked in the store, before each time it is sent, with the time it may land by (by the store's clock), and a
// delivery lists and plans its mailbox only once every pending create of it can have landed: the scheduler holds
// the mailbox until then (Scheduler.holdMailbox), so the wait is the scheduler's, like every other.
import type { CalendarTarget } from '../targets/target.ts';
import { TargetError } from '../targets/target.ts';

/** A target's requestTimeoutMs when it declares none (the config's default). */
const DEFAULT_REQUEST_TIMEOUT_MS = 60_000;
/** For the server to finish what it had received when the request was given up; at most one request timeout. */
const LANDING_MARGIN_MS = 10_000;

/**
 * How long after a create is handed to the target it may still land, at most: two exchanges, each bounded by the
 * request timeout (the create may follow one other: a token, or EWS's FindItem for a create whose earlier answer
 * was lost, targets/ews/target.ts recover()), and a margin for the server to finish a request the client gave up.
 */
export function createLandsWithinMs(target: CalendarTarget): number {
  const timeout = target.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  return 2 * timeout + Math.min(timeout, LANDING_MARGIN_MS);
}

/**
 * A create's failure that says nothing was made and nothing is on its way: the server answered and refused it (a
 * 4xx, for the item or for the whole mailbox), or the request never left (no token). Timeouts, resets and 5xx leave
 * the outcome unknown.
 */
export function nothingCanLand(error: unknown): boolean {
  return error instanceof TargetError && (error.unsent || (error.status !== undefined && error.status >= 400 && error.status < 500));
}
