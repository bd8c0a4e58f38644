// The one small interface every calendar target (Graph, EWS, CalDAV) implements.
//
// A target performs exactly one request per call, so that the scheduler, which owns all concurrency, can count,
// gate and retry each of them. Listing is paged for the same reason.
import type { DesiredEvent } from '../model/event.ts';
import { CalpushError } from '../model/errors.ts';

/** An item in the target calendar that carries our tag. */
export interface OwnedItem {
  key: string;
  itemId: string;
  changeKey: string | null;
  contentHash: string;
  transactionId: string | null;
}

export interface OwnedPage {
  items: OwnedItem[];
  /** Opaque cursor for the next page; absent on the last page. */
  next?: string;
}

export interface ItemRef {
  itemId: string;
  changeKey: string | null;
}

/** One operation inside a batch request. */
export type BatchOp =
  | { kind: 'create'; desired: DesiredEvent; transactionId: string }
  | { kind: 'update'; desired: DesiredEvent; item: ItemRef }
  | { kind: 'delete'; calendar: string; item: ItemRef };

/** The answer to one operation of a batch: a deleted item that was already gone counts as ok. */
export type BatchOutcome = { ok: true; item?: ItemRef } | { ok: false; error: TargetError };

/** How a target sends several operations on one calendar in one request. */
export interface BatchCapability {
  /** Most operations one request may carry. */
  readonly maxOps: number;
  /**
   * "chain": each operation waits for the one before (one concurrency slot on the server); "parallel": the
   * server runs up to `parallelism` of them at once (as many slots); "auto": the sender picks one per request
   * (delivery: chains while request slots are plentiful, parallel when many mailboxes share them).
   */
  readonly mode: 'chain' | 'parallel' | 'auto';
  readonly parallelism: number;
  /** Outcomes in the order of `ops` (`mode`: the sender's pick when `mode` is "auto"). Throws a TargetError only when the request as a whole failed. */
  run(calendar: string, ops: BatchOp[], mode?: 'chain' | 'parallel'): Promise<BatchOutcome[]>;
}

/**
 * Where a mailbox lives, as one service answers for itself (Exchange hybrid: on-premises Exchange's Autodiscover,
 * Microsoft Graph): `here` — the service holds the mailbox; `elsewhere` — it knows the mailbox and says it is held by
 * the other side (a redirect to Exchange Online; Graph's 404 MailboxNotEnabledForRESTAPI); `nowhere` — it does not know
 * the address. `answer` says what was asked and answered, for the status, the doctor and the log.
 */
export interface MailboxLocation {
  found: 'here' | 'elsewhere' | 'nowhere';
  answer: string;
}

export interface CalendarTarget {
  readonly kind: 'graph' | 'ews' | 'caldav';
  /** Asks the service where the mailbox lives (one request; Graph, EWS). Read-only. */
  locate?(mailbox: string): Promise<MailboxLocation>;
  /** Present when the target can send several operations in one request. */
  readonly batch?: BatchCapability;
  /** One page of the items in `calendar` that carry this instance's tag. */
  listOwned(calendar: string, cursor?: string): Promise<OwnedPage>;
  /** Creates the event, idempotently for the same transactionId. */
  create(desired: DesiredEvent, transactionId: string): Promise<ItemRef>;
  /** Replaces the delivered content of one of our items. */
  update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef>;
  /** Deletes one of our items. An item that is already gone counts as deleted. */
  remove(calendar: string, item: ItemRef): Promise<void>;
  close(): Promise<void>;
}

/**
 * How far a failure reaches:
 * - transient: retry the same request later (after retryAfterMs when the server said so);
 * - mailbox:   this mailbox cannot be used (no access, no such mailbox): stop it, report, go on with the others;
 * - item:      this one event was refused (e.g. the server rejects a value): report it, go on;
 * - gone:      the item no longer exists (deleted by a person);
 * - fatal:     nothing can work (bad credentials, wrong endpoint): stop the run with the remedy.
 */
export type FailureScope = 'transient' | 'mailbox' | 'item' | 'gone' | 'fatal';

export class TargetError extends CalpushError {
  readonly scope: FailureScope;
  readonly status: number | undefined;
  readonly retryAfterMs: number | undefined;
  /**
   * What the service's support asks for to find a request in its logs: Graph's `request-id` answer header and the
   * `client-request-id` calpush sent (https://learn.microsoft.com/graph/best-practices-concept, "Reliability and
   * support"). Logged with the failure; set where known (the client id also when no answer came).
   */
  requestId: string | undefined;
  clientRequestId: string | undefined;

  constructor(
    scope: FailureScope,
    code: string,
    message: string,
    details: { status?: number; retryAfterMs?: number; remedy?: string; cause?: unknown; requestId?: string; clientRequestId?: string } = {},
  ) {
    super(code, message, details);
    this.scope = scope;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.requestId = details.requestId;
    this.clientRequestId = details.clientRequestId;
  }

  /** The support ids as log fields (only those known). */
  supportIds(): { requestId?: string; clientRequestId?: string } {
    return { ...(this.requestId ? { requestId: this.requestId } : {}), ...(this.clientRequestId ? { clientRequestId: this.clientRequestId } : {}) };
  }
}
