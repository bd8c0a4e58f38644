// EWS throttling (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange):
// budgets are per account ("EWS throttling policies are applied per user/account"); with impersonation the
// request is charged to a copy of the impersonated mailbox's budget, separate for each service account
// ("…are charged against a copy of the budget of the mailbox owner"). Each budget has
// - EWSMaxConcurrency (27 since Exchange 2013): more requests in flight → ErrorExceededConnectionCount;
// - a rate budget (Exchange spends milliseconds of server time, EwsMaxBurst/EwsRechargeRate; the sandbox counts
//   items, ≥ 1 per request, in a rolling window): spent → ErrorServerBusy with BackOffMilliseconds = time until the
//   budget has room again. "The BackOffMilliseconds value returned with ErrorServerBusy errors indicates to the
//   client the amount of time it should wait until it should resubmit the request" (same page).
import type { EwsThrottlingOptions } from '../types.ts';

/** Exchange 2013+ EWSMaxConcurrency 27; the rate budget is the sandbox's own model (see docs/sandbox.md). */
export const DEFAULT_EWS_THROTTLING: EwsThrottlingOptions = {
  enabled: true,
  maxConcurrency: 27,
  budgetItems: 6000,
  budgetWindowMs: 60_000,
  form: 'fault',
  perItem: true,
  batchTimeLimitMs: 60_000,
  overrun: 'items',
};

interface Budget {
  inFlight: number;
  /** (time, cost) of admissions within the window, oldest first */
  spent: Array<{ at: number; cost: number }>;
  total: number;
}

export type EwsAdmission =
  | { ok: true; release: () => void; inFlight: number }
  | { ok: false; code: 'ErrorServerBusy'; backOffMs: number }
  | { ok: false; code: 'ErrorExceededConnectionCount' };

export class EwsThrottler {
  options: EwsThrottlingOptions;
  private readonly budgets = new Map<string, Budget>();
  private readonly now: () => number;

  constructor(options: EwsThrottlingOptions, now: () => number = Date.now) {
    this.options = options;
    this.now = now;
  }

  /** New options; every budget starts afresh (spending forgotten, requests in flight still counted). */
  configure(o: Partial<EwsThrottlingOptions>): void {
    Object.assign(this.options, o);
    for (const b of this.budgets.values()) {
      b.spent = [];
      b.total = 0;
    }
  }

  private budget(key: string): Budget {
    let b = this.budgets.get(key);
    if (!b) {
      b = { inFlight: 0, spent: [], total: 0 };
      this.budgets.set(key, b);
    }
    const now = this.now();
    while (b.spent.length > 0 && b.spent[0]!.at <= now - this.options.budgetWindowMs) b.total -= b.spent.shift()!.cost;
    return b;
  }

  /** Ms until `charge` more items fit the budget, 0 when they fit now. */
  private waitFor(b: Budget, charge: number): number {
    const o = this.options;
    if (!o.enabled || b.total + charge <= o.budgetItems || b.spent.length === 0) return 0;
    // Time until enough old spending leaves the window for this request to fit.
    let need = b.total + charge - o.budgetItems;
    let until = b.spent[0]!.at;
    for (const s of b.spent) {
      need -= s.cost;
      until = s.at;
      if (need <= 0) break;
    }
    return Math.max(1, until + o.budgetWindowMs - this.now());
  }

  /**
   * One more item of a request already admitted: charged when the budget has room, else how long until it has.
   * ("When an Exchange server executes a batched request, it checks the user's budget after the execution of each
   * item within the batch. If the application is over budget, the processing of the next item in the batch is
   * delayed until the budget for that user has recharged", ews-throttling-in-exchange.)
   */
  chargeItem(key: string): { ok: true } | { ok: false; waitMs: number } {
    const b = this.budget(key);
    const waitMs = this.waitFor(b, 1);
    if (waitMs > 0) return { ok: false, waitMs };
    b.spent.push({ at: this.now(), cost: 1 });
    b.total += 1;
    return { ok: true };
  }

  acquire(key: string, cost: number): EwsAdmission {
    const b = this.budget(key);
    const o = this.options;
    const charge = Math.max(1, cost);
    if (o.enabled) {
      if (b.inFlight >= o.maxConcurrency) return { ok: false, code: 'ErrorExceededConnectionCount' };
      const backOffMs = this.waitFor(b, charge);
      if (backOffMs > 0) return { ok: false, code: 'ErrorServerBusy', backOffMs };
    }
    const now = this.now();
    b.spent.push({ at: now, cost: charge });
    b.total += charge;
    b.inFlight++;
    const budget = b;
    let released = false;
    return {
      ok: true,
      inFlight: b.inFlight,
      release: () => {
        if (released) return;
        released = true;
        budget.inFlight--;
      },
    };
  }
}
