// What the dashboard shows, read from where calpush keeps it: the store (states, counts, errors, events, feeds,
// keys), the delivery loop's status, the scheduler (who is throttled now) and the monitor (rates, drain). Read
// only; the two actions (deliver now, re-inventory) are in actions.ts.
import type { Config } from '../../app/config.ts';
import type { DeliveryLoopStatus } from '../../engine/loop.ts';
import type { SchedulerStats } from '../../engine/scheduler.ts';
import type { DeliveredRow, DesiredRow, MailboxRow, MailboxState, PendingOp } from '../../model/rows.ts';
import type { ApiKeyRow, CalendarCounts, FeedStateRow, Store, StoreTotals } from '../../store/store.ts';
import type { DeliveryMonitor, DrainProgress, TrafficRates } from './monitor.ts';

/** The parts of the delivery loop the dashboard uses. */
export interface DashboardLoop {
  status(): DeliveryLoopStatus;
  nudge(calendar?: string, events?: number): void;
  /** Forget the mailbox's back-off and deliver it now (DeliveryLoop.deliverNow); without it, nudge. */
  deliverNow?(calendar: string): void;
}

export interface ThrottledMailbox {
  mailbox: string;
  resumesInMs: number;
  concurrency: number;
}

/** The parts of the scheduler the dashboard reads. */
export interface DashboardScheduler {
  stats(): SchedulerStats;
  throttledMailboxes(): ThrottledMailbox[];
}

export interface DashboardSources {
  store: Store;
  config: Config;
  /** Calendar → feed URL (a secret: only its origin is ever shown). */
  feeds: Map<string, string>;
  loop?: DashboardLoop | undefined;
  scheduler?: DashboardScheduler | undefined;
  monitor: DeliveryMonitor;
}

export interface Overview {
  instance: string;
  loop: DeliveryLoopStatus;
  totals: StoreTotals;
  mailboxCount: number;
  throttled: ThrottledMailbox[];
  failures: Array<{ code: string; mailboxes: number }>;
  rates: TrafficRates;
  drain: DrainProgress;
}

const STOPPED: DeliveryLoopStatus = { state: 'stopped', delivering: [], fatal: null, lastRunAt: null };

export async function readOverview(sources: DashboardSources): Promise<Overview> {
  const totals = await sources.store.totals();
  return {
    instance: sources.config.instance,
    loop: sources.loop?.status() ?? STOPPED,
    totals,
    mailboxCount: totals.mailboxes.ok + totals.mailboxes.pending + totals.mailboxes.failed,
    throttled: sources.scheduler?.throttledMailboxes() ?? [],
    failures: await sources.store.failureCauses(),
    rates: sources.monitor.rates(),
    drain: sources.monitor.progress(),
  };
}

export interface MailboxSearch {
  /** Part of the address, case-insensitive. */
  text: string;
  state: MailboxState | '';
  /** Only failed mailboxes with this last error code. */
  code: string;
  page: number;
}

export interface MailboxListing {
  rows: Array<{ mailbox: MailboxRow; desired: number; delivering: boolean; throttled: boolean }>;
  matches: number;
  page: number;
  pages: number;
}

export const PAGE_SIZE = 50;

export async function searchMailboxes(sources: DashboardSources, search: MailboxSearch): Promise<MailboxListing> {
  const text = search.text.trim().toLowerCase();
  const all = await sources.store.mailboxes();
  const matching = all.filter(
    (m) => (!text || m.calendar.includes(text)) && (!search.state || m.state === search.state) && (!search.code || (m.state === 'failed' && m.lastErrorCode === search.code)),
  );
  const pages = Math.max(1, Math.ceil(matching.length / PAGE_SIZE));
  const page = Math.min(Math.max(1, search.page), pages);
  const desired = await sources.store.desiredCounts();
  const delivering = new Set(sources.loop?.status().delivering ?? []);
  const throttled = new Set((sources.scheduler?.throttledMailboxes() ?? []).map((t) => t.mailbox));
  const rows = matching
    .slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE)
    .map((mailbox) => ({ mailbox, desired: desired.get(mailbox.calendar) ?? 0, delivering: delivering.has(mailbox.calendar), throttled: throttled.has(mailbox.calendar) }));
  return { rows, matches: matching.length, page, pages };
}

/** One event of a mailbox as the dashboard lists it, with the API's words for its state (src/server/app.ts eventStatus). */
export interface EventLine {
  id: string;
  subject: string;
  /** When it starts, as the source gave it: "2026-09-01T09:00 Europe/Amsterdam", or a date for an all-day event. */
  start: string;
  startsAtMs: number;
  state: 'delivered' | 'pending' | 'failed' | 'deleting';
  /** The pending operation (create, update, delete), if any. */
  operation: string | null;
  error: string | null;
}

export interface MailboxDetail {
  calendar: string;
  mailbox: MailboxRow | null;
  counts: CalendarCounts;
  delivering: boolean;
  throttled: ThrottledMailbox | null;
  feed: { url: string; state: FeedStateRow | null } | null;
  events: EventLine[];
  eventCount: number;
  page: number;
  pages: number;
}

export function eventLines(desired: DesiredRow[], delivered: DeliveredRow[], pending: PendingOp[], mailbox: MailboxRow | null): EventLine[] {
  const deliveredByKey = new Map<string, DeliveredRow[]>();
  for (const item of delivered) deliveredByKey.set(item.key, [...(deliveredByKey.get(item.key) ?? []), item]);
  const pendingByKey = new Map<string, PendingOp[]>();
  for (const op of pending) pendingByKey.set(op.key, [...(pendingByKey.get(op.key) ?? []), op]);
  const mailboxFailed = mailbox?.state === 'failed';
  const lines: EventLine[] = desired.map((row) => {
    const ops = pendingByKey.get(row.key) ?? [];
    const failedOp = ops.find((op) => op.lastError);
    const current = (deliveredByKey.get(row.key) ?? []).some((item) => item.contentHash === row.contentHash);
    const t = row.event.timing;
    const state: EventLine['state'] = failedOp ? 'failed' : current && !ops.length ? 'delivered' : mailboxFailed ? 'failed' : 'pending';
    return {
      id: row.sourceId,
      subject: row.event.subject,
      start: t.allDay ? `${t.startDate} (all day)` : `${t.start} ${t.timeZone}`,
      startsAtMs: row.startsAtMs,
      state,
      operation: ops[0]?.kind ?? null,
      error: failedOp?.lastError ?? (state === 'failed' ? mailboxError(mailbox) : null),
    };
  });
  // Items delivered for events no longer wanted: their delete is still to come (or failing).
  const wanted = new Set(desired.map((row) => row.key));
  const leaving = new Set(delivered.filter((item) => !wanted.has(item.key)).map((item) => item.key));
  for (const key of leaving) {
    const failedOp = (pendingByKey.get(key) ?? []).find((op) => op.lastError);
    const item = deliveredByKey.get(key)![0]!;
    lines.push({
      id: `key:${key}`,
      subject: '(removed from the desired state)',
      start: '',
      startsAtMs: item.startsAtMs ?? Number.MAX_SAFE_INTEGER,
      state: failedOp || mailboxFailed ? 'failed' : 'deleting',
      operation: 'delete',
      error: failedOp?.lastError ?? null,
    });
  }
  return lines.sort((a, b) => a.startsAtMs - b.startsAtMs || a.id.localeCompare(b.id));
}

/** The mailbox's last error as "code: message" (the message often starts with its code already). */
function mailboxError(mailbox: MailboxRow | null): string | null {
  if (!mailbox?.lastError) return null;
  const code = mailbox.lastErrorCode ?? 'Error';
  return mailbox.lastError.startsWith(code) ? mailbox.lastError : `${code}: ${mailbox.lastError}`;
}

/** The mailbox, or null when the store does not know it. */
export async function readMailbox(sources: DashboardSources, calendar: string, page: number): Promise<MailboxDetail | null> {
  const { store } = sources;
  const feedUrl = sources.feeds.get(calendar);
  if (!feedUrl && !(await store.hasCalendar(calendar))) return null;
  const [mailbox, counts, desired, delivered, pending] = await Promise.all([
    store.mailbox(calendar),
    store.calendarCounts(calendar),
    store.desiredFor(calendar),
    store.deliveredFor(calendar),
    store.pendingOps(calendar),
  ]);
  const lines = eventLines(desired, delivered, pending, mailbox);
  const pages = Math.max(1, Math.ceil(lines.length / PAGE_SIZE));
  const shown = Math.min(Math.max(1, page), pages);
  return {
    calendar,
    mailbox,
    counts,
    delivering: sources.loop?.status().delivering.includes(calendar) ?? false,
    throttled: sources.scheduler?.throttledMailboxes().find((t) => t.mailbox === calendar) ?? null,
    feed: feedUrl ? { url: feedUrl, state: await store.feedState(calendar) } : null,
    events: lines.slice((shown - 1) * PAGE_SIZE, shown * PAGE_SIZE),
    eventCount: lines.length,
    page: shown,
    pages,
  };
}

export async function readFeeds(sources: DashboardSources): Promise<Array<{ calendar: string; url: string; state: FeedStateRow | null }>> {
  const feeds = [...sources.feeds].sort(([a], [b]) => a.localeCompare(b));
  return Promise.all(feeds.map(async ([calendar, url]) => ({ calendar, url, state: await sources.store.feedState(calendar) })));
}

/** The API keys without their hashes, newest first. */
export async function readKeys(sources: DashboardSources): Promise<Array<Omit<ApiKeyRow, 'hash'>>> {
  const rows = await sources.store.apiKeys();
  return rows.map(({ hash: _hash, ...row }) => row).sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id));
}
