// Change notifications of the watched Graph mailboxes (docs/drift.md, "Change notifications"): with server.publicUrl
// calpush serve subscribes to each delivered Graph mailbox's events, so that a person's change asks for a watch
// round of that mailbox within seconds instead of at the next poll. The watch round (engine/watch.ts) stays what
// finds and answers drift; a notification only says "look at this mailbox now". Polling stays as the backstop.
//
// Which subscriptions exist is not kept in the store: at the first upkeep of a target calpush reads the app's own
// (`GET /subscriptions`), adopts those that point at its notification URL and removes those made with another
// clientState; then it creates what is missing and renews what expires within `renewBeforeMs`, each request through
// the scheduler of the mailbox's target, in the mailbox's line at the watch's (lowest) priority.
// Lifecycle notifications (https://learn.microsoft.com/graph/change-notifications-lifecycle-events):
// reauthorizationRequired → renew now; subscriptionRemoved → create again; missed → a full watch round of the mailbox.
// A subscription Graph refuses (400: the validation of the URL failed; 403: not allowed) leaves that mailbox on
// polling for this process's lifetime, with one warning that says what to fix.
// A mailbox no longer delivered (left out of the upkeep, no route any more, routed to another target) or a serve
// that no longer watches has its subscription deleted (https://learn.microsoft.com/graph/api/subscription-delete)
// through the scheduler of the target it was made on; Graph would otherwise post its changes for up to 3 days.
import { createHash, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../model/clock.ts';
import { TargetError, type SubscriptionCapability, type SubscriptionInfo } from '../targets/target.ts';
import type { NotificationCountRow, SubscriptionRow, WatchStore } from '../store/watch.ts';
import type { MailboxRoute, MailboxRoutes } from './routes.ts';
import type { DeliveryLog } from './run.ts';
import { describeError } from './summary.ts';

/** Where Graph posts change notifications and lifecycle notifications, under server.publicUrl. */
export const NOTIFICATION_PATH = '/graph/notifications';
export const LIFECYCLE_PATH = '/graph/lifecycle';

const HOUR_MS = 3_600_000;
/** A subscription lives 3 days (Outlook events allow 10,080 minutes) and is renewed when less than a day is left. */
const DEFAULT_LIFETIME_MS = 72 * HOUR_MS;
const DEFAULT_RENEW_BEFORE_MS = 24 * HOUR_MS;

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface SubscriberOptions {
  routes: MailboxRoutes;
  /** server.publicUrl: https, scheme and host only. */
  publicUrl: string;
  /** The deployment's clientState, from the current store key (secret: never logged). */
  clientState: string;
  /**
   * The clientStates of the older keys store.encryptionKeys still lists (a rotation in progress): notifications
   * carrying one are accepted, and the subscription is made again under the current one at the next upkeep.
   */
  earlierClientStates?: string[];
  /** Asks the watcher for a round of these mailboxes soon (full: from no sync state). */
  watchSoon: (calendars: string[], full: boolean) => void;
  /** Where each mailbox's subscription and the notification counts are kept for the status and the metrics. */
  store?: Pick<WatchStore, 'saveSubscription' | 'countNotifications'>;
  clock?: Clock;
  log?: DeliveryLog;
  lifetimeMs?: number;
  renewBeforeMs?: number;
}

interface Held {
  id: string;
  expiresAt: number;
  /** The route it was made on: deleted through that target's scheduler, whatever the mailbox's route is now. */
  route: MailboxRoute;
  /** The clientState it was made with; null: Graph did not say. */
  clientState: string | null;
}

export class MailboxSubscriptions {
  private readonly options: SubscriberOptions;
  private readonly notificationUrl: string;
  private readonly lifecycleUrl: string;
  private readonly byCalendar = new Map<string, Held>();
  private readonly calendarOf = new Map<string, string>();
  /** Mailboxes Graph would not subscribe: polled only. */
  private readonly refused = new Set<string>();
  /** Targets whose existing subscriptions were read. */
  private readonly reconciled = new Set<string>();
  /** One piece of work per mailbox at a time: an upkeep and a lifecycle notification never both create. */
  private readonly busy = new Map<string, Promise<void>>();
  /** Each mailbox's last failure to subscribe or renew, and the target it was routed to (the status). */
  private readonly errors = new Map<string, { message: string; at: string }>();
  private readonly targetOf = new Map<string, string>();

  constructor(options: SubscriberOptions) {
    this.options = options;
    this.notificationUrl = `${options.publicUrl}${NOTIFICATION_PATH}`;
    this.lifecycleUrl = `${options.publicUrl}${LIFECYCLE_PATH}`;
  }

  /** The mailboxes with a live subscription (status, tests). */
  subscribed(): string[] {
    return [...this.byCalendar.keys()];
  }

  /**
   * Whether a notification's clientState is the deployment's under any listed key: compared in constant time
   * (digests of equal length, every key compared). One under an older key marks subscription `id` to be made again
   * under the current key.
   */
  acceptsClientState(value: unknown, id?: string): boolean {
    if (typeof value !== 'string') return false;
    const digest = (text: string) => createHash('sha256').update(text).digest();
    const given = digest(value);
    const matches = [this.options.clientState, ...(this.options.earlierClientStates ?? [])].map((state) => timingSafeEqual(given, digest(state)));
    if (!matches.some(Boolean)) return false;
    const held = id === undefined ? undefined : this.byCalendar.get(this.calendarOf.get(id) ?? '');
    if (held && held.id === id && !matches[0]) held.clientState = value;
    return true;
  }

  /** Creates what is missing and renews what expires soon, for each of `calendars` whose target can subscribe. */
  async upkeep(calendars: string[]): Promise<void> {
    for (const calendar of calendars) await this.serially(calendar, () => this.keep(calendar));
    const delivered = new Set(calendars);
    for (const calendar of [...this.byCalendar.keys()].filter((c) => !delivered.has(c))) await this.serially(calendar, () => this.retire(calendar));
    // A failed mailbox no longer delivered: nothing to show for it any more.
    for (const calendar of [...this.errors.keys()].filter((c) => !delivered.has(c) && !this.byCalendar.has(c))) {
      this.errors.delete(calendar);
      await this.serially(calendar, async () => {});
    }
  }

  /** Counts a body's notifications per target (the status, the metrics): accepted or rejected (not our clientState). */
  tally(results: Array<{ subscriptionId: string; accepted: boolean }>): void {
    const counts = new Map<string, { received: number; rejected: number }>();
    for (const { subscriptionId, accepted } of results) {
      const calendar = this.calendarOf.get(subscriptionId);
      const target = (calendar !== undefined && this.byCalendar.get(calendar)?.route.name) || '';
      const count = counts.get(target) ?? { received: 0, rejected: 0 };
      if (accepted) count.received++;
      else count.rejected++;
      counts.set(target, count);
    }
    for (const [target, { received, rejected }] of counts) {
      void this.options.store?.countNotifications(target, received, rejected).catch((error: unknown) => this.options.log?.warn({ code: describeError(error).code }, `counting change notifications failed: ${describeError(error).message}`));
    }
  }

  /**
   * serve no longer watches (watch.enabled or watch.notifications turned off): the app's subscriptions to our URL are
   * read on each target of `calendars` and deleted.
   */
  async retireAll(calendars: string[]): Promise<void> {
    for (const calendar of calendars) await this.serially(calendar, () => this.adopt(calendar));
    await this.upkeep([]);
  }

  /** A change notification of subscription `id`: a round of its mailbox soon. False: not one of ours. */
  notified(id: string): boolean {
    const calendar = this.calendarOf.get(id);
    if (calendar === undefined) return false;
    this.options.watchSoon([calendar], false);
    return true;
  }

  /** A lifecycle notification of subscription `id`; false: not one of ours. The work runs after the answer. */
  lifecycle(id: string, event: LifecycleEvent): boolean {
    const calendar = this.calendarOf.get(id);
    if (calendar === undefined) return false;
    if (event === 'missed') {
      // "Some change notifications were not delivered": only a full round can say what changed.
      this.options.watchSoon([calendar], true);
      return true;
    }
    const held = this.byCalendar.get(calendar);
    if (event === 'subscriptionRemoved') this.forget(calendar);
    else if (held) this.byCalendar.set(calendar, { ...held, id, expiresAt: 0 });
    void this.serially(calendar, () => this.keep(calendar));
    return true;
  }

  /** Waits for the work in progress (serve's close). */
  async idle(): Promise<void> {
    while (this.busy.size) await Promise.all([...this.busy.values()]);
  }

  private serially(calendar: string, work: () => Promise<void>): Promise<void> {
    const noted = () => work().finally(() => this.note(calendar));
    const next = (this.busy.get(calendar) ?? Promise.resolve()).then(noted, noted).finally(() => {
      if (this.busy.get(calendar) === next) this.busy.delete(calendar);
    });
    this.busy.set(calendar, next);
    return next;
  }

  private async keep(calendar: string): Promise<void> {
    if (this.refused.has(calendar)) return;
    try {
      const route = await this.routeOf(calendar);
      // Routed elsewhere (another target, or none): the old target's subscription goes first.
      if (this.byCalendar.has(calendar) && this.byCalendar.get(calendar)!.route.name !== route?.name) await this.retire(calendar);
      const subscriptions = route?.target.subscriptions;
      if (route) this.targetOf.set(calendar, route.name);
      else this.targetOf.delete(calendar);
      if (!route || !subscriptions) return;
      if (!this.reconciled.has(route.name)) await this.reconcile(route, subscriptions, calendar);
      const held = this.byCalendar.get(calendar);
      const now = (this.options.clock ?? systemClock).now();
      // Made under an older key (the key was rotated): Graph cannot change a clientState, so it is made again.
      const rekey = held !== undefined && held.clientState !== null && held.clientState !== this.options.clientState;
      if (held && !rekey && held.expiresAt - now > (this.options.renewBeforeMs ?? DEFAULT_RENEW_BEFORE_MS)) return;
      const expiresAt = now + (this.options.lifetimeMs ?? DEFAULT_LIFETIME_MS);
      if (held && !rekey && (await this.renewed(route, subscriptions, calendar, held.id, expiresAt))) return;
      const created = await this.submit(route, calendar, () =>
        subscriptions.create(calendar, { notificationUrl: this.notificationUrl, lifecycleNotificationUrl: this.lifecycleUrl, clientState: this.options.clientState, expiresAt }),
      );
      this.hold(calendar, { ...created, clientState: this.options.clientState }, route);
      // The old one goes once the new one is in place: no gap in the notifications.
      if (rekey) await this.submit(route, calendar, () => subscriptions.remove(calendar, held.id));
      this.options.log?.info({ calendar, target: route.name, expiresAt: new Date(created.expiresAt).toISOString() }, rekey ? 'subscribed again under the current store key' : 'subscribed to the mailbox’s change notifications');
    } catch (error) {
      this.failed(calendar, error);
    }
  }

  /** The mailbox's route; null when the config no longer routes it anywhere (removed from the routing). */
  private async routeOf(calendar: string): Promise<MailboxRoute | null> {
    try {
      return await this.options.routes.route(calendar);
    } catch (error) {
      if (error instanceof TargetError && error.code === 'NoRoute') return null;
      throw error;
    }
  }

  /** Reads the app's subscriptions on the mailbox's target, once per target (retireAll). */
  private async adopt(calendar: string): Promise<void> {
    try {
      const route = await this.routeOf(calendar);
      if (route?.target.subscriptions && !this.reconciled.has(route.name)) await this.reconcile(route, route.target.subscriptions, calendar);
    } catch (error) {
      this.failed(calendar, error);
    }
  }

  /** Deletes the mailbox's subscription through the target it was made on; 404 (already gone) counts as deleted. */
  private async retire(calendar: string): Promise<void> {
    const held = this.byCalendar.get(calendar);
    const subscriptions = held?.route.target.subscriptions;
    if (!held || !subscriptions) return;
    try {
      await this.submit(held.route, calendar, () => subscriptions.remove(calendar, held.id));
      this.forget(calendar);
      this.errors.delete(calendar);
      this.options.log?.info({ calendar, target: held.route.name }, 'unsubscribed from the change notifications of a mailbox calpush no longer watches there');
    } catch (error) {
      // Kept: deleted again at the next upkeep.
      this.options.log?.warn({ calendar, code: describeError(error).code }, `deleting the change-notification subscription of a mailbox no longer watched failed (tried again at the next watch round): ${describeError(error).message}`);
    }
  }

  /** Renews `id`; false when Graph no longer has it (it is then created again). */
  private async renewed(route: MailboxRoute, subscriptions: SubscriptionCapability, calendar: string, id: string, expiresAt: number): Promise<boolean> {
    try {
      this.hold(calendar, await this.submit(route, calendar, () => subscriptions.renew(calendar, id, expiresAt)), route);
      return true;
    } catch (error) {
      if (!(error instanceof TargetError && error.status === 404)) throw error;
      this.forget(calendar);
      return false;
    }
  }

  /**
   * The app's subscriptions to our URL: adopted (one under an older listed key is made again under the current one
   * by keep), or removed when made with a clientState of no listed key.
   */
  private async reconcile(route: MailboxRoute, subscriptions: SubscriptionCapability, calendar: string): Promise<void> {
    const existing = await this.submit(route, calendar, () => subscriptions.list(calendar));
    const ours = existing.filter((s) => s.notificationUrl === this.notificationUrl && s.calendar !== null);
    for (const found of ours.sort((a, b) => b.expiresAt - a.expiresAt)) {
      const stale = found.clientState !== null && found.clientState !== this.options.clientState && !(this.options.earlierClientStates ?? []).includes(found.clientState);
      if (stale || this.byCalendar.has(found.calendar!)) await this.submit(route, found.calendar!, () => subscriptions.remove(found.calendar!, found.id));
      else this.hold(found.calendar!, found, route);
    }
    this.reconciled.add(route.name);
  }

  private hold(calendar: string, info: SubscriptionInfo, route: MailboxRoute): void {
    this.forget(calendar);
    this.byCalendar.set(calendar, { id: info.id, expiresAt: info.expiresAt, route, clientState: info.clientState });
    this.calendarOf.set(info.id, calendar);
  }

  private forget(calendar: string): void {
    const held = this.byCalendar.get(calendar);
    if (held) this.calendarOf.delete(held.id);
    this.byCalendar.delete(calendar);
  }

  /** Writes the mailbox's subscription as it now stands to the store (the status, the metrics of every worker). */
  private async note(calendar: string): Promise<void> {
    const store = this.options.store;
    if (!store) return;
    const held = this.byCalendar.get(calendar);
    const error = this.errors.get(calendar);
    const row = held || error
      ? {
          target: held?.route.name ?? this.targetOf.get(calendar) ?? '',
          subscriptionId: held?.id ?? null,
          expiresAt: held ? new Date(held.expiresAt).toISOString() : null,
          lastError: error?.message ?? null,
          lastErrorAt: error?.at ?? null,
        }
      : null;
    try {
      await store.saveSubscription(calendar, row);
    } catch (failure) {
      this.options.log?.warn({ calendar, code: describeError(failure).code }, `recording the mailbox’s subscription for the status failed: ${describeError(failure).message}`);
    }
  }

  private failed(calendar: string, error: unknown): void {
    const failure = describeError(error);
    this.errors.set(calendar, { message: `${failure.code}: ${failure.message}`, at: new Date((this.options.clock ?? systemClock).now()).toISOString() });
    const refused = error instanceof TargetError && (error.status === 400 || error.status === 403);
    if (!refused) {
      this.options.log?.warn({ calendar, code: failure.code }, `subscribing to the mailbox’s change notifications failed (tried again at the next watch round): ${failure.message}`);
      return;
    }
    this.refused.add(calendar);
    this.options.log?.warn(
      { calendar, code: failure.code, remedy: `make ${this.options.publicUrl}${NOTIFICATION_PATH} reachable from Microsoft Graph over HTTPS with a publicly trusted certificate (it must answer the validation request within 10 seconds), and give the app Calendars.Read or Calendars.ReadWrite for the mailbox; restart calpush serve after the fix` },
      `Graph refused a change-notification subscription: the mailbox stays watched by polling only: ${failure.message}`,
    );
  }

  private submit<T>(route: MailboxRoute, calendar: string, run: () => Promise<T>): Promise<T> {
    // Background work, as the watch's pages: after every write of the mailbox in its line.
    return route.scheduler.submit(calendar, run, { priority: Number.MAX_SAFE_INTEGER, lane: route.target.laneFor?.(calendar) ?? null });
  }
}

/** One target's subscriptions and notifications, for `calpush status` and /metrics (docs/drift.md). */
export interface SubscriptionTargetStatus {
  target: string;
  /** Held, with more than renewBefore left. */
  active: number;
  /** Held, due for renewal (less than renewBefore left, or past its expiration). */
  expiring: number;
  /** None held: subscribing failed (tried again each round) or Graph refused it. */
  failed: number;
  /** The latest failure to subscribe or renew among its mailboxes. */
  lastError: { calendar: string; message: string; at: string } | null;
  notifications: { received: number; rejected: number };
}

/** The store's subscription rows and notification counts, per target. Pure: `now` is the caller's clock. */
export function subscriptionStatus(rows: readonly SubscriptionRow[], counts: readonly NotificationCountRow[], now: number, renewBeforeMs = DEFAULT_RENEW_BEFORE_MS): SubscriptionTargetStatus[] {
  const byTarget = new Map<string, SubscriptionTargetStatus>();
  const of = (target: string) => {
    let entry = byTarget.get(target);
    if (!entry) byTarget.set(target, (entry = { target, active: 0, expiring: 0, failed: 0, lastError: null, notifications: { received: 0, rejected: 0 } }));
    return entry;
  };
  for (const row of rows) {
    const entry = of(row.target);
    if (row.subscriptionId === null) entry.failed++;
    else if (Date.parse(row.expiresAt ?? '') - now > renewBeforeMs) entry.active++;
    else entry.expiring++;
    if (row.lastError !== null && row.lastErrorAt !== null && (!entry.lastError || row.lastErrorAt > entry.lastError.at)) entry.lastError = { calendar: row.calendar, message: row.lastError, at: row.lastErrorAt };
  }
  for (const count of counts) of(count.target).notifications = { received: count.received, rejected: count.rejected };
  return [...byTarget.values()].sort((a, b) => a.target.localeCompare(b.target));
}
