// `calpush watch --once`: one watch round over the mailboxes calpush delivers (engine/watch.ts), then a delivery of
// those with something to restore — what calpush serve does every watch.intervalSeconds, for the command line and cron.
import { deliver } from '../engine/delivery.ts';
import type { DeliveryLog } from '../engine/run.ts';
import type { DeliverySummary } from '../engine/summary.ts';
import { watchMailboxes, type WatchSummary } from '../engine/watch.ts';
import type { MailboxRoutes } from '../engine/routes.ts';
import type { Clock } from '../model/clock.ts';
import type { Store } from '../store/store.ts';
import type { Config } from './config.ts';
import { syncRoutes } from './sync.ts';
import { driftPolicyOf } from './watch.ts';

export interface WatchOnceOptions {
  config: Config;
  baseDir: string;
  store: Store;
  /** Only these mailboxes (default: every mailbox a target delivered). */
  calendars?: string[];
  clock?: Clock;
  log?: DeliveryLog;
  /** For tests: these routes instead of the configured targets. */
  routes?: MailboxRoutes;
}

export interface WatchOnceResult {
  watch: WatchSummary;
  /** The delivery of the mailboxes with something to restore; null when there was none. */
  delivery: DeliverySummary | null;
}

export async function runWatchOnce(options: WatchOnceOptions): Promise<WatchOnceResult> {
  const { config, store } = options;
  const { routes, close } = await syncRoutes({ config, baseDir: options.baseDir, ...(options.clock ? { clock: options.clock } : {}), ...(options.routes ? { routes: options.routes } : {}) }, store, true);
  try {
    const calendars = options.calendars?.map((c) => c.trim().toLowerCase()) ?? (await store.mailboxes()).filter((m) => m.target).map((m) => m.calendar);
    const watch = await watchMailboxes({
      store,
      routes,
      calendars,
      policyOf: driftPolicyOf(config.watch),
      window: { pastDays: config.watch.pastDays, futureDays: config.watch.futureDays },
      reconcileMs: config.watch.reconcileHours * 3_600_000,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    if (!watch.toDeliver.length) return { watch, delivery: null };
    const delivery = await deliver({
      store,
      routes,
      instance: config.instance,
      calendars: watch.toDeliver,
      maxAttempts: config.limits.maxAttempts,
      parallelMailboxes: config.limits.parallelMailboxes,
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.log ? { log: options.log } : {}),
    });
    return { watch, delivery };
  } finally {
    await close();
  }
}
