// The configuration file (JSON), assembled here from the sections each part owns: the target's (targets/*/schema.ts),
// the store's (store/config.ts), the limits (the engine's, engine/limits.ts, and the sources' for .ics files,
// sources/ics-limits.ts), the sources' feeds and retention (sources/feeds.ts, sources/retention.ts) and the server's
// (server/config.ts). The parts never import this module: only the edges (cli/, server/, admin/) do. Secrets are
// never written in the config: each is a reference to an environment variable or a file (config/secrets.ts),
// resolved at start and kept in memory only.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { findWindows } from 'windows-iana';
import { z } from 'zod';
import { alertsConfigSchema } from '../alerts/config.ts';
import { ConfigError } from '../config/secrets.ts';
import { engineLimitsShape } from '../engine/limits.ts';
import type { RetentionRule } from '../model/retention.ts';
import { canonicalTimeZone } from '../model/time.ts';
import { serverConfigSchema } from '../server/config.ts';
import { feedsConfigSchema } from '../sources/feeds.ts';
import { icsLimitsShape } from '../sources/ics-limits.ts';
import { retentionSchema } from '../sources/retention.ts';
import { storeConfigSchema } from '../store/config.ts';
import { caldavTargetSchema } from '../targets/caldav/schema.ts';
import { ewsTargetSchema } from '../targets/ews/schema.ts';
import { graphDelegatedTargetSchema, graphTargetSchema, type GraphTargetConfig } from '../targets/graph/schema.ts';

/**
 * The `limits` section: the engine's keys (the scheduler's) and the sources' (.ics files), written side by side as
 * README documents them. Absent, or with keys left out, each key takes its default.
 */
const limitsSchema = z
  .object({ ...engineLimitsShape, ...icsLimitsShape })
  .strict()
  .prefault({});

export const configSchema = z
  .object({
    /** Names this deployment in the tag of every event it writes; two deployments never touch each other's events. */
    instance: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 letters, digits, dot, dash or underscore')
      .default('default'),
    store: storeConfigSchema,
    /** Zone for all-day events and for floating times in .ics input. */
    timeZone: z.string().default('UTC'),
    target: z.discriminatedUnion('kind', [graphTargetSchema, graphDelegatedTargetSchema, ewsTargetSchema, caldavTargetSchema]),
    /**
     * The calendars this deployment manages. When given, the input is the complete desired state for each of
     * them (an empty set removes our events) and records for other calendars are refused.
     */
    mailboxes: z.array(z.string().email()).optional(),
    /** The HTTP push API of `calpush serve` (docs/api.md). */
    server: serverConfigSchema.optional(),
    /** Per-calendar iCalendar feeds polled by `calpush serve` (docs/api.md). */
    feeds: feedsConfigSchema.optional(),
    retention: retentionSchema,
    limits: limitsSchema,
    /** Alerts of `calpush serve`: webhooks and email when access is lost, a credential expires, a feed fails, delivery stalls. */
    alerts: alertsConfigSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.target.kind === 'graph-delegated' && !config.store.encryptionKeys) {
      // The people's refresh tokens are kept sealed, never in clear: no key, no delegated access.
      ctx.addIssue({ code: 'custom', path: ['store', 'encryptionKeys'], message: 'is required with target.kind "graph-delegated": the people’s refresh tokens are kept encrypted with it (make a key: openssl rand -base64 32)' });
    }
    const zone = canonicalTimeZone(config.timeZone);
    if (!zone) ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `"${config.timeZone}" is not a known IANA time zone` });
    else if (!findWindows(zone)?.length) {
      ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `"${config.timeZone}" has no Windows equivalent, so all-day events cannot be anchored in it` });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** The config's retention setting at the moment `nowMs` (a full replacement's rule; src/model/retention.ts). */
export function retentionRule(config: Pick<Config, 'retention' | 'timeZone'>, nowMs: number): RetentionRule {
  return { retention: config.retention, nowMs, allDayTimeZone: config.timeZone };
}

/** The config's Graph target, or a ConfigError naming the kind that is there instead. */
export function graphTarget(config: Config): GraphTargetConfig {
  if (config.target.kind !== 'graph') throw new ConfigError(`target.kind is "${config.target.kind}"; this needs a Microsoft Graph target ("graph")`);
  return config.target;
}

export interface LoadedConfig {
  config: Config;
  /** Directory relative paths in the config are resolved against. */
  baseDir: string;
  path: string;
}

export function loadConfig(path: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return { config: parseConfig(raw, path), baseDir: dirname(resolve(path)), path };
}

export function parseConfig(raw: unknown, origin = 'config'): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new ConfigError(`${origin} is invalid:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
