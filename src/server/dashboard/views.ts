// The numbers and lists a page shows, as text, computed once for both ways they reach the browser: rendered into
// the page (pages.ts) and sent by the live stream (live.ts), where the script puts each one in the element that
// names it (data-field, data-list, data-meter). Same function, same words, whichever way.
import type { DashboardRole } from './sessions.ts';
import { mailboxHref, href } from './html.ts';
import type { EventLine, MailboxDetail, Overview } from './data.ts';

/** A piece of text, optionally a link (always a path of the dashboard) or a badge (a state). */
export interface Cell {
  text: string;
  href?: string;
  badge?: string;
}

export interface LiveView {
  fields: Record<string, Cell>;
  lists: Record<string, Cell[][]>;
  meters: Record<string, { value: number; max: number }>;
}

const NONE = '—';
/** Rows of the overview's lists of mailboxes (throttled now, being delivered now); their tiles give the totals. */
export const LIST_ROWS = 10;

export function count(n: number): string {
  return n.toLocaleString('en-GB');
}

export function duration(seconds: number): string {
  if (seconds < 60) return `${Math.max(0, Math.round(seconds))} s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(seconds / 3600)} h ${Math.round((seconds % 3600) / 60)} min`;
}

/** An ISO 8601 time as "2026-09-01 09:00:12 UTC" (the server's words are in UTC; the script shows local time too). */
export function time(iso: string | null | undefined): string {
  if (!iso) return NONE;
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

const text = (value: string): Cell => ({ text: value });

export function overviewView(o: Overview): LiveView {
  const { totals, rates, drain, loop } = o;
  const fields: Record<string, Cell> = {
    'loop.state': { text: loop.state, badge: loop.state === 'running' ? 'ok' : loop.state === 'paused' ? 'failed' : 'pending' },
    'loop.fatal': text(loop.fatal ? `${loop.fatal.code}: ${loop.fatal.message}` : 'none'),
    'loop.fix': text(loop.fatal?.remedy ?? NONE),
    'loop.retry': text(loop.fatal ? time(loop.fatal.retryAt) : NONE),
    'loop.lastRun': text(time(loop.lastRunAt)),
    'mailboxes.total': text(count(o.mailboxCount)),
    'mailboxes.ok': text(count(totals.mailboxes.ok)),
    'mailboxes.pending': text(count(totals.mailboxes.pending)),
    'mailboxes.failed': text(count(totals.mailboxes.failed)),
    'mailboxes.waiting': text(count(drain.remaining)),
    'mailboxes.delivering': text(count(loop.delivering.length)),
    'mailboxes.throttled': text(count(o.throttled.length)),
    'events.desired': text(count(totals.desired)),
    'events.delivered': text(count(totals.delivered)),
    'ops.pending': text(count(totals.pending)),
    'ops.failed': text(count(totals.failedOps)),
    'rates.requests': text(rates.requestsPerSecond === null ? NONE : `${rates.requestsPerSecond.toFixed(1)} /s`),
    'rates.throttled': text(rates.throttledShare === null ? NONE : `${(rates.throttledShare * 100).toFixed(1)} %`),
    'rates.window': text(rates.windowSeconds ? `over the last ${duration(rates.windowSeconds)}` : 'not measured yet'),
    'rates.totalRequests': text(count(rates.requests)),
    'rates.totalThrottled': text(count(rates.throttled)),
    'drain.summary': text(drain.total ? `${count(drain.done)} of ${count(drain.total)} mailboxes done, ${count(drain.remaining)} to go` : 'nothing waiting: every mailbox is up to date or failed'),
    'drain.percent': text(drain.total ? `${Math.floor((drain.done / drain.total) * 100)} %` : NONE),
    'drain.eta': text(drain.total ? (drain.etaSeconds === null ? 'not known until a mailbox is done' : `about ${duration(drain.etaSeconds)}`) : NONE),
    'drain.started': text(time(drain.startedAt)),
    'drain.last': text(drain.last ? `${count(drain.last.mailboxes)} mailboxes in ${duration(drain.last.seconds)}, ended ${time(drain.last.endedAt)}` : NONE),
  };
  return {
    fields,
    lists: {
      throttled: o.throttled.slice(0, LIST_ROWS).map((t) => [{ text: t.mailbox, href: mailboxHref(t.mailbox) }, text(duration(t.resumesInMs / 1000)), text(String(t.concurrency))]),
      failures: o.failures.map((f) => [{ text: f.code, href: href('/mailboxes', { state: 'failed', code: f.code }) }, text(count(f.mailboxes))]),
      delivering: loop.delivering.slice(0, LIST_ROWS).map((calendar) => [{ text: calendar, href: mailboxHref(calendar) }]),
    },
    meters: { drain: { value: drain.done, max: Math.max(1, drain.total) } },
  };
}

function eventRow(line: EventLine): Cell[] {
  return [text(line.id), text(line.subject), text(line.start), { text: line.state, badge: line.state === 'delivered' ? 'ok' : line.state === 'failed' ? 'failed' : 'pending' }, text(line.operation ?? NONE), text(line.error ?? '')];
}

export function mailboxView(d: MailboxDetail): LiveView {
  const m = d.mailbox;
  const state = m?.state ?? 'pending';
  const upToDate = !!m && m.state === 'ok' && m.deliveredVersion >= m.desiredVersion && d.counts.pending === 0;
  return {
    fields: {
      state: { text: state, badge: state },
      upToDate: text(upToDate ? 'yes' : 'no'),
      activity: text(d.throttled ? `throttled: sends again in ${duration(d.throttled.resumesInMs / 1000)}` : d.delivering ? 'being delivered now' : 'idle'),
      desired: text(count(d.counts.desired)),
      delivered: text(count(d.counts.delivered)),
      pending: text(count(d.counts.pending)),
      failedOps: text(count(d.counts.failedOps)),
      lastSync: text(time(m?.lastSyncAt)),
      inventoried: text(m?.inventoriedAt ? time(m.inventoriedAt) : 'not listed yet (the next delivery lists it first)'),
      failures: text(count(m?.consecutiveFailures ?? 0)),
      'error.code': text(m?.lastErrorCode ?? NONE),
      'error.message': text(m?.lastError ?? 'no error'),
      'error.fix': text(m?.lastErrorRemedy ?? (m?.lastError ? 'calpush knows no fix for this error: see the message' : NONE)),
    },
    lists: { events: d.events.map(eventRow) },
    meters: { delivered: { value: Math.min(d.counts.delivered, d.counts.desired), max: Math.max(1, d.counts.desired) } },
  };
}

/** What the role may do, in words for the page. */
export function roleText(role: DashboardRole): string {
  return role === 'admin' ? 'admin' : 'helpdesk (read-only)';
}
