// The outbound HTTP proxy: the `proxy` config key (top level, per target, for feeds) and the environment variables
// every HTTP tool reads (HTTPS_PROXY, HTTP_PROXY, ALL_PROXY, NO_PROXY, upper or lower case), resolved to one answer
// per request: through which proxy, or direct. The agents that then tunnel (CONNECT) or forward (absolute-URI
// requests) are built where the requests are sent: src/targets/http.ts (Microsoft, CalDAV) and src/sources/feeds.ts.
//
// NO_PROXY is read as curl reads it (https://curl.se/docs/manpage.html#--noproxy, and "NO_PROXY" under ENVIRONMENT):
// a comma-separated list; "*" alone matches every host; a name matches itself and every name below it (a leading "."
// or "*." changes nothing: "example.edu" and ".example.edu" both match www.example.edu, never badexample.edu); an IP
// address matches itself, a CIDR range (curl ≥ 7.86) every address literal in it. Beyond curl, as Go's and Python's
// readers do, "host:port" matches that host on that port only. Names are never resolved to check a range.
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import { ConfigError, readSecret, secretReferenceSchema } from './secrets.ts';

const proxyUrl = z
  .string()
  .trim()
  .superRefine((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `"${value}" is not a URL: give the proxy like http://proxy.example.edu:3128` });
      return;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') ctx.addIssue({ code: 'custom', message: 'must be an http:// (or https://) proxy URL' });
    if (url.username || url.password) ctx.addIssue({ code: 'custom', message: 'must not carry a user name or password: give "username" and "password" (a secret reference) beside it' });
    if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) ctx.addIssue({ code: 'custom', message: 'must be the proxy’s origin only (no path, query or fragment)' });
  });

/**
 * `"proxy": {"url": "http://proxy.example.edu:3128", "username": "calpush", "password": {"env": "PROXY_PASSWORD"},
 * "noProxy": ["*.example.edu", "10.0.0.0/8"]}`, or `"proxy": "direct"` (no proxy, whatever the environment says).
 */
export const proxyConfigSchema = z.union(
  [
    z.literal('direct'),
    z
      .object({
        url: proxyUrl,
        /** Basic authentication at the proxy (Proxy-Authorization). */
        username: z.string().min(1).max(256).optional(),
        password: secretReferenceSchema.optional(),
        /** Hosts reached directly (NO_PROXY's syntax, as a list). */
        noProxy: z.array(z.string().trim().min(1).max(300)).max(1000).optional(),
      })
      .strict()
      .refine((proxy) => proxy.password === undefined || proxy.username !== undefined, { path: ['username'], message: 'is required with a password' }),
  ],
  { error: 'must be "direct" or {"url": "http://proxy:3128", "username"?, "password"?: {"env"|"file": …}, "noProxy"?: [...]}' },
);

export type ProxyConfig = z.infer<typeof proxyConfigSchema>;

/** Where a request goes through. */
export interface ProxyRoute {
  /** The proxy's origin (never with credentials: those are in `authorization`, kept out of URLs that libraries log). */
  url: URL;
  /** The proxy's origin, for messages and logs. */
  display: string;
  /** `Proxy-Authorization` (Basic, RFC 7617) when the proxy has credentials: a secret, never shown. */
  authorization?: string;
}

/** The proxy for each request. */
export interface ProxySettings {
  /** The proxy for a request to `target`, or null: the request goes direct. */
  routeFor(target: URL): ProxyRoute | null;
  /** Where the settings came from, for messages: "target.proxy", "the environment (HTTPS_PROXY)", … */
  readonly source: string;
}

/** No proxy at all. */
export const DIRECT: ProxySettings = { routeFor: () => null, source: 'none' };

function defaultPort(url: URL): string {
  return url.port || (url.protocol === 'https:' ? '443' : '80');
}

/** A NO_PROXY list as a test on the request's URL (see the head of this file). */
export function noProxyMatcher(entries: string[]): (target: URL) => boolean {
  const names: Array<{ name: string; port: string | null }> = [];
  const ranges = new BlockList();
  let everything = false;
  for (const raw of entries) {
    const entry = raw.trim().toLowerCase();
    if (!entry) continue;
    if (entry === '*') {
      everything = true;
      continue;
    }
    const cidr = /^\[?([0-9a-f:.]+)\]?\/(\d{1,3})$/.exec(entry);
    if (cidr && isIP(cidr[1]!)) {
      const family = isIP(cidr[1]!) === 4 ? 'ipv4' : 'ipv6';
      ranges.addSubnet(cidr[1]!, Math.min(Number(cidr[2]), family === 'ipv4' ? 32 : 128), family);
      continue;
    }
    // "[::1]:8080", "[::1]", "::1", "host:8080", "host"
    const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/.exec(entry);
    const withPort = /^([^:]+):(\d+)$/.exec(entry);
    const [host, port] = bracketed ? [bracketed[1]!, bracketed[2] ?? null] : withPort ? [withPort[1]!, withPort[2]!] : [entry, null];
    if (isIP(host) && !port) {
      ranges.addAddress(host, isIP(host) === 4 ? 'ipv4' : 'ipv6');
      continue;
    }
    names.push({ name: host.replace(/^\*?\.+/, ''), port });
  }
  return (target: URL) => {
    if (everything) return true;
    const host = target.hostname.replace(/^\[|\]$/g, '').toLowerCase();
    const port = defaultPort(target);
    const family = isIP(host);
    if (family && ranges.check(host, family === 4 ? 'ipv4' : 'ipv6')) return true;
    return names.some((entry) => (entry.port === null || entry.port === port) && (host === entry.name || host.endsWith(`.${entry.name}`)));
  };
}

/** An environment variable, lower case first as curl reads them (HTTPS_PROXY is read in both cases, as curl does). */
function fromEnv(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name.toLowerCase()] ?? env[name.toUpperCase()];
  return value?.trim() ? value.trim() : undefined;
}

/** A proxy URL from the environment: "proxy:3128" means http://proxy:3128 (as curl reads it); credentials may be in it. */
function envProxyUrl(value: string, variable: string): URL {
  try {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `http://${value}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    return url;
  } catch {
    throw new ConfigError(`the environment variable ${variable} is not an http(s) proxy URL`, `set ${variable} like http://proxy.example.edu:3128, or unset it`);
  }
}

/** A route to the proxy at `url`; user name and password (from the URL or given) become its Basic authorization. */
function route(url: URL, credentials?: { username: string; password: string }): ProxyRoute {
  const username = credentials?.username ?? decodeURIComponent(url.username);
  const password = credentials?.password ?? decodeURIComponent(url.password);
  const origin = new URL(url.origin);
  return { url: origin, display: origin.origin, ...(username || password ? { authorization: `Basic ${Buffer.from(`${username}:${password}`, 'utf8').toString('base64')}` } : {}) };
}

/** The proxy settings of the environment (HTTPS_PROXY/HTTP_PROXY/ALL_PROXY and NO_PROXY), or DIRECT. */
export function environmentProxy(env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const https = fromEnv(env, 'https_proxy');
  const http = fromEnv(env, 'http_proxy');
  const all = fromEnv(env, 'all_proxy');
  if (!https && !http && !all) return DIRECT;
  const byScheme: Record<string, ProxyRoute | null> = {
    'https:': https ? route(envProxyUrl(https, 'HTTPS_PROXY')) : all ? route(envProxyUrl(all, 'ALL_PROXY')) : null,
    'http:': http ? route(envProxyUrl(http, 'HTTP_PROXY')) : all ? route(envProxyUrl(all, 'ALL_PROXY')) : null,
  };
  const bypass = noProxyMatcher((fromEnv(env, 'no_proxy') ?? '').split(/[,\s]+/));
  const names = [https && 'HTTPS_PROXY', http && 'HTTP_PROXY', all && 'ALL_PROXY'].filter(Boolean).join(', ');
  return { source: `the environment (${names})`, routeFor: (target) => (bypass(target) ? null : (byScheme[target.protocol] ?? null)) };
}

/**
 * The proxy settings for one part: the first `proxy` given in `chain` (the part's own, then the top level's), else the
 * environment's. `what` names the key in messages ("target.proxy"); the password is read from its reference here.
 */
export function resolveProxy(chain: Array<ProxyConfig | undefined>, baseDir: string, what: string, env: NodeJS.ProcessEnv = process.env): ProxySettings {
  const index = chain.findIndex((config) => config !== undefined);
  if (index < 0) return environmentProxy(env);
  const config = chain[index]!;
  const source = index === 0 ? what : 'proxy';
  if (config === 'direct') return { source, routeFor: () => null };
  const credentials = config.username ? { username: config.username, password: config.password ? readSecret(config.password, baseDir, `${source}.password`) : '' } : undefined;
  const proxy = route(new URL(config.url), credentials);
  const bypass = noProxyMatcher(config.noProxy ?? []);
  return { source, routeFor: (target) => (bypass(target) ? null : proxy) };
}
