// What one deliver() call shares across the mailboxes it delivers: its options, progress, the versions each
// mailbox was planned at, the mailboxes being delivered now, and the failure that stopped the run.
import { systemClock, type Clock } from '../model/clock.ts';
import type { DeliveryStore } from '../store/store.ts';
import type { CalendarTarget, TargetError } from '../targets/target.ts';
import { DEFAULT_LEASE_MS, defaultWorkerId, LeaseKeeper, ledgerName } from './lease.ts';
import { singleRoute, type DeliveryScheduler, type MailboxRoutes } from './routes.ts';
import type { MailboxSummary } from './summary.ts';

export type { DeliveryScheduler } from './routes.ts';

export interface DeliveryLog {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface DeliveryOptions {
  store: DeliveryStore;
  /**
   * Which target (with its scheduler) serves each mailbox (engine/routes.ts). Without it, `target` and `scheduler`
   * serve every mailbox as the target named "default".
   */
  routes?: MailboxRoutes;
  target?: CalendarTarget;
  scheduler?: DeliveryScheduler;
  instance: string;
  calendars: string[];
  /** List every mailbox's tagged items again, even where the store has a record of them. */
  reinventory?: boolean;
  /** Mailboxes whose pipelines run at once; requests are still gated per mailbox by the scheduler. */
  parallelMailboxes?: number;
  /** Identifies this worker in mailbox leases (default defaultWorkerId(): one per process). */
  workerId?: string;
  /**
   * Names the requests this call's scheduler sends in the store's request ledger (ledgerName): what a new holder
   * of a mailbox reads as spent elsewhere is everything else. Default: a new name for this call, right for a
   * scheduler of its own (calpush sync); a caller that passes one scheduler to several calls (the serve loop)
   * passes one name to all of them, since the scheduler already counts their requests.
   */
  ledgerId?: string;
  /** How long a lease lasts without a heartbeat (default DEFAULT_LEASE_MS). */
  leaseMs?: number;
  /** The heartbeat of this worker's leases, shared by the deliver() calls of one process (calpush serve). */
  leases?: LeaseKeeper;
  onProgress?: (progress: { done: number; total: number }) => void;
  /** Sends of one operation inside batches before it counts as failed. */
  maxAttempts?: number;
  /** How often the store is asked for desired-state changes made while this delivery runs. */
  watchIntervalMs?: number;
  /** Structured log (pino's shape); nothing is logged without one. Never given secrets. */
  log?: DeliveryLog;
  /** Operations on events starting sooner than this are urgent: batched only with each other (the scheduler's window). */
  urgentWithinMs?: number;
  /**
   * Where changes recorded while this delivery runs come from: a subscription that calls back with the changed
   * calendar (calpush serve's loop, which already watches the store) and returns its unsubscribe; without one,
   * the store is asked every `watchIntervalMs`.
   */
  changes?: (listener: (calendar: string) => void) => () => void;
  /**
   * How long to keep trying a mailbox another process is delivering ("busy"): once its lease is free it is
   * delivered here (or found delivered). 0 (the default) reports it busy at once.
   */
  busyWaitMs?: number;
  /** Called each time a mailbox's delivery ends (also "busy" and "failed"), while the rest goes on. */
  onMailboxDone?: (summary: MailboxSummary) => void;
  /** What time it is: which operations are urgent (default: the system clock). Waits are measured monotonically. */
  clock?: Clock;
}

export class DeliveryRun {
  readonly options: DeliveryOptions;
  readonly routes: MailboxRoutes;
  readonly workerId: string;
  readonly ledgerId: string;
  readonly leaseMs: number;
  readonly leases: LeaseKeeper;
  readonly maxAttempts: number;
  readonly clock: Clock;
  readonly progress = { done: 0, total: 0 };
  /** The desired version each mailbox was last planned at in this run. */
  readonly plannedVersions = new Map<string, number>();
  /** Mailboxes being delivered now → re-plan them (a change recorded while they run). */
  readonly running = new Map<string, () => void>();
  /**
   * The first failure no mailbox of its target can get past (credentials, the endpoint) or no mailbox at all (the
   * store), once one was met: what the summary reports as having stopped the run.
   */
  fatal: TargetError | null = null;
  /** Targets stopped by such a failure (their schedulers refuse every request), by name. */
  readonly stoppedTargets = new Map<string, TargetError>();
  /** The store failed: nothing can be recorded, every target was stopped. */
  storeFailed = false;

  /** Nothing more can be delivered in this run: the store failed, or every target was stopped. */
  halted(): boolean {
    return this.storeFailed || (this.stoppedTargets.size > 0 && this.stoppedTargets.size >= this.routes.schedulers().length);
  }

  constructor(options: DeliveryOptions) {
    this.options = options;
    this.routes = deliveryRoutes(options);
    this.workerId = options.workerId ?? defaultWorkerId();
    this.ledgerId = options.ledgerId ?? ledgerName(this.workerId);
    this.leases = options.leases ?? new LeaseKeeper(options.store, options.leaseMs ?? DEFAULT_LEASE_MS);
    this.leaseMs = this.leases.leaseMs;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.clock = options.clock ?? systemClock;
  }

  report(): void {
    this.options.onProgress?.({ ...this.progress });
  }
}

/** The options' routes, or the one target and scheduler they name. */
export function deliveryRoutes(options: Pick<DeliveryOptions, 'routes' | 'target' | 'scheduler'>): MailboxRoutes {
  if (options.routes) return options.routes;
  if (!options.target || !options.scheduler) throw new Error('deliver() needs routes, or a target and a scheduler');
  return singleRoute(options.target, options.scheduler);
}
