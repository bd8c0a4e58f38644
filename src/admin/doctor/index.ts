// `calpush doctor <mailbox>`: a connectivity analyzer for calpush's target, in the spirit of Microsoft's Remote
// Connectivity Analyzer ("Service Account Access"). One section per target kind, chosen by the config's
// target.kind: Microsoft Graph (graph.ts) and Exchange Web Services (ews.ts); each returns a SectionResult.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { loadConfig, type LoadedConfig } from '../../app/config.ts';
import { proxyConfigSchema, type ProxyConfig } from '../../config/proxy.ts';
import { ConfigError } from '../../config/secrets.ts';
import { ewsChecks } from './ews.ts';
import { graphChecks, type SectionResult } from './graph.ts';
import { redactReport, reportOk, type DoctorReport } from './report.ts';

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
  const config = raw as { instance?: unknown; timeZone?: unknown; target?: { kind?: unknown }; proxy?: unknown } | null;
  if (!config || typeof config !== 'object' || config.target?.kind !== 'ews') return undefined;
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
  const result = await section(loaded, options);
  const report: DoctorReport = { ok: reportOk(result.checks), mailbox: options.mailbox, target: result.target, config: loaded.path, context: result.context, checks: result.checks };
  return redactReport(report, result.secrets);
}
