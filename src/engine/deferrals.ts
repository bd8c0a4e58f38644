// When calpush serve may try a mailbox's delivery again (engine/loop.ts asks; the scheduler keeps them, issue #14:
// the scheduler owns every wait). A mailbox whose delivery failed waits min · 2^(n-1) after n failures in a row, at
// most max: an administrator fixes a 403 within minutes or days, and a mailbox that keeps failing must not cost a
// request every poll. One another process was delivering waits a short fixed time (its lease is released when that
// process is done). Times are monotonic milliseconds, like every other wait of the scheduler.

export interface RetryPolicy {
  /** The first wait after a failure, doubled for each further failure in a row … */
  retryMinMs: number;
  /** … up to this. */
  retryMaxMs: number;
  /** The wait for a mailbox another process was delivering. */
  busyRetryMs: number;
}

export const SERVE_RETRIES: RetryPolicy = { retryMinMs: 30_000, retryMaxMs: 3_600_000, busyRetryMs: 2_000 };

/** The back-off after `failures` failures in a row. */
export function backoffAfter(policy: RetryPolicy, failures: number): number {
  return Math.min(policy.retryMaxMs, policy.retryMinMs * 2 ** Math.max(0, failures - 1));
}

interface Deferral {
  until: number;
  failures: number;
}

export class Deferrals {
  private readonly policy: RetryPolicy;
  private readonly mailboxes = new Map<string, Deferral>();

  constructor(policy: RetryPolicy) {
    this.policy = policy;
  }

  /** The mailbox's delivery failed (`failed`) or another process was delivering it (`busy`: not a failure). */
  defer(calendar: string, why: 'failed' | 'busy', now: number): void {
    const failures = this.mailboxes.get(calendar)?.failures ?? 0;
    if (why === 'busy') this.mailboxes.set(calendar, { until: now + this.policy.busyRetryMs, failures });
    else this.mailboxes.set(calendar, { until: now + backoffAfter(this.policy, failures + 1), failures: failures + 1 });
  }

  /** Milliseconds until the mailbox may be tried again (0: now). */
  remaining(calendar: string, now: number): number {
    return Math.max(0, (this.mailboxes.get(calendar)?.until ?? 0) - now);
  }

  /** Delivered, or asked for now by an operator: its failures are forgotten. */
  clear(calendar: string): void {
    this.mailboxes.delete(calendar);
  }
}
