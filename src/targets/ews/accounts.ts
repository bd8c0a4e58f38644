// The service-account pool: which account serves which mailbox.
//
// Exchange throttles EWS per account (EWSMaxConcurrency, the EWSPercentTimeIn* budgets; ErrorServerBusy with
// BackOffMilliseconds when a budget is spent: https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange).
// How much each account may send is the scheduler's to keep: the target declares each account as a lane
// (EwsTarget.laneFor, src/engine/scheduler.ts), with its concurrency and optional budget.
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
