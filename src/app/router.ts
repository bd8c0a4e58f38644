// The router: which named target serves each mailbox, by the config's routing rules (app/routing.ts), with the
// Exchange hybrid lookup asked where a rule says so and its answer remembered in the store. Every interface asks
// it — sync, import, serve (API and feeds), the dry run — through engine/routes.ts; status and the doctor ask it to
// explain itself. Each target has its own scheduler: Outlook's per-mailbox limits hold per app, an Exchange
// server's budgets per service account, so the targets never share lanes.
import type { RetryPolicy } from '../engine/deferrals.ts';
import { createScheduler } from '../engine/limits.ts';
import type { MailboxRoute, MailboxRoutes } from '../engine/routes.ts';
import type { DeliveryScheduler } from '../engine/run.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import type { RouteLookupRow } from '../model/rows.ts';
import type { Store } from '../store/store.ts';
import { TargetError, type CalendarTarget, type MailboxLocation } from '../targets/target.ts';
import { targetConfigs, type Config, type TargetConfig } from './config.ts';
import { compileRouting, staticRoute, type CompiledRouting, type LookupRule, type StaticAnswer } from './routing.ts';
import { createTargets } from './targets.ts';

/** Where lookup answers are kept (the store), read and written. */
export type RouteCache = Pick<Store, 'routeLookup' | 'saveRouteLookup'>;

export interface RouterOptions<S extends DeliveryScheduler> {
  routing: CompiledRouting;
  targets: Map<string, { target: CalendarTarget; scheduler: S }>;
  /** Where lookup answers are remembered; without one every lookup asks. */
  cache?: RouteCache | null;
  /** Record new lookup answers (false for a dry run, which records nothing). Default true. */
  record?: boolean;
  clock?: Clock;
}

/** What the routing says about one mailbox, for a person (status, the doctor). */
export interface RouteExplanation {
  /** The target's name, or null when it is not known without asking (status) or no rule routes the mailbox. */
  target: string | null;
  kind: TargetConfig['kind'] | null;
  reason: string;
}

export class Router<S extends DeliveryScheduler> implements MailboxRoutes<S> {
  private readonly options: RouterOptions<S>;
  private readonly clock: Clock;

  constructor(options: RouterOptions<S>) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  async route(calendar: string, options: { fresh?: boolean } = {}): Promise<MailboxRoute<S>> {
    const answer = staticRoute(this.options.routing, calendar);
    if (answer.kind === 'none') throw new TargetError('mailbox', 'NoRoute', answer.reason, { remedy: 'add a routing rule for this mailbox, or set routing.default (docs/targets.md)' });
    if (answer.kind === 'target') return this.routeTo(answer.target, answer.reason, false);
    const found = await this.lookup(calendar, answer.rule, options.fresh ?? false);
    return this.routeTo(found.target, `${answer.reason}: ${found.answer}`, true);
  }

  /** Which target the mailbox goes to and why, the lookup asked now (the doctor); nothing is recorded. */
  async explain(calendar: string): Promise<RouteExplanation> {
    const answer = staticRoute(this.options.routing, calendar);
    if (answer.kind !== 'lookup') return explainStatic(answer, (name) => this.kindOf(name));
    try {
      const found = await this.ask(calendar, answer.rule);
      return { target: found.target, kind: this.kindOf(found.target), reason: `${answer.reason}: ${found.answer}` };
    } catch (error) {
      return { target: null, kind: null, reason: `${answer.reason}: the lookup failed: ${(error as Error).message}` };
    }
  }

  schedulers(): S[] {
    return [...this.options.targets.values()].map((t) => t.scheduler);
  }

  through<T extends DeliveryScheduler>(view: (scheduler: S, target: string) => T): Router<T> {
    const targets = new Map([...this.options.targets].map(([name, t]) => [name, { target: t.target, scheduler: view(t.scheduler, name) }]));
    return new Router<T>({ ...this.options, targets });
  }

  /** One target with its scheduler, by name (the resource agent's, which answers through the target it names). */
  member(name: string): { target: CalendarTarget; scheduler: S } | undefined {
    return this.options.targets.get(name);
  }

  /** Every target, by name. */
  targets(): Map<string, CalendarTarget> {
    return new Map([...this.options.targets].map(([name, t]) => [name, t.target]));
  }

  async close(): Promise<void> {
    await Promise.all([...this.options.targets.values()].map((t) => t.target.close()));
  }

  private kindOf(name: string): CalendarTarget['kind'] | null {
    return this.options.targets.get(name)?.target.kind ?? null;
  }

  private routeTo(name: string, reason: string, lookedUp: boolean): MailboxRoute<S> {
    const target = this.options.targets.get(name);
    if (!target) throw new TargetError('mailbox', 'NoRoute', `the routing names target "${name}", which is not configured`);
    return { name, target: target.target, scheduler: target.scheduler, reason, lookedUp };
  }


  /**
   * The lookup's answer: remembered while younger than the rule's refreshMinutes (unless `fresh`), else asked and
   * remembered. When asking fails, a remembered answer of any age is used rather than none.
   */
  private async lookup(calendar: string, rule: LookupRule, fresh: boolean): Promise<{ target: string; answer: string }> {
    const cached = await this.options.cache?.routeLookup(calendar);
    const usable = cached && validAnswer(cached, rule) ? cached : null;
    if (usable && !fresh && this.clock.now() - Date.parse(usable.checkedAt) < rule.refreshMinutes * 60_000) return usable;
    let found: { target: string; answer: string };
    try {
      found = await this.ask(calendar, rule);
    } catch (error) {
      if (usable) return { target: usable.target, answer: `${usable.answer} (remembered from ${usable.checkedAt}; asking again failed: ${(error as Error).message})` };
      if (error instanceof TargetError && (error.code === 'MailboxNotFound' || error.scope === 'mailbox')) throw error;
      const cause = error instanceof TargetError ? error : null;
      throw new TargetError('mailbox', 'RouteLookupFailed', `could not find out where ${calendar} lives: ${(error as Error).message}`, {
        remedy: cause?.remedy ?? 'calpush asks again at the next delivery; `calpush doctor <mailbox>` shows the lookup',
        cause: error,
      });
    }
    if (this.options.record ?? true) await this.options.cache?.saveRouteLookup({ calendar, target: found.target, answer: found.answer, checkedAt: new Date(this.clock.now()).toISOString() });
    return found;
  }

  /** Asks the rule's services in order until one knows the mailbox. */
  private async ask(calendar: string, rule: LookupRule): Promise<{ target: string; answer: string }> {
    const answers: string[] = [];
    for (const service of rule.ask) {
      const [asked, other] = service === 'autodiscover' ? [rule.onPremises, rule.online] : [rule.online, rule.onPremises];
      const location = await this.locate(asked, calendar);
      if (location.found === 'here') return { target: asked, answer: location.answer };
      if (location.found === 'elsewhere') return { target: other, answer: location.answer };
      answers.push(location.answer);
    }
    throw new TargetError('mailbox', 'MailboxNotFound', `neither side of the hybrid organisation knows ${calendar}: ${answers.join('; ')}`, {
      remedy: 'check the address in the input (the primary SMTP address of a mailbox)',
    });
  }

  /**
   * One question to a target, through its scheduler (its concurrency, Retry-After and retries hold for lookups too),
   * in a lane of its own: the mailbox's lane is stopped when the target refused the mailbox, which is exactly when
   * delivery asks again where it lives now. A target that answers one question at a time names the lane they wait
   * in (locateLane: EWS Autodiscover), so that waiting lookups hold no global place.
   */
  private locate(name: string, calendar: string): Promise<MailboxLocation> {
    const entry = this.options.targets.get(name);
    if (!entry?.target.locate) throw new TargetError('mailbox', 'NoLookup', `target "${name}" cannot say where a mailbox lives`);
    const { target, scheduler } = entry;
    const lane = target.locateLane?.(calendar) ?? null;
    return scheduler.submit(`route-lookup:${calendar}`, () => target.locate!(calendar), { priority: Number.MIN_SAFE_INTEGER, lane });
  }
}

/** A remembered answer still names one of the rule's two targets (the config may have changed since). */
function validAnswer(row: RouteLookupRow, rule: LookupRule): boolean {
  return row.target === rule.onPremises || row.target === rule.online;
}

function explainStatic(answer: Exclude<StaticAnswer, { kind: 'lookup' }>, kindOf: (name: string) => TargetConfig['kind'] | null): RouteExplanation {
  if (answer.kind === 'none') return { target: null, kind: null, reason: answer.reason };
  return { target: answer.target, kind: kindOf(answer.target), reason: answer.reason };
}

/**
 * What the routing says about each mailbox without asking anyone (calpush status: it sends no request): rules, and
 * for a lookup rule the answer the store remembers, if any. Builds no target (reads no secret).
 */
export async function explainRoutes(config: Config, baseDir: string, cache: RouteCache | null, calendars: string[]): Promise<Map<string, RouteExplanation>> {
  const configs = targetConfigs(config);
  const routing = compileRouting(config.routing, [...configs.keys()], baseDir);
  const kindOf = (name: string) => configs.get(name)?.kind ?? null;
  const explained = new Map<string, RouteExplanation>();
  for (const calendar of calendars) {
    const answer = staticRoute(routing, calendar);
    if (answer.kind !== 'lookup') {
      explained.set(calendar, explainStatic(answer, kindOf));
      continue;
    }
    const cached = await cache?.routeLookup(calendar);
    explained.set(
      calendar,
      cached && validAnswer(cached, answer.rule)
        ? { target: cached.target, kind: kindOf(cached.target), reason: `${answer.reason}: ${cached.answer} (asked ${cached.checkedAt})` }
        : { target: null, kind: null, reason: `${answer.reason}: not looked up yet (the next delivery asks)` },
    );
  }
  return explained;
}

/**
 * A scheduler that sends each request at once, once: for the doctor, which asks single questions and reports
 * what they answer (it never delivers, so there is nothing to pace or retry).
 */
export function directScheduler(): DeliveryScheduler {
  return {
    submit: (_mailbox, run) => run(),
    abandonMailbox: () => {},
    abandonAll: () => {},
    activeMailboxes: () => 0,
    globalConcurrency: 1,
    spentElsewhere: () => {},
    holdMailbox: () => {},
  };
}

export interface CreateRouterOptions {
  /** Remembers lookup answers; without one each lookup asks. */
  store?: Store | null;
  clock?: Clock;
  /** Record lookup answers (false: a dry run). */
  record?: boolean;
  /** calpush serve's waits before it tries a mailbox again, when not the defaults (tests make them short). */
  retries?: Partial<RetryPolicy>;
}

/** The configured targets, each with its own scheduler from the config's limits, and the routing between them. */
export async function createRouter(config: Config, baseDir: string, options: CreateRouterOptions = {}): Promise<Router<Scheduler>> {
  const routing = compileRouting(config.routing, [...targetConfigs(config).keys()], baseDir);
  // The store also keeps the people's connections a graph-delegated target writes with (store/connections.ts).
  const built = await createTargets(config, baseDir, options.store ? { store: options.store } : {});
  const targets = new Map([...built].map(([name, target]) => [name, { target, scheduler: createScheduler(config.limits, options.clock, options.retries) }]));
  return new Router({ routing, targets, cache: options.store ?? null, ...(options.record !== undefined ? { record: options.record } : {}), ...(options.clock ? { clock: options.clock } : {}) });
}

/** Routes for the doctor: the configured targets asked directly, nothing remembered. */
export async function createProbeRouter(config: Config, baseDir: string): Promise<Router<DeliveryScheduler>> {
  const routing = compileRouting(config.routing, [...targetConfigs(config).keys()], baseDir);
  const built = await createTargets(config, baseDir);
  return new Router({ routing, targets: new Map([...built].map(([name, target]) => [name, { target, scheduler: directScheduler() }])), record: false });
}
