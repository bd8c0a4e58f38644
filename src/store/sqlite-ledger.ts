// The request ledger of the SQLite store, written with the store's next transaction (a group commit).
//
// Every request is charged to its mailbox before it leaves (engine/sending.ts), one charge per request. Charged on
// its own, each was a transaction: over a quarter of a bulk delivery's commits (48,826 → 34,825 in workload (b)), and
// a commit (a WAL append of every page it touched) was the largest single cost of the store, ~155 µs each
// (docs/benchmarks.md, "Start cost and group commit of the request ledger"). The ledger only informs: another worker
// that takes a mailbox over counts what was spent there in Outlook's last 10 minutes. A charge that reaches the file
// a moment later (with the next write, e.g. the request's own create mark, or within LEDGER_WRITE_DELAY_MS) informs
// it as well. A crash may lose up to the last second of charges; Outlook's 429s with Retry-After, which the
// scheduler honours, remain the backstop.
import type { StatementSync } from 'node:sqlite';

/** The ledger's buckets (ms): a charge counts in the bucket its request left in, and a bucket counts as spent at its
 * end, so a window never looks emptier than it is. */
export const LEDGER_BUCKET_MS = 10_000;

/** At the latest this long after a charge, it is written even if the store has no other write meanwhile. */
export const LEDGER_WRITE_DELAY_MS = 1_000;

/** Buckets older than any window anyone asks about (Outlook's is 10 minutes) are of no use any more. */
const LEDGER_KEEP_MS = 3_600_000;

export interface Charge {
  calendar: string;
  worker: string;
  bucketMs: number;
  cost: number;
}

/**
 * Charges not yet written, summed per calendar, worker and bucket. While some wait, a timer asks for them to be
 * written LEDGER_WRITE_DELAY_MS after the first (not holding the process open: the store's close writes them).
 */
export class UnwrittenCharges {
  private readonly charges = new Map<string, Charge>();
  private timer: NodeJS.Timeout | undefined;
  private readonly writeSoon: () => void;

  /** @param writeSoon writes them in a transaction of their own; a failure leaves them waiting for the next try */
  constructor(writeSoon: () => void) {
    this.writeSoon = writeSoon;
  }

  get size(): number {
    return this.charges.size;
  }

  add(calendar: string, worker: string, atMs: number, cost: number): void {
    const bucketMs = atMs - (atMs % LEDGER_BUCKET_MS);
    const key = `${calendar}\0${worker}\0${bucketMs}`;
    const charge = this.charges.get(key);
    if (charge) charge.cost += cost;
    else this.charges.set(key, { calendar, worker, bucketMs, cost });
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.writeSoon();
    }, LEDGER_WRITE_DELAY_MS).unref();
  }

  /** Takes them all (to be written); give them back with putBack if the transaction that wrote them rolled back. */
  take(): Charge[] {
    clearTimeout(this.timer);
    this.timer = undefined;
    const taken = [...this.charges.values()];
    this.charges.clear();
    return taken;
  }

  putBack(charges: Charge[]): void {
    for (const { calendar, worker, bucketMs, cost } of charges) this.add(calendar, worker, bucketMs, cost);
  }
}

/** Writes charges inside the caller's transaction, and drops the buckets of their calendars nobody needs any more. */
export function writeCharges(statement: (sql: string) => StatementSync, charges: Charge[]): void {
  if (!charges.length) return;
  const add = statement(`
    INSERT INTO request_ledger (calendar, worker, bucket_ms, spent) VALUES (?, ?, ?, ?)
    ON CONFLICT (calendar, worker, bucket_ms) DO UPDATE SET spent = spent + excluded.spent`);
  const newest = new Map<string, number>();
  for (const { calendar, worker, bucketMs, cost } of charges) {
    add.run(calendar, worker, bucketMs, cost);
    newest.set(calendar, Math.max(bucketMs, newest.get(calendar) ?? 0));
  }
  const expire = statement('DELETE FROM request_ledger WHERE calendar = ? AND bucket_ms < ?');
  for (const [calendar, bucketMs] of newest) expire.run(calendar, bucketMs - LEDGER_KEEP_MS);
}
