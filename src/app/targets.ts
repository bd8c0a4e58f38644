// The configured target, built from the config's `target` section: Microsoft Graph (app-only or delegated), EWS for
// Exchange Server, or a CalDAV server. EWS and CalDAV (and their libraries) are loaded only when configured: every run
// pays the start-up of what it loads.
import type { CalendarTarget } from '../targets/target.ts';
import { ConfigError, readSecret } from '../config/secrets.ts';
import { createGraphDelegatedTarget, createGraphTarget as buildGraphTarget } from '../targets/graph/config.ts';
import type { DelegatedTokenCaches } from '../targets/graph/delegated.ts';
import type { GraphTarget } from '../targets/graph/target.ts';
import type { ConnectionStore } from '../store/connections.ts';
import { graphTarget, type Config } from './config.ts';

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
  return buildGraphTarget(graphTarget(config), { instance: config.instance, baseDir, allDayTimeZone: config.timeZone });
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

export async function createTarget(config: Config, baseDir: string, services: TargetServices = {}): Promise<CalendarTarget> {
  const context = { instance: config.instance, baseDir, allDayTimeZone: config.timeZone };
  switch (config.target.kind) {
    case 'graph':
      return createGraphTarget(config, baseDir);
    case 'graph-delegated': {
      const connections = connectionStoreOf(services.store);
      if (!connections) throw new ConfigError('target.kind "graph-delegated" needs the store of the people’s connections; this command cannot use it');
      return createGraphDelegatedTarget(config.target, { ...context, caches: tokenCaches(connections), connectUrl: (calendar) => connectUrl(config, calendar) });
    }
    case 'ews': {
      const { createEwsTarget } = await import('../targets/ews/config.ts');
      return createEwsTarget(config.target, { ...context, readSecret });
    }
    case 'caldav': {
      const { createCalDavTarget } = await import('../targets/caldav/config.ts');
      return createCalDavTarget(config.target, context);
    }
  }
}
