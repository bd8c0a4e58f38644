// What `calpush serve`, `import` and `apikey` read from the config file: the core config with its `server`
// (defaults filled in) and `feeds` sections.
import { ConfigError } from '../config/secrets.ts';
import { loadConfig, parseConfig, type Config } from './config.ts';
import { feedsConfigSchema, type FeedsConfig } from '../sources/feeds.ts';
import { serverConfigSchema, type ServerConfig } from '../server/config.ts';
import type { z } from 'zod';

export interface ServeSettings {
  config: Config;
  server: ServerConfig;
  feeds: FeedsConfig | undefined;
  baseDir: string;
}

function issues(error: z.ZodError, prefix: string): string {
  return error.issues.map((issue) => `  ${[prefix, ...issue.path].join('.')}: ${issue.message}`).join('\n');
}

export function parseServerConfig(raw: unknown, origin = 'config'): ServerConfig {
  const parsed = serverConfigSchema.safeParse(raw ?? {});
  if (!parsed.success) throw new ConfigError(`${origin} is invalid:\n${issues(parsed.error, 'server')}`);
  return parsed.data;
}

export function parseFeedsConfig(raw: unknown, origin = 'config'): FeedsConfig | undefined {
  if (raw === undefined) return undefined;
  const parsed = feedsConfigSchema.safeParse(raw);
  if (!parsed.success) throw new ConfigError(`${origin} is invalid:\n${issues(parsed.error, 'feeds')}`);
  return parsed.data;
}

function settingsOf(config: Config): Omit<ServeSettings, 'baseDir'> {
  return { config, server: config.server ?? serverConfigSchema.parse({}), feeds: config.feeds };
}

export function loadServeConfig(path: string): ServeSettings & { path: string } {
  const { config, baseDir } = loadConfig(path);
  return { ...settingsOf(config), baseDir, path };
}

export function serveSettingsFrom(raw: unknown, origin = 'config'): Omit<ServeSettings, 'baseDir'> {
  return settingsOf(parseConfig(raw, origin));
}
