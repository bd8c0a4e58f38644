// Mailbox leases: one worker delivers a mailbox at a time (MailboxLeases.claimMailbox), however many processes or
// machines share the store. A lease is short (DEFAULT_LEASE_MS) and kept alive by its holder's heartbeat
// (LeaseKeeper), so a worker that dies — killed, its machine gone — leaves leases that expire within
// DEFAULT_LEASE_MS and another worker takes its mailboxes over; a lease left by a calpush process that was killed
// in this process's own pid namespace on this machine is taken over at once instead of waiting for it to expire.
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import type { Lease, MailboxLeases } from '../store/store.ts';

/**
 * How long a lease lasts without a heartbeat: a dead worker's mailboxes are taken over by another within this,
 * plus the other's retry of a busy mailbox (the serve loop's busyRetryMs, 2 s).
 */
export const DEFAULT_LEASE_MS = 20_000;

/**
 * The lease owner of one of a worker's roles besides delivery ("watch", "agent"): `workerId/role`. Delivery, the
 * watch and the agent of one worker then exclude each other on a mailbox like those of different workers, and one
 * releasing its lease frees no other's. isDeadLocalProcess reads the worker id in front of the role.
 */
export function leaseOwner(workerId: string, role: 'watch' | 'agent'): string {
  return `${workerId}/${role}`;
}

/** Claims the mailbox for `workerId`; null when another live worker holds it. */
export async function claimMailbox(store: MailboxLeases, calendar: string, workerId: string, leaseMs: number): Promise<Lease | null> {
  const lease = await store.claimMailbox(calendar, workerId, leaseMs);
  if (lease) return lease;
  const holder = await store.leaseHolder(calendar);
  if (holder && isDeadLocalProcess(holder)) return store.takeOverMailbox(calendar, holder, workerId, leaseMs);
  return null;
}

/** Told apart from every other process, also one with the same host name and pid (a container's pid 1). */
const processNonce = randomBytes(4).toString('hex');
let processWorkerId: string | undefined;

/**
 * This process's worker id when none is given: "host:pid:nonce", and "@namespace" where the system says which
 * kernel and pid namespace the process runs in. Two replicas with host networking share the host's name and are
 * often both pid 1: the nonce keeps their leases (and fencing tokens) apart; the namespace lets a worker tell a
 * pid it can look up (its own namespace on its own machine) from one it cannot (isDeadLocalProcess).
 */
export function defaultWorkerId(): string {
  if (processWorkerId) return processWorkerId;
  const namespace = pidNamespace();
  processWorkerId = `${hostname()}:${process.pid}:${processNonce}${namespace ? `@${namespace}` : ''}`;
  return processWorkerId;
}

/**
 * The name a worker's requests are charged under in the store's request ledger: one per scheduler (the spend
 * the scheduler counts itself), so that a worker restarted under a fixed --worker-id still sees what its previous
 * process spent in the window as spent elsewhere.
 */
export function ledgerName(workerId: string): string {
  return `${workerId}#${randomBytes(4).toString('hex')}`;
}

let processNamespace: string | null | undefined;

/**
 * The machine (its boot id) and pid namespace this process runs in, hashed; null where /proc does not say (not
 * Linux). A pid means the same process only inside one pid namespace of one running kernel
 * (https://man7.org/linux/man-pages/man7/pid_namespaces.7.html); a namespace's inode number is unique while it
 * lives (https://man7.org/linux/man-pages/man7/namespaces.7.html).
 */
function pidNamespace(): string | null {
  if (processNamespace !== undefined) return processNamespace;
  try {
    const boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    const namespace = readlinkSync('/proc/self/ns/pid');
    processNamespace = createHash('sha256').update(`${boot}\n${namespace}`).digest('hex').slice(0, 8);
  } catch {
    processNamespace = null;
  }
  return processNamespace;
}

/**
 * A default worker id (defaultWorkerId) of this host and this process's pid namespace whose pid no longer exists
 * cannot be delivering; nor can its resource agent, whose leases carry the worker id with "/agent" after it
 * (agent/run.ts agentLeaseOwner). Any other owner — another namespace (a container: its pids are not ours to look up, ESRCH
 * says nothing), another machine, an id an operator gave — is left to its lease's expiry.
 */
export function isDeadLocalProcess(owner: string): boolean {
  const namespace = pidNamespace();
  const parts = /^(?<host>[^:]+):(?<pid>\d+):[0-9a-f]{8}@(?<namespace>[0-9a-f]{8})(?:\/(?:watch|agent))?$/.exec(owner)?.groups;
  if (!namespace || !parts || parts.host !== hostname() || parts.namespace !== namespace) return false;
  const pid = Number(parts.pid);
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

interface Held {
  lease: Lease;
  onLost: () => void;
  /** When the store last confirmed the lease (monotonic ms). */
  confirmedAt: number;
}

/**
 * The heartbeat of one worker's leases: every leaseMs / 4 it renews all of them in one store call. A lease the
 * store no longer confirms (taken over after an expiry) is lost; so is one the worker could not renew (the store
 * unreachable) for 3/4 of its length — it stops sending before another worker may take the mailbox. Either way
 * `onLost` stops the mailbox's delivery; the fencing token keeps anything it still tries to record out.
 * Its timer is a cadence, not a wait before a request: no request waits on it.
 */
export class LeaseKeeper {
  private readonly store: MailboxLeases;
  readonly leaseMs: number;
  private readonly held = new Map<string, Held>();
  private timer: NodeJS.Timeout | null = null;
  private beating: Promise<void> | null = null;

  constructor(store: MailboxLeases, leaseMs: number) {
    this.store = store;
    this.leaseMs = leaseMs;
  }

  hold(lease: Lease, onLost: () => void): void {
    this.held.set(lease.calendar, { lease, onLost, confirmedAt: performance.now() });
    if (!this.timer) {
      this.timer = setInterval(() => void this.beat(), Math.max(50, Math.floor(this.leaseMs / 4)));
      this.timer.unref();
    }
  }

  drop(calendar: string): void {
    this.held.delete(calendar);
    if (this.held.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  /** Renews every lease held now (one at a time: a slow store does not pile heartbeats up). */
  beat(): Promise<void> {
    this.beating ??= this.renew().finally(() => {
      this.beating = null;
    });
    return this.beating;
  }

  private async renew(): Promise<void> {
    const held = [...this.held.values()];
    if (!held.length) return;
    const askedAt = performance.now();
    let kept: Set<string>;
    try {
      kept = new Set((await this.store.renewLeases(held.map((h) => h.lease), this.leaseMs)).map((lease) => lease.calendar));
    } catch {
      // Not renewed: given up before it can have expired in the store (measured from the last confirmation).
      for (const h of held) if (performance.now() - h.confirmedAt > (this.leaseMs * 3) / 4) this.lost(h);
      return;
    }
    for (const h of held) {
      if (kept.has(h.lease.calendar)) h.confirmedAt = askedAt;
      else this.lost(h);
    }
  }

  private lost(h: Held): void {
    if (this.held.get(h.lease.calendar) !== h) return;
    this.drop(h.lease.calendar);
    h.onLost();
  }
}
