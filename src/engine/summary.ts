// What a delivery reports: per mailbox what was created, updated, deleted and what failed, and for the whole run
// the totals and the failure that stopped it, if one did.
import { StoreError } from '../store/errors.ts';
import { TargetError } from '../targets/target.ts';
import type { PendingOp } from '../model/rows.ts';

export interface ItemFailure {
  id: string;
  operation: PendingOp['kind'];
  code: string;
  message: string;
}

export interface MailboxSummary {
  calendar: string;
  status: 'ok' | 'failed' | 'busy';
  /** The named target that delivered it (config `targets`; "default" for `target`), when one was chosen. */
  target?: string;
  /** The target that delivered it before this run: the mailbox moved (its tagged events were listed and adopted). */
  movedFrom?: string;
  /** Our tagged events the target was found holding, when it was listed in this run (adoption). */
  listed?: number;
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
  failed: number;
  requests: number;
  error?: { code: string; message: string; remedy?: string };
  failures: ItemFailure[];
}

export interface DeliverySummary {
  mailboxes: MailboxSummary[];
  totals: { created: number; updated: number; deleted: number; unchanged: number; failed: number; requests: number; failedMailboxes: number };
  /** What stopped the whole run; `source: 'store'` when it was the store (disk full, locked…), not the target. */
  fatal?: { code: string; message: string; remedy?: string; source?: 'store' };
}

/** A mailbox with nothing done yet (or nothing to do: `unchanged` events as they should be). */
export function emptySummary(calendar: string, unchanged = 0): MailboxSummary {
  return { calendar, status: 'ok', created: 0, updated: 0, deleted: 0, unchanged, failed: 0, requests: 0, failures: [] };
}

/** A mailbox delivered twice in one run (it changed after its first delivery): the work adds up, the state is the last. */
export function mergeSummaries(a: MailboxSummary, b: MailboxSummary): MailboxSummary {
  return {
    calendar: a.calendar,
    status: b.status,
    created: a.created + b.created,
    updated: a.updated + b.updated,
    deleted: a.deleted + b.deleted,
    unchanged: b.unchanged,
    failed: b.failed,
    requests: a.requests + b.requests,
    ...((b.target ?? a.target) ? { target: (b.target ?? a.target)! } : {}),
    ...((b.movedFrom ?? a.movedFrom) ? { movedFrom: (b.movedFrom ?? a.movedFrom)! } : {}),
    ...(b.listed !== undefined || a.listed !== undefined ? { listed: b.listed ?? a.listed! } : {}),
    ...(b.error ? { error: b.error } : {}),
    failures: b.failures,
  };
}

/** The run's summary: mailboxes in order, their totals, and what stopped the run. */
export function deliverySummary(mailboxes: Iterable<MailboxSummary>, fatal: TargetError | null): DeliverySummary {
  const summaries = [...mailboxes].sort((a, b) => a.calendar.localeCompare(b.calendar));
  const totals = { created: 0, updated: 0, deleted: 0, unchanged: 0, failed: 0, requests: 0, failedMailboxes: 0 };
  for (const s of summaries) {
    totals.created += s.created;
    totals.updated += s.updated;
    totals.deleted += s.deleted;
    totals.unchanged += s.unchanged;
    totals.failed += s.failed;
    totals.requests += s.requests;
    if (s.status === 'failed') totals.failedMailboxes++;
  }
  if (!fatal) return { mailboxes: summaries, totals };
  return { mailboxes: summaries, totals, fatal: { ...describeError(fatal), ...(fatal.cause instanceof StoreError ? { source: 'store' as const } : {}) } };
}

export function describeError(error: unknown): { code: string; message: string; remedy?: string } {
  if (error instanceof TargetError || error instanceof StoreError) return { code: error.code, message: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) };
  return { code: 'InternalError', message: error instanceof Error ? error.message : String(error) };
}

/** Graph's request-id and our client-request-id of a failed request, for the log (what Microsoft support asks for). */
export function supportIds(error: unknown): { requestId?: string; clientRequestId?: string } {
  return error instanceof TargetError ? error.supportIds() : {};
}
