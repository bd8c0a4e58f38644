// `calpush serve` as a library: the push API, the delivery loop and the feed pollers over one store and target.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ConfigError, resolvePath } from '../config/secrets.ts';
import type { Clock } from '../model/clock.ts';
import { FeedPoller, feedUrls } from '../sources/feeds.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';
import { createGraphTarget } from '../app/targets.ts';
import { createScheduler } from '../engine/limits.ts';
import type { CalendarTarget } from '../targets/target.ts';
import { buildApp } from './app.ts';
import type { ServeSettings } from '../app/settings.ts';
import { DeliveryLoop } from '../engine/loop.ts';
import { listenFailure } from './listen.ts';
import { createMetrics, type Metrics } from './metrics.ts';

export interface ServeOptions extends ServeSettings {
  /** For tests: use this store / target instead of the configured ones (they are then not closed). */
  store?: Store;
  target?: CalendarTarget;
  /** Log to stdout as JSON lines (pino); off in tests. */
  log?: boolean;
  /** Run the delivery loop (default true). */
  deliver?: boolean;
  /** Run the feed pollers (default true when feeds are configured). */
  pollFeeds?: boolean;
  /** The scheduler's waits before serve tries a mailbox again (after a failure; another process delivering it), for tests. */
  retryMinMs?: number;
  busyRetryMs?: number;
  /** What time it is, for the store, the delivery loop and the API (default: the system clock). */
  clock?: Clock;
}

export interface RunningServer {
  app: FastifyInstance;
  /** http(s)://host:port */
  url: string;
  store: Store;
  loop: DeliveryLoop;
  poller: FeedPoller | null;
  metrics: Metrics;
  /** Stops taking requests, stops the pollers, lets deliveries finish (shutdownGraceMs), closes everything. */
  close(): Promise<void>;
}

function readPem(reference: { file: string } | { env: string }, baseDir: string, what: string): string {
  if ('env' in reference) {
    const value = process.env[reference.env];
    if (!value) throw new ConfigError(`${what}: environment variable ${reference.env} is not set`);
    return value;
  }
  try {
    return readFileSync(resolvePath(baseDir, reference.file), 'utf8');
  } catch (error) {
    throw new ConfigError(`${what}: cannot read ${reference.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export async function startServer(options: ServeOptions): Promise<RunningServer> {
  const { config, server, feeds, baseDir } = options;
  const { clock } = options;
  const store = options.store ?? new SqliteStore(resolvePath(baseDir, config.store.sqlite), { clock });
  const target = options.target ?? createGraphTarget(config, baseDir);
  const scheduler = createScheduler(config.limits, clock, {
    ...(options.retryMinMs !== undefined ? { retryMinMs: options.retryMinMs } : {}),
    ...(options.busyRetryMs !== undefined ? { busyRetryMs: options.busyRetryMs } : {}),
  });
  const metrics = createMetrics({ store, schedulerStats: () => scheduler.stats() });
  let stopping = false;

  const urls = feedUrls(feeds, config.mailboxes, baseDir);
  if (config.mailboxes) {
    const managed = new Set(config.mailboxes.map((m) => m.toLowerCase()));
    const outside = [...urls.keys()].filter((c) => !managed.has(c));
    if (outside.length) throw new ConfigError(`feeds: ${outside.join(', ')} ${outside.length === 1 ? 'is' : 'are'} not among the config's mailboxes`);
  }

  const loop = new DeliveryLoop({
    store,
    target,
    scheduler,
    instance: config.instance,
    maxAttempts: config.limits.maxAttempts,
    parallelMailboxes: config.limits.parallelMailboxes,
    pollMs: server.deliveryPollMs,
    clock,
    onDelivered: (summary, latencyMs) => {
      metrics.mailboxDeliveries.inc({ outcome: summary.status === 'ok' && summary.failed === 0 ? 'ok' : 'failed' });
      if (latencyMs !== null) metrics.deliveryLatency.observe(latencyMs / 1000);
      if (summary.status === 'failed' || summary.failed) app.log.warn({ calendar: summary.calendar, error: summary.error, failed: summary.failed }, 'delivery failed');
      else if (summary.created + summary.updated + summary.deleted) {
        app.log.info({ calendar: summary.calendar, created: summary.created, updated: summary.updated, deleted: summary.deleted, requests: summary.requests }, 'delivered');
      }
    },
    onError: (error) => app.log.error({ err: error }, 'delivery loop error'),
    // Resolved when a delivery runs, by which time the app (and its logger) exists.
    log: {
      debug: (fields, message) => app.log.debug(fields, message),
      info: (fields, message) => app.log.info(fields, message),
      warn: (fields, message) => app.log.warn(fields, message),
      error: (fields, message) => app.log.error(fields, message),
    },
  });

  const poller =
    urls.size && feeds
      ? new FeedPoller({
          store,
          feeds,
          urls,
          timeZone: config.timeZone,
          retention: config.retention,
          onChange: (calendar, events) => loop.nudge(calendar, events),
          onResult: (result) => {
            metrics.feedFetches.inc({ outcome: result.outcome });
            if (result.outcome === 'failed') app.log.warn({ calendar: result.calendar, feed: result.url, error: result.error }, 'feed not applied');
            else if (result.outcome === 'empty-unconfirmed') app.log.warn({ calendar: result.calendar, feed: result.url }, 'feed came back empty; events are removed only once this is confirmed');
          },
        })
      : null;

  const https = server.tls
    ? { cert: readPem(server.tls.certificate, baseDir, 'server.tls.certificate'), key: readPem(server.tls.privateKey, baseDir, 'server.tls.privateKey') }
    : undefined;
  const app = await buildApp({
    store,
    config,
    server,
    feeds: urls,
    loop,
    scheduler,
    metrics,
    logger: options.log ? { level: server.logLevel } : false,
    stopping: () => stopping,
    ...(https ? { https } : {}),
    clock,
  });

  try {
    await app.listen({ host: server.host, port: server.port });
  } catch (error) {
    await app.close();
    if (!options.target) await target.close();
    if (!options.store) await store.close();
    throw listenFailure(error, server.host, server.port, '--port (or server.port in the config)');
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : server.port;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  const url = `${https ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;

  if (options.deliver ?? true) loop.start();
  if (poller && (options.pollFeeds ?? true)) poller.start();

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      stopping = true;
      // New requests are refused from here; those in flight finish (their writes are recorded and picked up on the
      // next start if their delivery does not make it).
      await app.close();
      await poller?.stop();
      await loop.stop(server.shutdownGraceMs);
      if (!options.target) await target.close();
      if (!options.store) await store.close();
    })());

  return { app, url, store, loop, poller, metrics, close };
}
