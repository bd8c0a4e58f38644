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

/**
 * The levels the scheduler keeps its limits at (engine/scheduler.ts): everything calpush sends, a lane between that and
 * one mailbox that the target's server counts and throttles by (an EWS service account), and one mailbox.
 */
export type LaneLevel = 'global' | 'account' | 'mailbox';

/**
 * A lane between everything and one mailbox, as a target declares it for a calendar (laneFor): the server counts
 * and throttles the requests of every calendar in it together — an EWS service account serves many mailboxes, and
 * Exchange's budgets are the account's (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange).
 */
export interface ServiceLane {
  /** Names the lane apart from every other, across targets (the scheduler shares one lane per key). */
  key: string;
  /** Requests in flight at once in the lane (lowered while the server throttles it, regrown after successes). */
  concurrency: number;
  /** Optional rolling budget: at most this many items per minute (a request costs its items, at least 1). */
  itemsPerMinute?: number;
  /** Throttling answers of this lane a request may get before one counts as a failed attempt (default 0). */
  throttledRetries?: number;
}

/** One change the watch of a calendar saw: an item added or changed (with its ChangeKey / ETag now), or removed. */
export type WatchChange = { kind: 'changed'; itemId: string; changeKey: string | null } | { kind: 'removed'; itemId: string };

export interface WatchPage {
  changes: WatchChange[];
  /** Where the next call reads on (opaque: a Graph deltaLink or nextLink, an EWS SyncState, a CalDAV sync token). */
  state: string;
  /** The round is not over: call again with `state` for the next page. */
  more: boolean;
}

/**
 * Reading what changed in a calendar since a sync state (docs/drift.md): Graph calendarView/delta, EWS
 * SyncFolderItems, CalDAV sync-collection. A target without it is listed in full instead (the periodic reconcile).
 */
export interface WatchCapability {
  /**
   * One page of what changed since `state`; null: a full round, every item now in `window` (ms since the epoch)
   * reported as changed. A state the service no longer knows is a TargetError with code `SyncStateNotFound`: the
   * caller starts a full round.
   */
  changes(calendar: string, state: string | null, window: { start: number; end: number }): Promise<WatchPage>;
  /**
   * For items whose ChangeKey / ETag changed: reads them (one request, at most WATCH_READ_MAX items) and names, per
   * item, the managed fields (model/managed.ts) that now differ from `desired`, what calpush last wrote there. An
   * empty list: the change was no edit (a dismissed reminder). An item that is gone is left out (the watch reports
   * its removal). Absent: every new ChangeKey counts as an edit.
   */
  edits?(calendar: string, items: ReadonlyArray<{ itemId: string; desired: DesiredEvent }>): Promise<Map<string, string[]>>;
}

/** A change-notification subscription of one mailbox's calendar (Graph webhooks, docs/drift.md). */
export interface SubscriptionInfo {
  id: string;
  /** The mailbox it watches, as calpush names it; null when its resource names none calpush can read. */
  calendar: string | null;
  notificationUrl: string;
  /** When the service deletes it unless renewed (ms since the epoch). */
  expiresAt: number;
  /** null when the service does not say (it is never logged). */
  clientState: string | null;
}

export interface SubscriptionRequest {
  notificationUrl: string;
  lifecycleNotificationUrl: string;
  clientState: string;
  expiresAt: number;
}

/** Present when the target can send change notifications of a mailbox's calendar to an HTTPS endpoint. */
export interface SubscriptionCapability {
  /** The app's own subscriptions (`calendar` only keys the request's token and limits). */
  list(calendar: string): Promise<SubscriptionInfo[]>;
  create(calendar: string, request: SubscriptionRequest): Promise<SubscriptionInfo>;
  renew(calendar: string, id: string, expiresAt: number): Promise<SubscriptionInfo>;
  remove(calendar: string, id: string): Promise<void>;
}

/** Items one WatchCapability.edits call reads at most (Graph's JSON batch holds 20 requests). */
export const WATCH_READ_MAX = 20;

/** The service forgot the sync state (Graph 410 SyncStateNotFound, EWS ErrorInvalidSyncStateData, CalDAV valid-sync-token). */
export const WATCH_STATE_NOT_FOUND = 'SyncStateNotFound';

export interface CalendarTarget {
  readonly kind: 'graph' | 'ews' | 'caldav';
  /** Asks the service where the mailbox lives (one request; Graph, EWS). Read-only. */
  locate?(mailbox: string): Promise<MailboxLocation>;
  /**
   * The lane locate() is asked through, when the service takes one question at a time (EWS: Autodiscover on one
   * connection per service account). The scheduler holds the rest back in that lane, without a global place, rather
   * than letting them queue inside the target.
   */
  locateLane?(mailbox: string): ServiceLane;
  /** Present when the target can send several operations in one request. */
  readonly batch?: BatchCapability;
  /**
   * How long one request's exchange may take at most (the target's requestTimeoutMs; default 60 s): bounds when a
   * create that was sent may still land (engine/in-flight.ts).
   */
  readonly requestTimeoutMs?: number;
  /**
   * The lane between everything and the mailbox that the calendar's requests count against, if the server has one
   * (EWS: the service account serving the mailbox). Without it (the default) the scheduler keeps only the global
   * and the mailbox's limits.
   */
  laneFor?(calendar: string): ServiceLane | null;
  /** Present when the target can read what changed in a calendar since a sync state (docs/drift.md). */
  readonly watch?: WatchCapability;
  /** Present when the target can push change notifications of a mailbox's calendar (docs/drift.md). */
  readonly subscriptions?: SubscriptionCapability;
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
   * A throttling answer: the level whose limits the server says were exceeded, which the scheduler pauses for
   * `retryAfterMs` and slows down — "mailbox" for Graph's 429 (Outlook's limits are per app and mailbox), "account"
   * for Exchange's ErrorServerBusy and HTTP 503 (the service account's budget), "global" for a limit on everything
   * calpush sends. A 429 is a mailbox's throttling unless the target says otherwise.
   */
  readonly throttles: LaneLevel | undefined;
  /**
   * What the service's support asks for to find a request in its logs: Graph's `request-id` answer header and the
   * `client-request-id` calpush sent (https://learn.microsoft.com/graph/best-practices-concept, "Reliability and
   * support"). Logged with the failure; set where known (the client id also when no answer came).
   */
  requestId: string | undefined;
  clientRequestId: string | undefined;
  /**
   * The request never left (no token could be had for it): nothing it asked for can happen later, so a create that
   * failed so need not be waited for (engine/in-flight.ts). Set where known.
   */
  unsent = false;

  constructor(
    scope: FailureScope,
    code: string,
    message: string,
    details: { status?: number; retryAfterMs?: number; throttles?: LaneLevel; remedy?: string; cause?: unknown; requestId?: string; clientRequestId?: string } = {},
  ) {
    super(code, message, details);
    this.scope = scope;
    this.status = details.status;
    this.retryAfterMs = details.retryAfterMs;
    this.throttles = details.throttles ?? (details.status === 429 ? 'mailbox' : undefined);
    this.requestId = details.requestId;
    this.clientRequestId = details.clientRequestId;
  }

  /** The support ids as log fields (only those known). */
  supportIds(): { requestId?: string; clientRequestId?: string } {
    return { ...(this.requestId ? { requestId: this.requestId } : {}), ...(this.clientRequestId ? { clientRequestId: this.clientRequestId } : {}) };
  }
}
