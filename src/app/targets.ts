// The configured targets, built from the config's `target` section (the target named "default") and its `targets`
// section (named targets): Microsoft Graph (app-only or delegated), EWS for Exchange Server, or a CalDAV server. EWS
// and CalDAV (and their libraries) are loaded only when configured: every run pays the start-up of what it loads.
import type { CalendarTarget } from '../targets/target.ts';
import { ConfigError, readSecret } from '../config/secrets.ts';
import { createGraphDelegatedTarget, createGraphTarget as buildGraphTarget } from '../targets/graph/config.ts';
import type { DelegatedTokenCaches } from '../targets/graph/delegated.ts';
import type { GraphTarget } from '../targets/graph/target.ts';
import type { ConnectionStore } from '../store/connections.ts';
import { graphTarget, targetConfigs, type Config, type TargetConfig } from './config.ts';

/** What some targets need besides their config: delegated Graph keeps the people's tokens in the store. */
export interface TargetServices {
  /** The command's store: used when it keeps connections (store/connections.ts). */
  store?: object;
}

/** The store's connections, when it keeps them (the SQLite store does; a test's stand-in may not). */
export function connectionStoreOf(store: object | undefined): ConnectionStore | undefined {
  const candidate = store as Partial<ConnectionStore> | undefined;
  return candidate && typeof candidate.connectionTokenCache === 'function' && typeof candidate.disconnect === 'function' ? (candidate as ConnectionStore) : undefined;
}

/** The config's Microsoft Graph target; a ConfigError when the config names another kind. */
export function createGraphTarget(config: Config, baseDir: string): GraphTarget {
  return buildGraphTarget(graphTarget(config), { instance: config.instance, baseDir, allDayTimeZone: config.timeZone, ...(config.proxy ? { proxy: config.proxy } : {}) });
}

/** The page where the person of `calendar` connects it: `server.publicUrl` + /connect (relative without one). */
export function connectUrl(config: Pick<Config, 'server'>, calendar?: string): string {
  const base = config.server?.publicUrl ?? '';
  return `${base}/connect${calendar ? `?mailbox=${encodeURIComponent(calendar)}` : ''}`;
}

/** The delegated target's view of the store's connections: only connected calendars have a cache. */
export function tokenCaches(store: ConnectionStore): DelegatedTokenCaches {
  return {
    load: async (calendar) => {
      const row = await store.connection(calendar);
      if (!row || row.state !== 'connected') return null;
      const cache = await store.connectionTokenCache(calendar);
      return cache ? { cache, homeAccountId: row.homeAccountId } : null;
    },
    save: async (calendar, cache) => {
      await store.saveConnectionTokenCache(calendar, cache);
    },
    lost: async (calendar, loss) => {
      await store.disconnect(calendar, loss.reason, loss.message);
    },
  };
}

/** The config's graph-delegated target (at most one: the consent page signs people in to one app), by name. */
export function delegatedTarget(config: Config): { name: string; target: Extract<TargetConfig, { kind: 'graph-delegated' }> } | undefined {
  for (const [name, target] of targetConfigs(config)) if (target.kind === 'graph-delegated') return { name, target };
  return undefined;
}

async function buildTarget(target: TargetConfig, config: Config, baseDir: string, services: TargetServices): Promise<CalendarTarget> {
  // The top-level proxy is the default of every target's own target.proxy (config/proxy.ts).
  const context = { instance: config.instance, baseDir, allDayTimeZone: config.timeZone, ...(config.proxy ? { proxy: config.proxy } : {}) };
  switch (target.kind) {
    case 'graph':
      return buildGraphTarget(target, context);
    case 'graph-delegated': {
      const connections = connectionStoreOf(services.store);
      if (!connections) throw new ConfigError('target.kind "graph-delegated" needs the store of the people’s connections; this command cannot use it');
      return createGraphDelegatedTarget(target, { ...context, caches: tokenCaches(connections), connectUrl: (calendar) => connectUrl(config, calendar) });
    }
    case 'ews': {
      const { createEwsTarget } = await import('../targets/ews/config.ts');
      return createEwsTarget(target, { ...context, readSecret });
    }
    case 'caldav': {
      const { createCalDavTarget } = await import('../targets/caldav/config.ts');
      return createCalDavTarget(target, context);
    }
  }
}

/** The one target of a config with one (its single `target`, or its only named target). */
export async function createTarget(config: Config, baseDir: string, services: TargetServices = {}): Promise<CalendarTarget> {
  const all = [...targetConfigs(config).values()];
  if (all.length !== 1) throw new Error(`createTarget: the config has ${all.length} targets; build them with createTargets`);
  return buildTarget(all[0]!, config, baseDir, services);
}

/** Every configured target by name (or those named in `only`); a failure to build one closes those built before it. */
export async function createTargets(config: Config, baseDir: string, services: TargetServices = {}, only?: ReadonlySet<string>): Promise<Map<string, CalendarTarget>> {
  const built = new Map<string, CalendarTarget>();
  try {
    for (const [name, target] of targetConfigs(config)) if (!only || only.has(name)) built.set(name, await buildTarget(target, config, baseDir, services));
  } catch (error) {
    await Promise.all([...built.values()].map((target) => target.close()));
    throw error;
  }
  return built;
}
