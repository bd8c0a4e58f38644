// Prometheus metrics of `calpush serve` (GET /metrics). One registry per server, so that tests can run several.
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SchedulerStats } from '../engine/scheduler.ts';
import type { SubscriptionTargetStatus } from '../engine/notifications.ts';
import type { StoreOverview } from '../store/store.ts';

export interface Metrics {
  registry: Registry;
  httpRequests: Counter<'method' | 'route' | 'status'>;
  deliveryLatency: Histogram;
  mailboxDeliveries: Counter<'outcome'>;
  feedFetches: Counter<'outcome'>;
  /** What people did to calpush's events, found by the watch, by the policy that answered it (docs/drift.md). */
  drift: Counter<'policy' | 'kind'>;
  authFailures: Counter<'reason'>;
  authLimited: Counter;
}

export interface MetricsOptions {
  store: StoreOverview;
  schedulerStats?: () => SchedulerStats;
  /** Graph change-notification subscriptions and notifications per target, read from the store when scraped. */
  subscriptions?: () => Promise<SubscriptionTargetStatus[]>;
  defaultMetrics?: boolean;
}

export function createMetrics(options: MetricsOptions): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'calpush_process_' });
  const { store } = options;

  // Store gauges are read when scraped: one query, whatever process changed the store. The gauges of one scrape
  // share it: reused for 500 ms of elapsed (monotonic) time, an age and not a time of day, so no Clock is asked.
  let totals: Awaited<ReturnType<StoreOverview['totals']>> | null = null;
  let totalsAt = 0;
  const readTotals = async () => {
    if (!totals || performance.now() - totalsAt > 500) {
      totals = await store.totals();
      totalsAt = performance.now();
    }
    return totals;
  };
  const storeGauge = (name: string, help: string, pick: (t: NonNullable<typeof totals>) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      async collect() {
        this.set(pick(await readTotals()));
      },
    });
  storeGauge('calpush_desired_events', 'Events in the desired state, all calendars', (t) => t.desired);
  storeGauge('calpush_delivered_items', 'Items calpush has delivered and knows of, all calendars', (t) => t.delivered);
  storeGauge('calpush_pending_operations', 'Planned operations not yet answered by the target', (t) => t.pending);
  storeGauge('calpush_failed_operations', 'Pending operations whose last attempt failed', (t) => t.failedOps);
  new Gauge({
    name: 'calpush_mailboxes',
    help: 'Mailboxes by delivery state',
    labelNames: ['state'],
    registers: [registry],
    async collect() {
      const t = await readTotals();
      for (const [state, count] of Object.entries(t.mailboxes)) this.set({ state }, count);
    },
  });

  if (options.subscriptions) subscriptionMetrics(registry, options.subscriptions);

  if (options.schedulerStats) {
    const stats = options.schedulerStats;
    const fromStats = (name: string, help: string, pick: (s: SchedulerStats) => number) => {
      let last = 0;
      new Counter({
        name,
        help,
        registers: [registry],
        collect() {
          const value = pick(stats());
          if (value > last) this.inc(value - last);
          last = value;
        },
      });
    };
    fromStats('calpush_target_requests_total', 'Requests sent to the target (a $batch counts once)', (s) => s.started);
    fromStats('calpush_target_throttled_total', 'Throttling answers from the target (429/503 with Retry-After)', (s) => s.throttled);
    fromStats('calpush_target_retries_total', 'Requests sent again after a transient failure', (s) => s.retried);
  }

  return {
    registry,
    httpRequests: new Counter({ name: 'calpush_http_requests_total', help: 'Requests to the push API', labelNames: ['method', 'route', 'status'], registers: [registry] }),
    deliveryLatency: new Histogram({
      name: 'calpush_delivery_latency_seconds',
      help: 'From the first undelivered change of a mailbox (an API write, a feed change, or when the delivery loop first saw it) to its complete delivery',
      buckets: [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers: [registry],
    }),
    mailboxDeliveries: new Counter({ name: 'calpush_mailbox_deliveries_total', help: 'Deliveries of a mailbox by outcome', labelNames: ['outcome'], registers: [registry] }),
    feedFetches: new Counter({ name: 'calpush_feed_fetches_total', help: 'Feed fetches by outcome', labelNames: ['outcome'], registers: [registry] }),
    drift: new Counter({ name: 'calpush_drift_total', help: 'Edits and deletions of calpush events by people, found by the watch, by drift policy and kind', labelNames: ['policy', 'kind'], registers: [registry] }),
    authFailures: new Counter({
      name: 'calpush_api_auth_failures_total',
      help: 'Requests to the push API whose key was missing, malformed, unknown or revoked (answered 401 or 429)',
      labelNames: ['reason'],
      registers: [registry],
    }),
    authLimited: new Counter({
      name: 'calpush_api_auth_rate_limited_total',
      help: 'Failed authentications answered 429: the client address failed too often within the window',
      registers: [registry],
    }),
  };
}

/**
 * Graph change notifications (docs/drift.md): subscriptions per target and state, when each target last failed to
 * subscribe or renew, and the notifications received and rejected (a clientState not calpush's). Read from the store
 * when scraped (every worker's count); one read serves the three (reused for 500 ms of elapsed time).
 */
function subscriptionMetrics(registry: Registry, read: () => Promise<SubscriptionTargetStatus[]>): void {
  let cached: SubscriptionTargetStatus[] | null = null;
  let readAt = 0;
  const current = async () => {
    if (!cached || performance.now() - readAt > 500) {
      cached = await read();
      readAt = performance.now();
    }
    return cached;
  };
  new Gauge({
    name: 'calpush_graph_subscriptions',
    help: 'Graph change-notification subscriptions per target: active, expiring (due for renewal) and failed (none held)',
    labelNames: ['target', 'state'],
    registers: [registry],
    async collect() {
      for (const t of await current()) for (const state of ['active', 'expiring', 'failed'] as const) this.set({ target: t.target, state }, t[state]);
    },
  });
  new Gauge({
    name: 'calpush_graph_subscription_last_error_timestamp_seconds',
    help: 'When a subscription of the target last failed to be made or renewed (the message: calpush status)',
    labelNames: ['target'],
    registers: [registry],
    async collect() {
      for (const t of await current()) if (t.lastError) this.set({ target: t.target }, Date.parse(t.lastError.at) / 1000);
    },
  });
  const last = new Map<string, number>();
  new Counter({
    name: 'calpush_graph_notifications_total',
    help: 'Graph change notifications received per target: accepted, or rejected (a clientState not calpush\'s)',
    labelNames: ['target', 'outcome'],
    registers: [registry],
    async collect() {
      for (const t of await current()) {
        for (const [outcome, value] of [['received', t.notifications.received], ['rejected', t.notifications.rejected]] as const) {
          const key = `${t.target}\u0000${outcome}`;
          if (value > (last.get(key) ?? 0)) this.inc({ target: t.target, outcome }, value - (last.get(key) ?? 0));
          last.set(key, value);
        }
      }
    },
  });
}
