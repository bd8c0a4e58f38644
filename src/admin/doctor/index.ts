// `calpush doctor <mailbox>`: a connectivity analyzer for calpush's target, in the spirit of Microsoft's Remote
// Connectivity Analyzer ("Service Account Access"). One section per target kind: Microsoft Graph (graph.ts) and
// Exchange Web Services (ews.ts); each returns a SectionResult. With named targets and routing (docs/targets.md) it
// first says which target the mailbox goes to and why — the rule that matched, or what the hybrid lookup answers
// now (asked live, remembered nowhere) — and then checks that target.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfig, targetConfigs, withTarget, type LoadedConfig } from '../../app/config.ts';
import { createProbeRouter } from '../../app/router.ts';
import { proxyConfigSchema, type ProxyConfig } from '../../config/proxy.ts';
import { ConfigError } from '../../config/secrets.ts';
import { ewsChecks } from './ews.ts';
import { graphChecks, type SectionResult } from './graph.ts';
import { redactReport, reportOk, type CheckResult, type DoctorReport } from './report.ts';

export type { CheckResult, CheckStatus, DoctorReport } from './report.ts';
export { renderText } from './report.ts';

export interface DoctorOptions {
  configPath: string;
  mailbox: string;
  /** Create and delete a tagged probe event. */
  write: boolean;
  timeoutMs?: number;
}

async function section(loaded: LoadedConfig, options: DoctorOptions): Promise<SectionResult> {
  const kind = (loaded.config.target as { kind: string }).kind;
  switch (kind) {
    case 'graph':
      return graphChecks(loaded, options);
    case 'ews':
      return ewsChecks({ path: loaded.path, baseDir: loaded.baseDir, instance: loaded.config.instance, timeZone: loaded.config.timeZone, target: loaded.config.target }, options);
    default:
      return {
        target: kind,
        context: [],
        secrets: [],
        checks: [{ id: 'config.target', title: 'target', status: 'fail', detail: `calpush doctor has no checks for target kind "${kind}" yet`, remedy: 'run calpush sync against a single mailbox (--calendar) to test it' }],
      };
  }
}

/**
 * An EWS config, read with the EWS target's own schema. (The project's config loader takes the Graph target; when
 * it takes EWS too, section() dispatches on the loaded config's kind and this path only serves older builds.)
 */
function rawEwsConfig(path: string): { instance: string; timeZone: string; target: unknown; proxy?: ProxyConfig } | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
  const config = raw as { instance?: unknown; timeZone?: unknown; target?: { kind?: unknown }; targets?: unknown; routing?: unknown; proxy?: unknown } | null;
  if (!config || typeof config !== 'object' || config.target?.kind !== 'ews' || config.targets !== undefined || config.routing !== undefined) return undefined;
  const instance = typeof config.instance === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(config.instance) ? config.instance : 'default';
  // The top-level proxy, the default of target.proxy (one that is not valid is left to the config check).
  const proxy = proxyConfigSchema.safeParse(config.proxy);
  return { instance, timeZone: typeof config.timeZone === 'string' ? config.timeZone : 'UTC', target: config.target, ...(config.proxy !== undefined && proxy.success ? { proxy: proxy.data } : {}) };
}

export async function runDoctor(options: DoctorOptions): Promise<DoctorReport> {
  const ews = rawEwsConfig(options.configPath);
  if (ews) {
    const path = resolve(options.configPath);
    const result = await ewsChecks({ path, baseDir: dirname(path), ...ews }, options);
    const report: DoctorReport = { ok: reportOk(result.checks), mailbox: options.mailbox, target: result.target, config: path, context: result.context, checks: result.checks };
    return redactReport(report, result.secrets);
  }
  let loaded: LoadedConfig;
  try {
    loaded = loadConfig(options.configPath);
  } catch (error) {
    const message = error instanceof ConfigError ? error.message : (error as Error).message;
    const checks = [{ id: 'config', title: 'config', status: 'fail' as const, detail: message, remedy: 'fix the configuration file (see the configuration reference in README.md)' }];
    return { ok: false, mailbox: options.mailbox, target: 'unknown target', config: options.configPath, context: [], checks };
  }
  const routed = loaded.config.targets !== undefined || loaded.config.routing !== undefined;
  const result = routed ? await routedSection(loaded, options) : await section(loaded, options);
  const report: DoctorReport = { ok: reportOk(result.checks), mailbox: options.mailbox, target: result.target, config: loaded.path, context: result.context, checks: result.checks };
  return redactReport(report, result.secrets);
}

/** Named targets: the route first (which target, and why), then that target's checks. */
async function routedSection(loaded: LoadedConfig, options: DoctorOptions): Promise<SectionResult> {
  const mailbox = options.mailbox.trim().toLowerCase();
  let route: CheckResult;
  let name: string | null = null;
  try {
    const router = await createProbeRouter(loaded.config, loaded.baseDir);
    try {
      const explained = await router.explain(mailbox);
      name = explained.target;
      route = name
        ? { id: 'route', title: 'route', status: 'pass', detail: `${mailbox} goes to target "${name}" (${explained.kind}): ${explained.reason}` }
        : { id: 'route', title: 'route', status: 'fail', detail: explained.reason, remedy: 'add a routing rule or routing.default for this mailbox, or fix what the lookup names (docs/targets.md)' };
    } finally {
      await router.close();
    }
  } catch (error) {
    route = { id: 'route', title: 'route', status: 'fail', detail: (error as Error).message, remedy: 'fix the configuration file (see docs/targets.md)' };
  }
  if (!name) return { target: `one of ${[...targetConfigs(loaded.config).keys()].join(', ')}`, context: [], secrets: [], checks: [route] };
  const result = await section({ ...loaded, config: withTarget(loaded.config, name) }, options);
  return { ...result, target: `${result.target} (target "${name}")`, checks: [route, ...result.checks] };
}
