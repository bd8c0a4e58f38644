// The serve loop's back-offs (engine/loop.ts): a mailbox whose delivery failed is tried again after min · 2^(n-1)
// (n failures in a row, at most max); one another process was delivering after a short fixed wait; a failure no
// mailbox can get past (credentials, the endpoint) pauses all delivery the same way. They are "when to try a
// mailbox again", not waits on a request; kept in one place so that they can become scheduler policy (issue #14:
// the scheduler owns every wait).
import type { Clock } from '../model/clock.ts';
import type { TargetError } from '../targets/target.ts';

interface Backoff {
  until: number;
  failures: number;
}

export class Backoffs {
  private readonly clock: Clock;
  private readonly minMs: number;
  private readonly maxMs: number;
  private readonly mailboxes = new Map<string, Backoff>();
  private everything: (Backoff & { error: TargetError }) | null = null;

  constructor(clock: Clock, minMs: number, maxMs: number) {
    this.clock = clock;
    this.minMs = minMs;
    this.maxMs = maxMs;
  }

  /** Whether the mailbox is waiting out a back-off at `now`. */
  waiting(calendar: string, now: number): boolean {
    return (this.mailboxes.get(calendar)?.until ?? 0) > now;
  }

  mailboxFailed(calendar: string): void {
    const failures = (this.mailboxes.get(calendar)?.failures ?? 0) + 1;
    this.mailboxes.set(calendar, { until: this.clock.now() + this.delay(failures), failures });
  }

  /** Another process was delivering the mailbox: try again after `ms` (not a failure). */
  mailboxBusy(calendar: string, ms: number): void {
    this.mailboxes.set(calendar, { until: this.clock.now() + ms, failures: this.mailboxes.get(calendar)?.failures ?? 0 });
  }

  mailboxDelivered(calendar: string): void {
    this.mailboxes.delete(calendar);
  }

  /** An operator asked for the mailbox now (DeliveryLoop.deliverNow): its back-off is forgotten. */
  forget(calendar: string): void {
    this.mailboxes.delete(calendar);
  }

  /** A failure no mailbox can get past: all delivery pauses. */
  pauseAll(error: TargetError): void {
    const failures = (this.everything?.failures ?? 0) + 1;
    this.everything = { error, failures, until: this.clock.now() + this.delay(failures) };
  }

  /** What paused all delivery, while the pause lasts. */
  paused(now = this.clock.now()): { error: TargetError; until: number } | null {
    return this.everything && this.everything.until > now ? this.everything : null;
  }

  /** A run without such a failure after the pause ended: the next one starts from the shortest pause again. */
  resumed(): void {
    if (this.everything && this.everything.until <= this.clock.now()) this.everything = null;
  }

  private delay(failures: number): number {
    return Math.min(this.maxMs, this.minMs * 2 ** (failures - 1));
  }
}
