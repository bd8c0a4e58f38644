// Mailbox leases: one process delivers a mailbox at a time (Store.claimMailbox); a lease left by a calpush process
// that was killed on this host is taken over at once instead of waiting for it to expire.
import { hostname } from 'node:os';
import type { Store } from '../store/store.ts';

/** Claims the mailbox for `workerId`; false when another live worker holds it. */
export async function claimMailbox(store: Store, calendar: string, workerId: string, leaseMs: number): Promise<boolean> {
  if (await store.claimMailbox(calendar, workerId, leaseMs)) return true;
  const holder = await store.leaseHolder(calendar);
  if (holder && isDeadLocalProcess(holder)) return store.takeOverMailbox(calendar, holder, workerId, leaseMs);
  return false;
}

/** Lease owners are "host:pid"; on this host a pid that no longer exists cannot be delivering. */
function isDeadLocalProcess(owner: string): boolean {
  const separator = owner.lastIndexOf(':');
  if (owner.slice(0, separator) !== hostname()) return false;
  const pid = Number(owner.slice(separator + 1));
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
