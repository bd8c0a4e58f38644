// The `target` section of the config file for a CalDAV server, and the target built from it.
//
// Secrets follow the rule of every config section (src/config/secrets.ts): a password or token is never written in
// the config, only a reference to an environment variable or a file, resolved at start and kept in memory.
//
//   "target": {
//     "kind": "caldav",
//     "baseUrl": "https://dav.example.edu/",
//     "calendarUrlTemplate": "calendars/{localpart}/timetable/",
//     "auth": { "kind": "basic", "username": "calpush", "password": { "env": "CALDAV_PASSWORD" } },
//     "accounts": [
//       { "match": "*@staff.example.edu", "auth": { "kind": "bearer", "token": { "file": "staff-token.txt" } } }
//     ]
//   }
import { readFileSync } from 'node:fs';
import { resolveProxy, type ProxyConfig } from '../../config/proxy.ts';
import { ConfigError, readSecret, resolvePath } from '../../config/secrets.ts';
import { CalDavTarget, type CalDavAuth, type CalDavTargetOptions } from './target.ts';
import type { CalDavAuthConfig, CalDavTargetConfig } from './schema.ts';

export { caldavTargetSchema, type CalDavAuthConfig, type CalDavTargetConfig } from './schema.ts';


export interface CreateCalDavTargetContext {
  instance: string;
  /** Directory relative paths (secret files, caFile) are resolved against: the config file's. */
  baseDir: string;
  /** The config's timeZone. */
  allDayTimeZone: string;
  /** For tests: a fetch to use instead of calpush's HTTP client. */
  fetch?: typeof fetch;
  /** The config's top-level `proxy`: the default of target.proxy. */
  proxy?: ProxyConfig;
}

/**
 * Resolves the references of a parsed `target` section and builds the target; a secret or file that cannot be
 * read is a ConfigError (src/config/secrets.ts). The result holds secrets.
 */
export function createCalDavTarget(parsed: CalDavTargetConfig, context: CreateCalDavTargetContext): CalDavTarget {
  const resolveAuth = (auth: CalDavAuthConfig, what: string): CalDavAuth =>
    auth.kind === 'basic'
      ? { kind: 'basic', username: auth.username, password: readSecret(auth.password, context.baseDir, `${what}.password`) }
      : { kind: 'bearer', token: readSecret(auth.token, context.baseDir, `${what}.token`) };
  let caPem: string | undefined;
  if (parsed.caFile) {
    const path = resolvePath(context.baseDir, parsed.caFile);
    try {
      caPem = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`target.caFile: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  const options: CalDavTargetOptions = {
    instance: context.instance,
    baseUrl: parsed.baseUrl,
    ...(parsed.calendarUrlTemplate ? { calendarUrlTemplate: parsed.calendarUrlTemplate } : {}),
    ...(parsed.auth ? { auth: resolveAuth(parsed.auth, 'target.auth') } : {}),
    ...(parsed.accounts
      ? {
          accounts: parsed.accounts.map((account, index) => ({
            match: account.match,
            auth: resolveAuth(account.auth, `target.accounts.${index}.auth`),
            ...(account.calendarUrlTemplate ? { calendarUrlTemplate: account.calendarUrlTemplate } : {}),
          })),
        }
      : {}),
    ...(caPem ? { caPem } : {}),
    multigetChunk: parsed.multigetChunk,
    requestTimeoutMs: parsed.requestTimeoutMs,
    maxResponseBytes: parsed.maxResponseBytes,
    allDayTimeZone: context.allDayTimeZone,
    ...(context.fetch ? { fetch: context.fetch } : {}),
    proxy: resolveProxy([parsed.proxy, context.proxy], context.baseDir, 'target.proxy'),
  };
  return new CalDavTarget(options);
}
