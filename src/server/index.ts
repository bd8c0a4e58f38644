// `calpush serve` as a library: the push API, the delivery loop and the feed pollers over one store and target.
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { ConfigError, resolvePath } from '../config/secrets.ts';
import { resolveProxy } from '../config/proxy.ts';
import type { Clock } from '../model/clock.ts';
import { FeedPoller, feedUrls } from '../sources/feeds.ts';
import { openStore, storeKeyring } from '../app/store.ts';
import type { Store } from '../store/store.ts';
import type { AlertStore } from '../store/alerts.ts';
import type { ConnectionStore } from '../store/connections.ts';
import { connectionStoreOf, connectUrl, delegatedTarget } from '../app/targets.ts';
import { createConsentClient } from '../targets/graph/config.ts';
import { AlertMonitor } from '../alerts/monitor.ts';
import { credentialExpiries } from '../app/alerts.ts';
import { createScheduler } from '../engine/limits.ts';
import { singleRoute, type MailboxRoutes } from '../engine/routes.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import type { CalendarTarget, TargetError } from '../targets/target.ts';
import { agentStreaming, WatchedMailboxStreams, type AgentStreaming } from '../engine/ews-streaming.ts';
import { buildApp } from './app.ts';
import type { ServeSettings } from '../app/settings.ts';
import { DeliveryLoop } from '../engine/loop.ts';
import { MailboxWatcher } from '../engine/watcher.ts';
import { MailboxSubscriptions, subscriptionStatus, type SubscriberOptions } from '../engine/notifications.ts';
import { systemClock } from '../model/clock.ts';
import type { DeliveryLog } from '../engine/run.ts';
import { driftPolicyOf } from '../app/watch.ts';
import { Cadence } from '../engine/cadence.ts';
import { createAgent, type AgentRun } from '../app/agent.ts';
import { agentLeaseOwner } from '../agent/run.ts';
import { defaultWorkerId, ledgerName } from '../engine/lease.ts';
import { createRouter, Router } from '../app/router.ts';
import { ManagedMailboxes, roomListEntries } from '../app/mailboxes.ts';
import type { MailboxSummary } from '../engine/summary.ts';
import { listenFailure } from './listen.ts';
import { createMetrics, type Metrics } from './metrics.ts';

export interface ServeOptions extends ServeSettings {
  /** For tests: use this store / target (the one target, "default") instead of the configured ones (they are then not closed). */
  store?: Store;
  target?: CalendarTarget;
  /** For tests: these routes (each target with its shared scheduler) instead of the configured targets and routing. */
  routes?: MailboxRoutes<Scheduler>;
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
  /** Told of each mailbox delivery the loop finishes (calpush demo --hybrid reports a move with it). */
  onDelivered?: (summary: MailboxSummary) => void;
  /** Names this worker in mailbox leases and the request ledger (default defaultWorkerId(): host:pid:nonce, one per process): unique among the workers of a store. */
  workerId?: string;
  /** Run the alert monitor on its cadence (default true when `alerts` is configured; tests call tick()). */
  watchAlerts?: boolean;
  /** Watch the delivered mailboxes for drift on watch.intervalSeconds (default: watch.enabled and delivering; tests call watcher.tick()). */
  watchMailboxes?: boolean;
  /** Run the resource agent on its cadence (default true when `agent` is configured). */
  runAgent?: boolean;
  /** The wait between passes of serve's cadences (the agent, the room lists), for tests (engine/cadence.ts). */
  cadenceWait?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Told of each agent pass. */
  onAgentPass?: (run: AgentRun) => void;
}

/** The store's alert and connection parts (both stores have them; a test's stand-in may not). */
type StoreParts = AlertStore & ConnectionStore;

export interface RunningServer {
  app: FastifyInstance;
  /** http(s)://host:port */
  url: string;
  store: Store;
  loop: DeliveryLoop;
  poller: FeedPoller | null;
  /** The alert monitor, when the config has an `alerts` section. */
  alerts: AlertMonitor | null;
  /** The watch of the delivered mailboxes for drift (docs/drift.md). */
  watcher: MailboxWatcher;
  /** Graph change-notification subscriptions, when server.publicUrl is set (docs/drift.md). */
  subscriptions: MailboxSubscriptions | null;
  /** The resource agent's loop, when the config has an `agent` section. */
  agent: Cadence<AgentRun> | null;
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
  const store = options.store ?? (await openStore(config.store, baseDir, clock ? { clock } : {}));
  // The config with the serve settings in effect (the consent page's public URL is the server's).
  const effective = { ...config, server };
  // Every configured target with its own scheduler, and the routing between them (app/router.ts): the API and the
  // feeds feed any target, as sync and import do.
  // serve's waits before it tries a mailbox again, when a test makes them short (engine/deferrals.ts).
  const retries = {
    ...(options.retryMinMs !== undefined ? { retryMinMs: options.retryMinMs } : {}),
    ...(options.busyRetryMs !== undefined ? { busyRetryMs: options.busyRetryMs } : {}),
  };
  let routes: MailboxRoutes<Scheduler>;
  let closeRoutes = async () => {};
  try {
    if (options.routes) routes = options.routes;
    else if (options.target) routes = singleRoute(options.target, createScheduler(config.limits, clock, retries));
    else {
      const router = await createRouter(effective, baseDir, { store, retries, ...(clock ? { clock } : {}) });
      routes = router;
      closeRoutes = () => router.close();
    }
  } catch (error) {
    if (!options.store) await store.close();
    throw error;
  }
  const scheduler = combinedScheduler(routes.schedulers());
  const connections = connectionStoreOf(store);
  // The consent pages sign people in to the graph-delegated target's app (at most one per config).
  const delegated = delegatedTarget(config);
  const consentClient = delegated ? createConsentClient(delegated.target, baseDir, config.proxy) : null;
  const metrics = createMetrics({
    store,
    schedulerStats: () => scheduler.stats(),
    subscriptions: async () => subscriptionStatus(await store.subscriptionRows(), await store.notificationCounts(), (options.clock ?? systemClock).now()),
  });
  let stopping = false;

  // The config's mailboxes with the rooms of its room lists, read now and every roomListRefreshMinutes (app/mailboxes.ts).
  const managed = managedMailboxes(options, routes);
  await managed.refresh();
  const urls = feedUrls(feeds, managed.set ? [...managed.set] : undefined, baseDir);
  if (managed.set) {
    const outside = [...urls.keys()].filter((c) => !managed.set!.has(c));
    if (outside.length) throw new ConfigError(`feeds: ${outside.join(', ')} ${outside.length === 1 ? 'is' : 'are'} not among the config's mailboxes`);
  }

  const loop = new DeliveryLoop({
    store,
    routes,
    instance: config.instance,
    maxAttempts: config.limits.maxAttempts,
    parallelMailboxes: config.limits.parallelMailboxes,
    pollMs: server.deliveryPollMs,
    ...(options.workerId !== undefined ? { workerId: options.workerId } : {}),
    clock,
    onDelivered: (summary, latencyMs) => {
      options.onDelivered?.(summary);
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
          proxy: resolveProxy([feeds.proxy, config.proxy], baseDir, 'feeds.proxy'),
          onChange: (calendar, events) => loop.nudge(calendar, events),
          onResult: (result) => {
            metrics.feedFetches.inc({ outcome: result.outcome });
            if (result.outcome === 'failed') app.log.warn({ calendar: result.calendar, feed: result.url, error: result.error }, 'feed not applied');
            else if (result.outcome === 'empty-unconfirmed') app.log.warn({ calendar: result.calendar, feed: result.url }, 'feed came back empty; events are removed only once this is confirmed');
          },
        })
      : null;

  // Built before the server listens, so that an agent section serve cannot run refuses the start (its log lines are
  // written once the app exists).
  let agent: Cadence<AgentRun> | null;
  // EWS streaming notifications (engine/ews-streaming.ts), ended and unsubscribed by close().
  const streaming: Array<{ stop(): Promise<void> }> = [];
  const streamingFailed = (mailbox: string | null, error: TargetError) => app.log.warn({ mailbox, error: { code: error.code, message: error.message } }, 'EWS streaming notifications: polling covers it');
  try {
    agent = config.agent && (options.runAgent ?? true) ? agentLoop(options, routes, store, (run) => logAgentPass(app, run), (loop) => agentStreaming(loop.target, loop.scheduler, (mailbox) => loop.cadence().soon([mailbox]), streamingFailed), streaming) : null;
  } catch (error) {
    await closeRoutes();
    if (!options.store) await store.close();
    throw error;
  }

  const subscriptions = notificationSubscriber(options, routes, store, (calendars, full) => void watcher.watchSoon(calendars, full), () => app);
  const retiring = subscriptions ? null : retiringSubscriber(options, routes, store, () => app);
  const watchedStreams = new WatchedMailboxStreams(routes, (calendars) => void watcher.watchSoon(calendars), streamingFailed);
  streaming.push(watchedStreams);

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
    mailboxes: managed.set,
    logger: options.log ? { level: server.logLevel } : false,
    stopping: () => stopping,
    ...(https ? { https } : {}),
    ...(subscriptions ? { notifications: subscriptions } : {}),
    clock,
    ...(connections && delegated
      ? {
          delegated: {
            connections,
            connectUrl: (calendar?: string) => connectUrl(effective, calendar),
            ...(consentClient
              ? { consent: { client: consentClient, instance: config.instance, publicUrl: server.publicUrl, authorityOrigin: new URL(delegated.target.authorityHost).origin, onConnected: (calendar: string) => loop.deliverNow(calendar) } }
              : {}),
          },
        }
      : {}),
  });

  try {
    await app.listen({ host: server.host, port: server.port });
  } catch (error) {
    await app.close();
    await closeRoutes();
    if (!options.store) await store.close();
    throw listenFailure(error, server.host, server.port, '--port (or server.port in the config)');
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : server.port;
  const host = server.host.includes(':') ? `[${server.host}]` : server.host;
  const url = `${https ? 'https' : 'http'}://${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;

  // Writes of the other workers sharing the store (PostgreSQL: NOTIFY at commit) wake this one's loop at once; its
  // poll (server.deliveryPollMs) stays as the fallback for a store without notifications or a lost connection.
  const stopWatching = (options.deliver ?? true) && store.watchChanges ? await store.watchChanges((calendar) => loop.nudge(calendar === '*' ? undefined : calendar, Number.POSITIVE_INFINITY)) : null;
  const alertStore = store as Partial<StoreParts>;
  const alerts =
    config.alerts && typeof alertStore.fireAlert === 'function'
      ? new AlertMonitor({
          config: config.alerts,
          baseDir,
          instance: config.instance,
          store: store as Store & StoreParts,
          feedCalendars: [...urls.keys()],
          credentials: credentialExpiries(config, baseDir),
          connectUrl: (calendar) => connectUrl(effective, calendar),
          ...(clock ? { clock } : {}),
          log: { info: (f, m) => app.log.info(f, m), warn: (f, m) => app.log.warn(f, m), error: (f, m) => app.log.error(f, m) },
        })
      : null;

  const watcher: MailboxWatcher = new MailboxWatcher({
    store,
    routes,
    intervalMs: config.watch.intervalSeconds * 1000,
    reconcileMs: config.watch.reconcileHours * 3_600_000,
    window: { pastDays: config.watch.pastDays, futureDays: config.watch.futureDays },
    policyOf: driftPolicyOf(config.watch),
    deliverSoon: (calendars) => loop.deliverSoon(calendars),
    ...(options.workerId !== undefined ? { workerId: options.workerId } : {}),
    ...(clock ? { clock } : {}),
    onDrift: (_calendar, decision) => metrics.drift.inc({ policy: decision.policy, kind: decision.kind }),
    upkeep: async (calendars: string[]) => {
      await subscriptions?.upkeep(calendars);
      await watchedStreams.upkeep(calendars);
    },
    log: {
      debug: (fields, message) => app.log.debug(fields, message),
      info: (fields, message) => app.log.info(fields, message),
      warn: (fields, message) => app.log.warn(fields, message),
      error: (fields, message) => app.log.error(fields, message),
    },
  });

  const roomLists = roomListEntries(config).length
    ? new Cadence({
        pass: async () => {
          await managed.refresh();
          for (const [list, why] of managed.unreadable) app.log.warn({ roomList: list, error: why }, 'room list not read: its rooms are not managed until it is');
        },
        intervalMs: config.roomListRefreshMinutes * 60_000,
        ...(clock ? { clock } : {}),
        ...(options.cadenceWait ? { wait: options.cadenceWait } : {}),
        // The first pass reads what the start just read: from memory, nothing is asked.
        onError: (error) => app.log.error({ err: error }, 'room lists: the refresh failed'),
      })
    : null;

  if (options.deliver ?? true) loop.start();
  if ((options.watchMailboxes ?? ((options.deliver ?? true) && config.watch.enabled))) {
    watcher.start();
    // Subscribed now, not at the first round: the endpoints listen already, so Graph's validation reaches them.
    if (subscriptions) {
      void store
        .mailboxes()
        .then((mailboxes) => subscriptions.upkeep(mailboxes.filter((m) => m.target).map((m) => m.calendar)))
        .catch((error: unknown) => app.log.error({ err: error }, 'subscribing to change notifications failed; the next watch round tries again'));
    }
  }
  // Watching or notifications turned off: the subscriptions an earlier serve made are deleted (Graph would keep posting).
  if (retiring) {
    void store
      .mailboxes()
      .then((mailboxes) => retiring.retireAll(mailboxes.filter((m) => m.target).map((m) => m.calendar)))
      .catch((error: unknown) => app.log.error({ err: error }, 'deleting the change-notification subscriptions of an earlier serve failed; they expire within 3 days'));
  }
  agent?.start();
  roomLists?.start();
  if (poller && (options.pollFeeds ?? true)) poller.start();
  if (alerts && (options.watchAlerts ?? true)) alerts.start();

  let closing: Promise<void> | null = null;
  const close = () =>
    (closing ??= (async () => {
      stopping = true;
      // New requests are refused from here; those in flight finish (their writes are recorded and picked up on the
      // next start if their delivery does not make it).
      await app.close();
      await poller?.stop();
      await stopWatching?.();
      await alerts?.stop();
      await watcher.stop();
      await subscriptions?.idle();
      await retiring?.idle();
      await agent?.stop(Math.min(server.shutdownGraceMs, 5_000));
      await Promise.all(streaming.map((s) => s.stop()));
      await roomLists?.stop(Math.min(server.shutdownGraceMs, 5_000));
      await loop.stop(server.shutdownGraceMs);
      consentClient?.close();
      await closeRoutes();
      if (!options.store) await store.close();
    })());

  return { app, url, store, loop, poller, alerts, watcher, subscriptions, agent, metrics, close };
}

/**
 * Graph change notifications of the watched mailboxes (engine/notifications.ts), when server.publicUrl is https,
 * watch.notifications is not false and serve watches. The clientState is derived from the store's current
 * encryption key, so every worker sharing the store and keys has the same one; without encryption keys there is
 * none to derive, and serve polls only (said once at the start).
 */
function notificationSubscriber(options: ServeOptions, routes: MailboxRoutes<Scheduler>, store: SubscriberOptions['store'], watchSoon: (calendars: string[], full: boolean) => void, app: () => FastifyInstance): MailboxSubscriptions | null {
  const { config, server } = options;
  // As the watcher's (a test that drives the watcher's rounds itself still gets the subscriptions).
  const watching = (options.deliver ?? true) && config.watch.enabled;
  if (!server.publicUrl?.startsWith('https://') || !config.watch.notifications || !watching) return null;
  const keyring = storeKeyring(config.store, options.baseDir);
  const log = lazyLog(app);
  if (!keyring) {
    queueMicrotask(() => log.warn({}, 'change notifications are off: their clientState is derived from store.encryptionKeys, which the config does not list; the mailboxes are watched by polling (add an encryption key to turn them on)'));
    return null;
  }
  // Under every listed key: a notification of a subscription made before a key rotation is still ours.
  const [clientState, ...earlierClientStates] = keyring.deriveAll(`graph clientState ${config.instance}`);
  return new MailboxSubscriptions({ routes, publicUrl: server.publicUrl, clientState: clientState!, earlierClientStates, watchSoon, store, ...(options.clock ? { clock: options.clock } : {}), log });
}

/**
 * A subscriber that only deletes: serve delivers with server.publicUrl and the store's keys (so an earlier serve may
 * have subscribed) but no longer watches, or watch.notifications is false.
 */
function retiringSubscriber(options: ServeOptions, routes: MailboxRoutes<Scheduler>, store: SubscriberOptions['store'], app: () => FastifyInstance): MailboxSubscriptions | null {
  const { config, server } = options;
  if (!(options.deliver ?? true) || !server.publicUrl?.startsWith('https://')) return null;
  const keyring = storeKeyring(config.store, options.baseDir);
  if (!keyring) return null;
  const [clientState, ...earlierClientStates] = keyring.deriveAll(`graph clientState ${config.instance}`);
  return new MailboxSubscriptions({ routes, publicUrl: server.publicUrl, clientState: clientState!, earlierClientStates, watchSoon: () => {}, store, ...(options.clock ? { clock: options.clock } : {}), log: lazyLog(app) });
}

/** The app's logger, looked up when a line is written (the app is built after the parts that log). */
function lazyLog(app: () => FastifyInstance): DeliveryLog {
  return {
    debug: (fields, message) => app().log.debug(fields, message),
    info: (fields, message) => app().log.info(fields, message),
    warn: (fields, message) => app().log.warn(fields, message),
    error: (fields, message) => app().log.error(fields, message),
  };
}

/** The managed mailboxes, their room lists read through the running targets and their schedulers. */
function managedMailboxes(options: ServeOptions, routes: MailboxRoutes<Scheduler>): ManagedMailboxes {
  const directoryOf = (name: string) => (routes instanceof Router ? routes.member(name) : options.target && name === 'default' ? { target: options.target, scheduler: routes.schedulers()[0]! } : undefined);
  return new ManagedMailboxes(options.config, directoryOf, { ...(options.clock ? { clock: options.clock } : {}), refreshMs: options.config.roomListRefreshMinutes * 60_000 });
}

/**
 * The resource agent under serve: a pass every agent.intervalSeconds through the scheduler of the target it names —
 * the same scheduler delivery uses, so the agent's requests and the deliveries share Outlook's per-mailbox budgets.
 * Room lists are read again every agent.roomListRefreshMinutes.
 */
function agentLoop(
  options: ServeOptions,
  routes: MailboxRoutes<Scheduler>,
  store: Store,
  log: (run: AgentRun) => void,
  streamingFor: (loop: { target: CalendarTarget; scheduler: Scheduler; cadence: () => Cadence<AgentRun> }) => AgentStreaming | null,
  streams: Array<{ stop(): Promise<void> }>,
): Cadence<AgentRun> {
  const agentConfig = options.config.agent!;
  const member = routes instanceof Router ? routes.member(agentConfig.target) : options.target ? { target: options.target, scheduler: routes.schedulers()[0]! } : undefined;
  if (!member) throw new ConfigError(`agent.target "${agentConfig.target}" is not among the targets calpush serve runs`);
  // Every worker runs the agent: a mailbox's lease (under the agent's own owner id) lets one of them answer it.
  const workerId = options.workerId ?? defaultWorkerId();
  const leases = { store, owner: agentLeaseOwner(workerId) };
  // Its own ledger name, as the watch has: delivery's scheduler sees the agent's spend as spent elsewhere on top of
  // what it counted itself, which errs on the side of Outlook's budget.
  const ledger = { store, id: ledgerName(workerId) };
  const agent = createAgent(options.config, { target: member.target, scheduler: member.scheduler, store, leases, ledger, baseDir: options.baseDir, ...(options.clock ? { clock: options.clock } : {}) });
  const streaming = streamingFor({ ...member, cadence: () => cadence });
  if (streaming) streams.push(streaming);
  const cadence: Cadence<AgentRun> = new Cadence({
    pass: (only) => agent.pass(only),
    intervalMs: agentConfig.intervalSeconds * 1000,
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.cadenceWait ? { wait: options.cadenceWait } : {}),
    onPass: (run, only) => {
      // A pass of the notified mailboxes only reads no more than those: the subscriptions are armed after a full one.
      if (only === null) streaming?.afterPass(run.mailboxes.map((m) => m.mailbox));
      log(run);
      options.onAgentPass?.(run);
    },
  });
  return cadence;
}

/** Each answer the agent gave, and each mailbox or room list it could not read, as a log line. */
function logAgentPass(app: FastifyInstance, run: AgentRun): void {
  for (const outcome of run.outcomes) {
    if (outcome.outcome === 'unchanged') continue;
    const fields = { mailbox: outcome.mailbox, subject: outcome.subject, organizer: outcome.organizer, outcome: outcome.outcome, reason: outcome.reason, ...(outcome.alias ? { alias: outcome.alias } : {}) };
    if (outcome.providerProblem) app.log.warn({ ...fields, uid: outcome.uid, problem: outcome.providerProblem, ...(outcome.instructionsFrom ? { instructionsFrom: outcome.instructionsFrom } : {}) }, 'agent: the conference provider failed');
    if (outcome.outcome === 'failed') app.log.warn({ ...fields, error: outcome.error }, 'agent: a request failed');
    else app.log.info(fields, 'agent: answered');
  }
  for (const mailbox of run.mailboxes) if (mailbox.newRound) app.log.warn({ mailbox: mailbox.mailbox, why: mailbox.newRound }, 'agent: the cursor could not be used, a new round started');
  for (const mailbox of run.mailboxes) if (mailbox.error) app.log.warn({ mailbox: mailbox.mailbox, error: mailbox.error }, 'agent: mailbox failed');
  for (const list of run.roomLists) app.log.warn({ roomList: list.roomList, error: list.error }, 'agent: room list failed');
}

/** What the metrics and the dashboard read of the schedulers (one per target), summed over all of them. */
function combinedScheduler(schedulers: Scheduler[]): Pick<Scheduler, 'stats' | 'throttledMailboxes'> {
  return {
    stats: () => {
      const all = schedulers.map((s) => s.stats());
      return {
        started: all.reduce((n, s) => n + s.started, 0),
        retried: all.reduce((n, s) => n + s.retried, 0),
        throttled: all.reduce((n, s) => n + s.throttled, 0),
        maxInFlight: all.reduce((n, s) => n + s.maxInFlight, 0),
        maxInFlightPerMailbox: Math.max(0, ...all.map((s) => s.maxInFlightPerMailbox)),
      };
    },
    throttledMailboxes: () => schedulers.flatMap((s) => s.throttledMailboxes()),
  };
}
