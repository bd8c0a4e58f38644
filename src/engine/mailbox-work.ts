// The working state of one mailbox's delivery, shared by planning (engine/replanning.ts), sending and recording
// (engine/sending.ts) and the delivery that drives them (engine/mailbox.ts).
import type { DesiredRow, PendingOp } from '../model/rows.ts';
import { requestGroups } from '../planner/requests.ts';
import type { Lease } from '../store/store.ts';
import type { CalendarTarget, TargetError } from '../targets/target.ts';
import { nothingCanLand } from './in-flight.ts';
import type { MailboxRoute } from './routes.ts';
import type { DeliveryRun, DeliveryScheduler } from './run.ts';
import { describeError, emptySummary, supportIds, type MailboxSummary } from './summary.ts';

/** A desired row as planning keeps it: everything but the event. */
export type PlannedRow = Omit<DesiredRow, 'event'>;

/** What a planned create/update sends: the event as JSON, and when it starts. */
export interface PlannedContent {
  eventJson: string;
  startsAtMs: number;
}

export abstract class MailboxWork {
  readonly run: DeliveryRun;
  readonly calendar: string;
  /** The target that serves the mailbox in this delivery, with its scheduler (engine/routes.ts). */
  readonly route: MailboxRoute;
  readonly summary: MailboxSummary;
  /** The lease this delivery holds the mailbox by: every write it records is fenced by it. */
  lease: Lease | undefined;
  /** The desired version the mailbox was last planned at. */
  plannedVersion = 0;
  /** Deletions so far per key (planner: part of the transactionId). */
  generations = new Map<string, number>();
  /** The desired rows of the last plan, without their events (the planner needs none; see contentOf). */
  desiredByKey = new Map<string, PlannedRow>();
  /**
   * The content each create/update was planned from: what it sends, even if the source changes meanwhile. Kept as
   * the event's JSON, not the parsed event (a fraction of its size: a mailbox of thousands of events queues them
   * all at once), and dropped once the operation is answered, failed or superseded.
   */
  readonly contentOf = new Map<PendingOp, PlannedContent>();
  /** Planned operations waiting in the scheduler. One a re-plan drops from here is superseded: its request skips it. */
  readonly queued = new Set<PendingOp>();
  /** Operations sent whose answers are not recorded yet; a re-plan leaves their keys alone. */
  readonly inFlight = new Set<PendingOp>();
  /**
   * Creates sent and queued to be sent again, their outcome unknown (a batch item answering 5xx, a missing answer,
   * no item id): the first attempt may have landed, so a re-plan leaves their keys alone as it does keys in flight.
   * Superseding one would plan a create with another transactionId: a second item if the first landed.
   */
  readonly resending = new Set<PendingOp>();
  /** Keys a re-plan left alone (in flight) although the source changed them: planned again once answered. */
  deferred = new Set<string>();
  /** Operations on events starting before this (ms since epoch) are urgent: they never share a request with others. */
  urgentBefore = 0;
  /** Why the mailbox stopped: its queued requests were dropped; reported once those in flight have settled. */
  stop: TargetError | null = null;
  private readonly tasks = new Set<Promise<void>>();
  private taskError: unknown = null;

  /** `summary`: carried on from an earlier try of the same mailbox in this run (a move found on the way). */
  constructor(run: DeliveryRun, calendar: string, route: MailboxRoute, summary?: MailboxSummary) {
    this.run = run;
    this.calendar = calendar;
    this.route = route;
    this.summary = summary ?? emptySummary(calendar);
    this.summary.target = route.name;
  }

  get target(): CalendarTarget {
    return this.route.target;
  }

  get scheduler(): DeliveryScheduler {
    return this.route.scheduler;
  }

  /** Plans the mailbox again against the store's current desired state (coalesced: one re-plan at a time). */
  abstract replan(): Promise<void>;
  /** Queues freshly planned operations as requests (in groups) through the scheduler. */
  abstract send(ops: PendingOp[]): void;

  /** Operations in request groups: as many as the target's batch carries, urgent ones apart (planner/requests.ts). */
  groups(ops: PendingOp[]): PendingOp[][] {
    const batch = this.target.batch;
    return requestGroups(ops, { maxOps: batch ? batch.maxOps : 1, urgentBefore: this.urgentBefore });
  }

  /** Keeps a running task (a request group, a re-plan); its failure is thrown by settle(). */
  track(task: Promise<unknown>): void {
    const settled: Promise<void> = task
      .then(
        () => {},
        (error: unknown) => {
          this.taskError ??= error;
        },
      )
      .then(() => {
        this.tasks.delete(settled);
      });
    this.tasks.add(settled);
  }

  get busy(): boolean {
    return this.tasks.size > 0;
  }

  /** Waits until no task runs (tasks may start more while it waits); throws the first task's failure. */
  async settle(): Promise<void> {
    while (this.tasks.size) await Promise.all([...this.tasks]);
    if (this.taskError) throw this.taskError;
  }

  /** The mailbox's desired version in the store now. */
  async desiredVersion(): Promise<number> {
    return (await this.run.options.store.mailbox(this.calendar))?.desiredVersion ?? 0;
  }

  /** Stops the mailbox at once (queued requests are dropped); reported once in-flight ones have settled. */
  halt(error: TargetError): void {
    if (this.stop) return;
    this.stop = error;
    if (error.scope === 'fatal') this.scheduler.abandonAll(error);
    else this.scheduler.abandonMailbox(this.calendar, error);
  }

  /** One operation failed for good: logged, reported, recorded with the pending operation. */
  async fail(op: PendingOp, error: unknown): Promise<void> {
    const failure = describeError(error);
    const id = this.desiredByKey.get(op.key)?.sourceId;
    this.run.options.log?.warn({ calendar: this.calendar, id, operation: op.kind, code: failure.code, ...supportIds(error) }, failure.message);
    this.summary.failed++;
    this.summary.failures.push({ id: id ?? op.key, operation: op.kind, code: failure.code, message: failure.message });
    // A refused or unsent create cannot land later: the mailbox's next holder need not wait for it (in-flight.ts).
    await this.run.options.store.recordOpFailure(this.calendar, op.key, `${failure.code}: ${failure.message}`, this.lease, op.kind === 'create' && nothingCanLand(error));
    this.contentOf.delete(op);
    this.run.progress.done++;
    this.run.report();
  }
}
