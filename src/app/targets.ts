// The configured target, built from the config's `target` section: Microsoft Graph, EWS for Exchange Server, or a
// CalDAV server. EWS and CalDAV (and their libraries) are loaded only when configured: every run pays the start-up
// of what it loads.
import type { CalendarTarget } from '../targets/target.ts';
import { readSecret } from '../config/secrets.ts';
import { createGraphTarget as buildGraphTarget } from '../targets/graph/config.ts';
import type { GraphTarget } from '../targets/graph/target.ts';
import { graphTarget, type Config } from './config.ts';

/** The config's Microsoft Graph target; a ConfigError when the config names another kind. */
export function createGraphTarget(config: Config, baseDir: string): GraphTarget {
  return buildGraphTarget(graphTarget(config), { instance: config.instance, baseDir, allDayTimeZone: config.timeZone, ...(config.proxy ? { proxy: config.proxy } : {}) });
}

export async function createTarget(config: Config, baseDir: string): Promise<CalendarTarget> {
  switch (config.target.kind) {
    case 'graph':
      return createGraphTarget(config, baseDir);
    case 'ews': {
      const { createEwsTarget } = await import('../targets/ews/config.ts');
      return createEwsTarget(config.target, { instance: config.instance, baseDir, allDayTimeZone: config.timeZone, readSecret, ...(config.proxy ? { proxy: config.proxy } : {}) });
    }
    case 'caldav': {
      const { createCalDavTarget } = await import('../targets/caldav/config.ts');
      return createCalDavTarget(config.target, { instance: config.instance, baseDir, allDayTimeZone: config.timeZone, ...(config.proxy ? { proxy: config.proxy } : {}) });
    }
  }
}
