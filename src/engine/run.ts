// What one deliver() call shares across the mailboxes it delivers: its options, progress, the versions each
// mailbox was planned at, the mailboxes being delivered now, and the failure that stopped the run.
import { hostname } from 'node:os';
import { systemClock, type Clock } from '../model/clock.ts';
import type { Store } from '../store/store.ts';
import type { CalendarTarget, TargetError } from '../targets/target.ts';
import type { Scheduler } from './scheduler.ts';
import type { MailboxSummary } from './summary.ts';

/** What delivery needs of a scheduler: the Scheduler itself, or a view of a shared one (calpush serve). */
export type DeliveryScheduler = Pick<Scheduler, 'submit' | 'abandonMailbox' | 'abandonAll' | 'activeMailboxes' | 'globalConcurrency'>;

export interface DeliveryLog {
  debug(fields: object, message: string): void;
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
}

export interface DeliveryOptions {
  store: Store;
  target: CalendarTarget;
  scheduler: DeliveryScheduler;
  instance: string;
  calendars: string[];
  /** List every mailbox's tagged items again, even where the store has a record of them. */
  reinventory?: boolean;
  /** Mailboxes whose pipelines run at once; requests are still gated per mailbox by the scheduler. */
  parallelMailboxes?: number;
  /** Identifies this worker in mailbox leases. */
  workerId?: string;
  leaseMs?: number;
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
  readonly workerId: string;
  readonly leaseMs: number;
  readonly maxAttempts: number;
  readonly clock: Clock;
  readonly progress = { done: 0, total: 0 };
  /** The desired version each mailbox was last planned at in this run. */
  readonly plannedVersions = new Map<string, number>();
  /** Mailboxes being delivered now → re-plan them (a change recorded while they run). */
  readonly running = new Map<string, () => void>();
  /** The failure no mailbox can get past (credentials, the endpoint, the store), once one was met. */
  fatal: TargetError | null = null;

  constructor(options: DeliveryOptions) {
    this.options = options;
    this.workerId = options.workerId ?? `${hostname()}:${process.pid}`;
    this.leaseMs = options.leaseMs ?? 15 * 60_000;
    this.maxAttempts = options.maxAttempts ?? 8;
    this.clock = options.clock ?? systemClock;
  }

  report(): void {
    this.options.onProgress?.({ ...this.progress });
  }
}
