// Prometheus metrics of `calpush serve` (GET /metrics). One registry per server, so that tests can run several.
import { performance } from 'node:perf_hooks';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { SchedulerStats } from '../engine/scheduler.ts';
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

export function createMetrics(options: { store: StoreOverview; schedulerStats?: () => SchedulerStats; defaultMetrics?: boolean }): Metrics {
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
