// The configured targets, built from the config's `target` section (the target named "default") and its `targets`
// section (named targets): Microsoft Graph, EWS for Exchange Server, or a CalDAV server. EWS and CalDAV (and their
// libraries) are loaded only when configured: every run pays the start-up of what it loads.
import type { CalendarTarget } from '../targets/target.ts';
import { readSecret } from '../config/secrets.ts';
import { createGraphTarget as buildGraphTarget } from '../targets/graph/config.ts';
import type { GraphTarget } from '../targets/graph/target.ts';
import { graphTarget, targetConfigs, type Config, type TargetConfig } from './config.ts';

/** The config's Microsoft Graph target; a ConfigError when the config names another kind. */
export function createGraphTarget(config: Config, baseDir: string): GraphTarget {
  return buildGraphTarget(graphTarget(config), { instance: config.instance, baseDir, allDayTimeZone: config.timeZone, ...(config.proxy ? { proxy: config.proxy } : {}) });
}

async function buildTarget(target: TargetConfig, config: Config, baseDir: string): Promise<CalendarTarget> {
  // The top-level proxy is the default of every target's own target.proxy (config/proxy.ts).
  const context = { instance: config.instance, baseDir, allDayTimeZone: config.timeZone, ...(config.proxy ? { proxy: config.proxy } : {}) };
  switch (target.kind) {
    case 'graph':
      return buildGraphTarget(target, context);
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
export async function createTarget(config: Config, baseDir: string): Promise<CalendarTarget> {
  const all = [...targetConfigs(config).values()];
  if (all.length !== 1) throw new Error(`createTarget: the config has ${all.length} targets; build them with createTargets`);
  return buildTarget(all[0]!, config, baseDir);
}

/** Every configured target by name; a failure to build one closes those built before it. */
export async function createTargets(config: Config, baseDir: string): Promise<Map<string, CalendarTarget>> {
  const built = new Map<string, CalendarTarget>();
  try {
    for (const [name, target] of targetConfigs(config)) built.set(name, await buildTarget(target, config, baseDir));
  } catch (error) {
    await Promise.all([...built.values()].map((target) => target.close()));
    throw error;
  }
  return built;
}
