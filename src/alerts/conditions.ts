// The conditions calpush alerts on, found from what the store holds (so every process sharing the store sees the
// same) and from the configured credentials: a pure function of that snapshot, plus the stall tracker's memory.
import type { MailboxRow } from '../model/rows.ts';
import type { ConnectionRow } from '../store/connections.ts';
import type { FeedStateRow, StoreTotals } from '../store/store.ts';

export type AlertKind = 'access-lost' | 'consent-revoked' | 'credential-expiring' | 'feed-failing' | 'delivery-stalled';

export interface Condition {
  /** `<kind>:<subject>`: one alert per key until it clears. */
  key: string;
  kind: AlertKind;
  subject: string;
  summary: string;
  remedy: string;
  details: Record<string, unknown>;
}

/** A credential of the configured target and when it expires (null: not known). */
export interface CredentialExpiry {
  /** e.g. "target.credential (certificate CN=calpush)". */
  name: string;
  expiresAt: Date | null;
}

export interface Snapshot {
  nowMs: number;
  mailboxes: MailboxRow[];
  connections: ConnectionRow[];
  /** The configured feeds' states. */
  feeds: FeedStateRow[];
  credentials: CredentialExpiry[];
  /** Work pending: the store's totals and the mailboxes with work ahead. */
  totals: StoreTotals;
  mailboxesWithWork: number;
  /** How long delivery has made no progress while work was pending (StallTracker), ms. */
  stalledForMs: number;
  connectUrl: (calendar: string) => string;
}

export interface Thresholds {
  credentialExpiryDays: number;
  feedFailures: number;
  stalledMinutes: number;
}

/**
 * Codes of a mailbox that no longer lets calpush in (403/404 of Graph, EWS and CalDAV): with a delivery that worked
 * before, that is access lost, not a mailbox never reachable.
 */
const ACCESS_LOST_CODES = new Set([
  'ErrorAccessDenied',
  'Authorization_RequestDenied',
  'MailboxNotEnabledForRESTAPI',
  'ErrorInvalidUser',
  'ResourceNotFound',
  'Request_ResourceNotFound',
  'ErrorNonExistentMailbox',
  'ErrorFolderNotFound',
  'ErrorImpersonateUserDenied',
  'ErrorImpersonationDenied',
  'Forbidden',
  'CalendarNotFound',
  'Unauthorized',
]);

/** Reasons of a connection that ended without the person or an admin choosing it. */
const LOST_CONNECTION = new Set(['ConsentRevoked', 'SessionRevoked', 'RefreshTokenExpired', 'InvalidGrant']);

const condition = (kind: AlertKind, subject: string, summary: string, remedy: string, details: Record<string, unknown> = {}): Condition => ({ key: `${kind}:${subject}`, kind, subject, summary, remedy, details });

export function evaluate(snapshot: Snapshot, thresholds: Thresholds): Condition[] {
  const found: Condition[] = [];
  for (const m of snapshot.mailboxes) {
    if (m.state !== 'failed' || !m.lastErrorCode || !ACCESS_LOST_CODES.has(m.lastErrorCode) || m.deliveredVersion <= 0) continue;
    found.push(condition('access-lost', m.calendar, `calpush lost access to ${m.calendar} (${m.lastErrorCode}), which it could write before`, m.lastErrorRemedy ?? 'check the mailbox’s permissions for calpush', { code: m.lastErrorCode, message: m.lastError }));
  }
  for (const c of snapshot.connections) {
    if (c.state !== 'disconnected' || !c.reason || !LOST_CONNECTION.has(c.reason)) continue;
    found.push(condition('consent-revoked', c.calendar, `${c.calendar} is disconnected: ${c.reasonMessage ?? c.reason}`, `ask ${c.username} to connect again at ${snapshot.connectUrl(c.calendar)}; delivery to the calendar is paused until then`, { reason: c.reason, since: c.changedAt, connectUrl: snapshot.connectUrl(c.calendar) }));
  }
  const horizon = snapshot.nowMs + thresholds.credentialExpiryDays * 86_400_000;
  for (const credential of snapshot.credentials) {
    if (!credential.expiresAt || credential.expiresAt.getTime() > horizon) continue;
    const days = Math.floor((credential.expiresAt.getTime() - snapshot.nowMs) / 86_400_000);
    const when = days < 0 ? `expired on ${credential.expiresAt.toISOString().slice(0, 10)}` : `expires on ${credential.expiresAt.toISOString().slice(0, 10)} (in ${days} day${days === 1 ? '' : 's'})`;
    found.push(condition('credential-expiring', credential.name, `${credential.name} ${when}`, 'add a new certificate or secret to the app registration (calpush cert create; Entra ID > App registrations > Certificates & secrets), point the config at it and restart calpush', { expiresAt: credential.expiresAt.toISOString() }));
  }
  for (const f of snapshot.feeds) {
    const failures = f.consecutiveFailures ?? 0;
    if (failures < thresholds.feedFailures) continue;
    found.push(condition('feed-failing', f.calendar, `the feed of ${f.calendar} failed ${failures} polls in a row`, 'check the feed’s source (its URL, the exporting system); the calendar keeps what it had meanwhile', { failures, lastError: f.lastError }));
  }
  if (snapshot.stalledForMs >= thresholds.stalledMinutes * 60_000) {
    const minutes = Math.floor(snapshot.stalledForMs / 60_000);
    found.push(condition('delivery-stalled', 'delivery', `no delivery progress for ${minutes} minutes while ${snapshot.mailboxesWithWork} mailbox(es) have work waiting (${snapshot.totals.pending} operations pending)`, 'look at calpush serve’s log and /v1/health (a credential or endpoint failure stops every mailbox), and at the dashboard’s throttling', { pending: snapshot.totals.pending, mailboxes: snapshot.mailboxesWithWork }));
  }
  return found;
}

/** Measures how long delivery has made no progress while work was pending (kept in memory, per process). */
export class StallTracker {
  private fingerprint = '';
  private since: number | null = null;

  /** Progress is any change in what is delivered, pending or failing; no work pending is never a stall. */
  observe(totals: StoreTotals, mailboxesWithWork: number, nowMs: number): number {
    const fingerprint = JSON.stringify([totals.delivered, totals.pending, totals.failedOps, totals.mailboxes]);
    if (totals.pending === 0 && mailboxesWithWork === 0) {
      this.since = null;
      this.fingerprint = fingerprint;
      return 0;
    }
    if (fingerprint !== this.fingerprint || this.since === null) {
      this.fingerprint = fingerprint;
      this.since = nowMs;
    }
    return nowMs - this.since;
  }
}
