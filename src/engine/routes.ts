// Which target serves a mailbox: what delivery asks before it touches one. The answer comes from the routing the
// config describes (app/router.ts: named targets, rules, the Exchange hybrid lookup); the engine only asks, and
// each target brings its own scheduler — Outlook's per-mailbox limits apply per app, an Exchange server's per
// service account, so two targets never share lanes.
import type { CalendarTarget, TargetError } from '../targets/target.ts';
import type { Scheduler } from './scheduler.ts';

/** What delivery needs of a scheduler: the Scheduler itself, or a view of a shared one (calpush serve). */
export type DeliveryScheduler = Pick<
  Scheduler,
  'submit' | 'abandonMailbox' | 'abandonAll' | 'activeMailboxes' | 'globalConcurrency' | 'spentElsewhere' | 'holdMailbox'
>;

/** The target a mailbox is delivered through now, and why. */
export interface MailboxRoute<S extends DeliveryScheduler = DeliveryScheduler> {
  /** The target's name in the config ("default" for the single `target`). */
  name: string;
  target: CalendarTarget;
  /** The target's own scheduler (or a view of it). */
  scheduler: S;
  /** Which rule matched, or what the lookup answered, in words (logs, status, the doctor). */
  reason: string;
  /**
   * The answer came from a lookup of where the mailbox lives: when the target then refuses the mailbox (it moved
   * since), delivery asks once more with `fresh` before it reports the mailbox failed.
   */
  lookedUp: boolean;
}

export interface MailboxRoutes<S extends DeliveryScheduler = DeliveryScheduler> {
  /**
   * The route of one mailbox. `fresh`: do not use a remembered lookup answer. Throws a TargetError of scope
   * "mailbox" when no target can be named (no rule matches, the lookup failed and nothing was remembered).
   */
  route(calendar: string, options?: { fresh?: boolean }): Promise<MailboxRoute<S>>;
  /** Every target's scheduler: a failure no mailbox of any target can get past (the store) stops them all. */
  schedulers(): S[];
  /** The same routes with each target's scheduler seen through `view` (calpush serve: one view per delivery call). */
  through<T extends DeliveryScheduler>(view: (scheduler: S, target: string) => T): MailboxRoutes<T>;
}

/** One target for every mailbox: the config's single `target`, or a target given directly (tests, tools). */
export function singleRoute<S extends DeliveryScheduler>(target: CalendarTarget, scheduler: S, name = 'default'): MailboxRoutes<S> {
  const route: MailboxRoute<S> = { name, target, scheduler, reason: 'the only target', lookedUp: false };
  return {
    route: async () => route,
    schedulers: () => [scheduler],
    through: (view) => singleRoute(target, view(scheduler, name), name),
  };
}

/** Stops every target's scheduler (a failure of the store, or the process shutting down). */
export function abandonEverywhere(routes: MailboxRoutes, error: TargetError): void {
  for (const scheduler of routes.schedulers()) scheduler.abandonAll(error);
}
