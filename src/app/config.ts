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
import { agentConfigSchema } from '../agent/config.ts';
import { alertsConfigSchema } from '../alerts/config.ts';
import { watchConfigSchema } from './watch.ts';
import { proxyConfigSchema } from '../config/proxy.ts';
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
import { namedTargets, routingSchema, targetNameSchema } from './routing.ts';

/** One target's section: Microsoft Graph (app-only or delegated), EWS (Exchange Server) or CalDAV, told apart by `kind`. */
export const targetSchema = z.discriminatedUnion('kind', [graphTargetSchema, graphDelegatedTargetSchema, ewsTargetSchema, caldavTargetSchema]);
export type TargetConfig = z.infer<typeof targetSchema>;

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
    /** The one target of a deployment with one: the target named "default". */
    target: targetSchema.optional(),
    /** Named targets (docs/targets.md): {"online": {"kind": "graph", …}, "onprem": {"kind": "ews", …}}. */
    targets: z.record(z.string(), targetSchema).optional(),
    /** Which target serves which mailbox (app/routing.ts). */
    routing: routingSchema.optional(),
    /**
     * The calendars this deployment manages. When given, the input is the complete desired state for each of
     * them (an empty set removes our events) and records for other calendars are refused.
     */
    mailboxes: z
      .array(
        z.union([z.string().email(), z.object({ roomList: z.string().email(), target: z.string().default('default') }).strict()], {
          error: 'each entry is a mailbox address, or {"roomList": "<the room list’s address>"} for the rooms it holds (with "target" when that is not the default)',
        }),
      )
      .max(100_000)
      .optional(),
    /** How often `calpush serve` reads the room lists named in `mailboxes` again, in minutes (sync and import read them each run). */
    roomListRefreshMinutes: z.number().int().min(1).max(10_080).default(60),
    /** The HTTP push API of `calpush serve` (docs/api.md). */
    server: serverConfigSchema.optional(),
    /** Per-calendar iCalendar feeds polled by `calpush serve` (docs/api.md). */
    feeds: feedsConfigSchema.optional(),
    retention: retentionSchema,
    limits: limitsSchema,
    /**
     * The outbound HTTP proxy for everything calpush fetches (Microsoft, CalDAV, feeds), unless `target.proxy` or
     * `feeds.proxy` says otherwise; without it, the environment's (HTTPS_PROXY, HTTP_PROXY, NO_PROXY).
     */
    proxy: proxyConfigSchema.optional(),
    /** Alerts of `calpush serve`: webhooks and email when access is lost, a credential expires, a feed fails, delivery stalls. */
    alerts: alertsConfigSchema.optional(),
    /** The resource agent: which room and equipment mailboxes it answers meeting requests for, and how (docs/agent.md). */
    agent: agentConfigSchema.optional(),
    /** Watching the mailboxes for what people do to calpush's events, and the drift policy (docs/drift.md). */
    watch: watchConfigSchema,
  })
  .strict()
  .superRefine((config, ctx) => {
    checkTargets(config, ctx);
    checkAgentTarget(config, ctx);
    checkRoomListTargets(config, ctx);
    const delegated = [...targetConfigs(config)].filter(([, target]) => target.kind === 'graph-delegated').map(([name]) => name);
    if (delegated.length && !config.store.encryptionKeys) {
      // The people's refresh tokens are kept sealed, never in clear: no key, no delegated access.
      ctx.addIssue({ code: 'custom', path: ['store', 'encryptionKeys'], message: 'is required with target.kind "graph-delegated": the people’s refresh tokens are kept encrypted with it (make a key: openssl rand -base64 32)' });
    }
    if (delegated.length > 1) {
      // One consent page per deployment (serve's /connect): it signs people in to one app registration.
      ctx.addIssue({ code: 'custom', path: ['targets', delegated[1]!], message: `is a second "graph-delegated" target (after "${delegated[0]}"): the consent page connects calendars to one of them; configure one` });
    }
    const zone = canonicalTimeZone(config.timeZone);
    if (!zone) ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `"${config.timeZone}" is not a known IANA time zone` });
    else if (!findWindows(zone)?.length) {
      ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `"${config.timeZone}" has no Windows equivalent, so all-day events cannot be anchored in it` });
    }
  });

export type Config = z.infer<typeof configSchema>;

type RawConfig = Pick<Config, 'target' | 'targets' | 'routing'>;

/** The targets and the routing fit together: names exist, the hybrid lookup has an EWS and a Graph side, and with several targets every mailbox can be routed. */
function checkTargets(config: RawConfig, ctx: z.RefinementCtx): void {
  if (!config.target && !config.targets) {
    ctx.addIssue({ code: 'custom', path: ['target'], message: 'is required: one target ("target": {"kind": "graph"|"ews"|"caldav", …}), or named ones ("targets": {"name": {…}})' });
    return;
  }
  if (config.targets && !Object.keys(config.targets).length) ctx.addIssue({ code: 'custom', path: ['targets'], message: 'names no target' });
  for (const name of Object.keys(config.targets ?? {})) {
    const named = targetNameSchema.safeParse(name);
    if (!named.success) ctx.addIssue({ code: 'custom', path: ['targets', name], message: `is not a target name: ${named.error.issues[0]!.message}` });
  }
  if (config.target && config.targets?.['default']) ctx.addIssue({ code: 'custom', path: ['targets', 'default'], message: '"default" is the name of `target`: give this target another name' });
  const kinds = new Map([...targetConfigs(config)].map(([name, target]) => [name, target.kind]));
  const routing = config.routing;
  if (!routing) {
    if (kinds.size > 1 && !kinds.has('default')) {
      ctx.addIssue({ code: 'custom', path: ['routing'], message: `is required with several targets (${[...kinds.keys()].join(', ')}): rules that say which mailbox goes where, or routing.default` });
    }
    return;
  }
  for (const { name, path } of namedTargets(routing)) {
    if (!kinds.has(name)) ctx.addIssue({ code: 'custom', path: path.split('.').map((p) => (/^\d+$/.test(p) ? Number(p) : p)), message: `names target "${name}", which is not configured (${[...kinds.keys()].join(', ')})` });
  }
  routing.rules.forEach((rule, index) => {
    if (!('lookup' in rule)) return;
    if (kinds.has(rule.onPremises) && kinds.get(rule.onPremises) !== 'ews') {
      ctx.addIssue({ code: 'custom', path: ['routing', 'rules', index, 'onPremises'], message: `must name an EWS target (the on-premises Exchange organisation); "${rule.onPremises}" is ${kinds.get(rule.onPremises)}` });
    }
    if (kinds.has(rule.online) && kinds.get(rule.online) !== 'graph') {
      ctx.addIssue({ code: 'custom', path: ['routing', 'rules', index, 'online'], message: `must name a Microsoft Graph target (Exchange Online); "${rule.online}" is ${kinds.get(rule.online)}` });
    }
  });
}

/** A room list in `mailboxes` is read through a configured Graph (app-only) or EWS target. */
function checkRoomListTargets(config: RawConfig & Pick<Config, 'mailboxes'>, ctx: z.RefinementCtx): void {
  const kinds = new Map([...targetConfigs(config)].map(([name, target]) => [name, target.kind]));
  (config.mailboxes ?? []).forEach((entry, index) => {
    if (typeof entry === 'string') return;
    const kind = kinds.get(entry.target);
    if (!kind) ctx.addIssue({ code: 'custom', path: ['mailboxes', index, 'target'], message: `names target "${entry.target}", which is not configured (${[...kinds.keys()].join(', ')})` });
    else if (kind !== 'graph' && kind !== 'ews') ctx.addIssue({ code: 'custom', path: ['mailboxes', index, 'target'], message: `names a ${kind} target; room list ${entry.roomList} is read through a "graph" (app-only, Place.Read.All) or "ews" target` });
  });
}

/** The agent's target is configured, and speaks Graph with app-only access or EWS (the agent answers as the service). */
function checkAgentTarget(config: RawConfig & Pick<Config, 'agent'>, ctx: z.RefinementCtx): void {
  if (!config.agent) return;
  const target = targetConfigs(config).get(config.agent.target);
  const names = [...targetConfigs(config).keys()].join(', ');
  if (!target) ctx.addIssue({ code: 'custom', path: ['agent', 'target'], message: `names target "${config.agent.target}", which is not configured (${names})` });
  else if (target.kind !== 'graph' && target.kind !== 'ews') {
    ctx.addIssue({ code: 'custom', path: ['agent', 'target'], message: `names a ${target.kind} target; the agent answers meeting requests through a "graph" (app-only) or "ews" target` });
  }
}

/** Every configured target by name: `target` is "default", `targets` by their own names. */
export function targetConfigs(config: RawConfig): Map<string, TargetConfig> {
  const all = new Map<string, TargetConfig>();
  if (config.target) all.set('default', config.target);
  for (const [name, target] of Object.entries(config.targets ?? {})) all.set(name, target);
  return all;
}

/** The config as one target sees it: `target` is that target (the doctor's checks and tools made for one target). */
export function withTarget(config: Config, name: string): Config {
  const target = targetConfigs(config).get(name);
  if (!target) throw new ConfigError(`no target named "${name}" in the config`);
  return { ...config, target };
}

/** The config's retention setting at the moment `nowMs` (a full replacement's rule; src/model/retention.ts). */
export function retentionRule(config: Pick<Config, 'retention' | 'timeZone'>, nowMs: number): RetentionRule {
  return { retention: config.retention, nowMs, allDayTimeZone: config.timeZone };
}

/** The config's Graph target, or a ConfigError naming the kind that is there instead. */
export function graphTarget(config: Config): GraphTargetConfig {
  if (!config.target) throw new ConfigError('the config names its targets under "targets"; this needs one Microsoft Graph target');
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
