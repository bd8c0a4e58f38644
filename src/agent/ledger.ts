// The agent's requests in the store's request ledger (store.ts RequestLedger). Outlook's budget of 10,000 requests
// per 10 minutes is per app and mailbox, whichever process sends them
// (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits): the agent's reads and answers count
// against a room's budget as delivery's do, and what other workers spent on the mailbox counts in this scheduler.
import { OUTLOOK_LIMITS, type Scheduler } from '../engine/scheduler.ts';
import type { RequestLedger } from '../store/store.ts';

/** Where the agent charges its requests: the store's ledger, under one name per scheduler (engine/lease.ts ledgerName). */
export interface AgentLedger {
  store: RequestLedger;
  id: string;
}

/** One pass's view of the ledger: what others spent on a mailbox is read once, before the pass's first request to it. */
export class PassLedger {
  private readonly ledger: AgentLedger | undefined;
  private readonly scheduler: Scheduler;
  private readonly told = new Map<string, Promise<void>>();

  constructor(ledger: AgentLedger | undefined, scheduler: Scheduler) {
    this.ledger = ledger;
    this.scheduler = scheduler;
  }

  /** Tells the scheduler what other workers spent on `mailbox` in the budget window (once per pass and mailbox). */
  spentElsewhere(mailbox: string): Promise<void> {
    const ledger = this.ledger;
    if (!ledger) return Promise.resolve();
    const key = mailbox.toLowerCase();
    let told = this.told.get(key);
    if (!told) {
      told = ledger.store.requestsSpentByOthers(mailbox, ledger.id, OUTLOOK_LIMITS.mailboxBudget.windowMs).then((spent) => this.scheduler.spentElsewhere(mailbox, spent));
      this.told.set(key, told);
    }
    return told;
  }

  /** Charges `cost` requests to `mailbox` (as the request leaves, inside the scheduler's slot). */
  async charge(mailbox: string, cost: number): Promise<void> {
    if (this.ledger) await this.ledger.store.chargeRequests(mailbox, this.ledger.id, cost);
  }
}
