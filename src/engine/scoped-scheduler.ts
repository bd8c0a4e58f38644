// A view of calpush serve's shared Scheduler for one deliver() call (engine/loop.ts).
import type { Scheduler, SubmitOptions } from './scheduler.ts';
import type { DeliveryScheduler } from './run.ts';
import type { TargetError } from '../targets/target.ts';

/**
 * The part of the Scheduler that deliver() uses, over a shared scheduler: stopping a mailbox (or everything)
 * stops it for this call only. Requests already queued in the shared scheduler for a stopped mailbox fail when
 * their turn comes, without being sent.
 */
export class ScopedScheduler implements DeliveryScheduler {
  private readonly shared: Scheduler;
  private readonly stoppedMailboxes = new Map<string, TargetError>();
  private stoppedAll: TargetError | null = null;
  private readonly global: () => TargetError | null;
  private readonly onFatal: (error: TargetError) => void;

  constructor(shared: Scheduler, global: () => TargetError | null, onFatal: (error: TargetError) => void) {
    this.shared = shared;
    this.global = global;
    this.onFatal = onFatal;
  }

  private stopped(mailbox: string): TargetError | null {
    return this.stoppedAll ?? this.global() ?? this.stoppedMailboxes.get(mailbox) ?? null;
  }

  submit<T>(mailbox: string, run: () => Promise<T>, options: SubmitOptions<T> | number = {}): Promise<T> {
    const before = this.stopped(mailbox);
    if (before) return Promise.reject(before);
    return this.shared.submit(
      mailbox,
      () => {
        const stop = this.stopped(mailbox);
        return stop ? Promise.reject(stop) : run();
      },
      options,
    );
  }

  spentElsewhere(mailbox: string, spent: Array<{ agoMs: number; cost: number }>): void {
    this.shared.spentElsewhere(mailbox, spent);
  }

  holdMailbox(mailbox: string, forMs: number): void {
    this.shared.holdMailbox(mailbox, forMs);
  }

  activeMailboxes(): number {
    return this.shared.activeMailboxes();
  }

  get globalConcurrency(): number {
    return this.shared.globalConcurrency;
  }

  abandonMailbox(mailbox: string, error: TargetError): void {
    this.stoppedMailboxes.set(mailbox, error);
  }

  abandonAll(error: TargetError): void {
    this.stoppedAll = error;
    if (error.code !== 'ShuttingDown') this.onFatal(error);
  }
}
