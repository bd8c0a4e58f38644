// The service-account pool: which account serves which mailbox, and how much each account may send.
//
// Exchange throttles EWS per account (EWSMaxConcurrency, the EWSPercentTimeIn* budgets; ErrorServerBusy with
// BackOffMilliseconds when a budget is spent: https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange).
// In delegate mode every request is charged to the service account that sends it, so several accounts with
// delegate rights (granted to a security group holding them all) multiply what calpush may send. Under
// impersonation the budget is charged to a copy of the impersonated mailbox's budget instead, so extra accounts
// add little there: the pool pays off in delegate mode.
//
// Assignment: rendezvous (highest-random-weight) hashing. Each mailbox goes to the account with the highest
// weighted score hash(account, mailbox): stable across runs and processes without any stored state; adding an
// account moves only the mailboxes that now score highest on it (about 1/n of them), removing one moves only its
// own mailboxes. Weights let a bigger account (a relaxed throttling policy) take a larger share.
import { createHash } from 'node:crypto';
import { TargetError } from '../target.ts';

export interface AccountWeight {
  /** Identifies the account in the hash: its user name, case-insensitively (a password change moves nothing). */
  name: string;
  weight?: number;
}

/** A score in (0, ∞) for the pair; higher wins. Weighted rendezvous hashing: -w / ln(u), u uniform in (0, 1). */
export function rendezvousScore(account: string, mailbox: string, weight = 1): number {
  const digest = createHash('sha256').update(`${account.toLowerCase()}\n${mailbox.toLowerCase()}`).digest();
  // 52 bits: exactly representable as a double.
  const high = digest.readUInt32BE(0);
  const low = digest.readUInt32BE(4) >>> 12;
  const u = (high * 2 ** 20 + low + 0.5) / 2 ** 52;
  return -weight / Math.log(u);
}

/** The index of the account that serves `mailbox`. */
export function assignAccount(accounts: readonly AccountWeight[], mailbox: string): number {
  let best = -1;
  let bestScore = -Infinity;
  for (const [index, account] of accounts.entries()) {
    const score = rendezvousScore(account.name, mailbox, account.weight ?? 1);
    if (score > bestScore || (score === bestScore && best >= 0 && account.name < accounts[best]!.name)) {
      best = index;
      bestScore = score;
    }
  }
  if (best < 0) throw new Error('no service account to assign');
  return best;
}

export interface AccountGateOptions {
  /** Requests of this account in flight at once (Exchange's EWSMaxConcurrency is 10 on 2010, 27 on 2013+). */
  concurrency: number;
  /** Optional rolling budget: at most this many items per minute (a request costs its items, at least 1). */
  itemsPerMinute?: number;
}

export interface GateStats {
  maxInFlight: number;
  busy: number;
  waitedMs: number;
}

/**
 * Per-account gate. The scheduler owns concurrency per mailbox; it cannot see that many mailboxes share one
 * service account, and Exchange counts (and throttles) per account. So every request also passes its account's
 * gate here: at most `concurrency` in flight, an optional per-minute budget, and a pause for the whole account
 * when Exchange answers ErrorServerBusy (BackOffMilliseconds), with the account's concurrency halved and grown
 * back by one after a run of successes — the scheduler's AIMD, one level up. A request waiting here still holds
 * its mailbox's scheduler slot, which is what we want: that mailbox cannot go faster than its account anyway.
 */
export class AccountGate {
  readonly max: number;
  private limit: number;
  private inFlight = 0;
  private pausedUntil = 0;
  private successes = 0;
  private readonly perMinute: number | undefined;
  /** [time, cost] of admissions within the last minute, oldest first, and their sum. */
  private readonly sent: Array<[number, number]> = [];
  private sentTotal = 0;
  private readonly waiters: Array<{ resolve: (slot: number) => void; reject: (error: unknown) => void; since: number; cost: number }> = [];
  private readonly freeSlots: number[];
  private timer: NodeJS.Timeout | null = null;
  private closed: TargetError | null = null;
  readonly stats: GateStats = { maxInFlight: 0, busy: 0, waitedMs: 0 };

  constructor(options: AccountGateOptions) {
    this.max = Math.max(1, Math.floor(options.concurrency));
    this.limit = this.max;
    this.perMinute = options.itemsPerMinute;
    this.freeSlots = Array.from({ length: this.max }, (_, index) => this.max - 1 - index);
  }

  /** Concurrency allowed now (lowered by ErrorServerBusy). */
  get currentLimit(): number {
    return this.limit;
  }

  /**
   * Resolves with a connection slot index once the account may send; call release(slot) afterwards. `cost` counts
   * against the per-minute budget; `first` puts the request at the head of the line (a request Exchange refused as
   * busy keeps its place instead of queueing behind everything that arrived meanwhile).
   */
  acquire(cost = 1, first = false): Promise<number> {
    if (this.closed) return Promise.reject(this.closed);
    return new Promise((resolve, reject) => {
      const waiter = { resolve, reject, since: Date.now(), cost: Math.max(1, cost) };
      if (first) this.waiters.unshift(waiter);
      else this.waiters.push(waiter);
      this.pump();
    });
  }

  release(slot: number, outcome: 'ok' | 'busy' | 'other'): void {
    this.inFlight--;
    this.freeSlots.push(slot);
    if (outcome === 'ok' && this.limit < this.max && ++this.successes >= 8 * this.limit) {
      this.limit++;
      this.successes = 0;
    }
    this.pump();
  }

  /** Exchange said the account is over budget: nobody sends as it for `ms`, and it sends at half the concurrency. */
  busy(ms: number): void {
    this.stats.busy++;
    this.pausedUntil = Math.max(this.pausedUntil, Date.now() + ms);
    this.limit = Math.max(1, Math.floor(this.limit / 2));
    this.successes = 0;
    this.pump();
  }

  close(error: TargetError): void {
    this.closed = error;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const waiter of this.waiters.splice(0)) waiter.reject(error);
  }

  private pump(): void {
    if (this.timer) return;
    const now = Date.now();
    while (this.waiters.length > 0 && this.inFlight < this.limit) {
      let at = this.pausedUntil > now ? this.pausedUntil : 0;
      const cost = this.waiters[0]!.cost;
      if (this.perMinute !== undefined) {
        while (this.sent.length > 0 && this.sent[0]![0] <= now - 60_000) this.sentTotal -= this.sent.shift()![1];
        if (this.sentTotal + cost > this.perMinute && this.sent.length > 0) {
          // Wait until enough of the minute has rolled off for this request.
          let freed = 0;
          for (const [time, spent] of this.sent) {
            freed += spent;
            if (this.sentTotal - freed + cost <= this.perMinute) {
              at = Math.max(at, time + 60_000);
              break;
            }
          }
        }
      }
      if (at > now) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.pump();
        }, at - now);
        return;
      }
      const waiter = this.waiters.shift()!;
      const slot = this.freeSlots.pop()!;
      this.inFlight++;
      if (this.perMinute !== undefined) {
        this.sent.push([now, waiter.cost]);
        this.sentTotal += waiter.cost;
      }
      this.stats.maxInFlight = Math.max(this.stats.maxInFlight, this.inFlight);
      this.stats.waitedMs += now - waiter.since;
      waiter.resolve(slot);
    }
  }
}
