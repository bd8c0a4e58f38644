// iCalendar feeds as a source: calpush polls one .ics URL per calendar (a timetabling system's per-person export,
// a published Outlook/Google/Apple calendar) and makes the calendar's desired state what the feed says.
//
// - Conditional GET: the ETag / Last-Modified of the last applied fetch are sent back; a 304 costs one request and
//   changes nothing. Once a day (fullRefreshHours) the feed is fetched without validators, so that recurring
//   series expand into a horizon that moves with time even when the file itself never changes.
// - A feed that fails (network, timeout, HTTP error, too large) or is not a complete iCalendar file changes
//   nothing: the calendar is held as it is.
// - A feed that suddenly has no event while the calendar still has some is believed only after
//   `emptyConfirmations` such fetches in a row (vdirsyncer's "storage suddenly empty" valve): an exporter that
//   returns an empty calendar for a moment must not wipe a term's timetable.
// - Server-side request forgery: feed URLs come from a config an administrator writes, but a template expands
//   user names and feeds redirect. Every address a host name resolves to is checked when the connection is made
//   (not the host name, and not in a separate look-up that a DNS rebinding could answer differently), redirects are
//   followed by hand and checked the same way, and loopback, private, link-local, unique-local, multicast,
//   reserved and cloud-metadata addresses are refused unless `allowPrivateAddresses` allows them.
// - Through an outbound proxy (`feeds.proxy`, the top-level `proxy`, HTTPS_PROXY …; src/config/proxy.ts) the proxy
//   resolves the name, so calpush cannot see the address it connects to: it refuses what it can tell from the URL —
//   an address written in it (as above) and the names that are private by definition (localhost and *.localhost,
//   RFC 6761; *.local, RFC 6762; *.internal; *.home.arpa, RFC 8375) — and protection against a name that resolves to
//   a private address (and DNS rebinding) lies with the proxy's own rules (docs/admin.md). Hosts in NO_PROXY / noProxy
//   are fetched directly, with every check above.
import { createHash } from 'node:crypto';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { BlockList, isIP, isIPv4 } from 'node:net';
import type { Readable } from 'node:stream';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';
import { z } from 'zod';
import { DIRECT, proxyConfigSchema, type ProxyRoute, type ProxySettings } from '../config/proxy.ts';
import { ConfigError, readSecret } from '../config/secrets.ts';
import { CalpushError } from '../model/errors.ts';
import type { IcsParseResult } from './ics.ts';
import { DEFAULT_PARSE_LIMITS, ParsePool, ParseStopped, type ParseLimits } from './parse-pool.ts';
import type { HeldEvent } from '../model/rows.ts';
import { validateRecord, type RecordError, type RecordWarning } from './records.ts';
import { DEFAULT_RETENTION, type Retention } from '../model/retention.ts';
import type { DesiredState, FeedStateStore } from '../store/store.ts';
import { eventKey, type DesiredEvent } from '../model/event.ts';

const MiB = 1024 * 1024;
/** Warnings kept per poll of a feed. */
const MAX_WARNINGS = 1_000;

const address = z
  .string()
  .regex(/^[^\s@]+@[^\s@]+$/, 'must be a mailbox address')
  .transform((value) => value.trim().toLowerCase());

/** Why a feed URL (or template) cannot be used, or null. Never repeats the URL: it may hold a token. */
function feedUrlProblem(value: string): string | null {
  if (!/^https?:\/\//i.test(value)) return 'must be an http:// or https:// URL';
  try {
    new URL(value.replaceAll('{user}', 'user').replaceAll('{address}', 'user%40example.edu'));
    return null;
  } catch {
    return 'is not a valid URL';
  }
}

const feedUrl = z.string().superRefine((value, ctx) => {
  const problem = feedUrlProblem(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/**
 * A feed URL, or where it is kept: published Outlook, Google and iCloud calendars carry their secret in the URL
 * itself, so it may be a secret reference like any other secret of the config (src/config/secrets.ts).
 */
const feedUrlSource = z.union([feedUrl, z.object({ env: z.string().min(1) }).strict(), z.object({ file: z.string().min(1) }).strict()], {
  error: 'must be an http(s) URL, or {"env": "VARIABLE"} / {"file": "path"} holding one',
});

export type FeedUrlSource = z.infer<typeof feedUrlSource>;

const feedLimitsSchema = z
  .object({
    maxBytes: z.number().int().min(1024).max(1024 * MiB).optional(),
    maxEvents: z.number().int().min(1).max(10_000_000).optional(),
    parseTimeoutSeconds: z.number().int().min(1).max(3_600).optional(),
  })
  .strict();

export const feedsConfigSchema = z
  .object({
    /**
     * URL of every calendar's feed, with {user} (the address's local part) and {address} (the whole address),
     * both percent-encoded: "https://timetable.example.edu/ical/{user}.ics".
     */
    template: feedUrlSource.optional(),
    /** The calendars the template applies to; default: the config's `mailboxes`. */
    calendars: z.array(address).optional(),
    /** Feed URL per calendar (overrides the template). */
    urls: z.record(z.string(), feedUrlSource).default({}),
    /** Seconds between two fetches of a feed. */
    intervalSeconds: z.number().int().min(5).max(86_400).default(900),
    /** Whole fetch (connect, headers, body) must finish within this. */
    timeoutSeconds: z.number().int().min(1).max(600).default(30),
    maxBytes: z.number().int().min(1024).max(1024 * MiB).default(50 * MiB),
    maxRedirects: z.number().int().min(0).max(20).default(5),
    /** Fetches in a row that must come back without an event before a calendar's events are removed. */
    emptyConfirmations: z.number().int().min(1).max(100).default(3),
    /** Recurring series are expanded from pastDays ago to horizonDays ahead. */
    horizonDays: z.number().int().min(1).max(3_650).default(400),
    pastDays: z.number().int().min(0).max(3_650).default(30),
    /** A fetch without validators at least this often, so that the expansion window moves. */
    fullRefreshHours: z.number().min(1).max(24 * 30).default(24),
    /** Feeds fetched at once (and parsed at once, each in a worker thread of its own). */
    concurrency: z.number().int().min(1).max(64).default(4),
    /** Events one feed may produce (single events and occurrences in the horizon); a feed with more is refused. */
    maxEvents: z.number().int().min(1).max(10_000_000).default(DEFAULT_PARSE_LIMITS.maxEvents),
    /** Seconds the parse of one feed may take; it runs in a worker thread, which is stopped at this limit. */
    parseTimeoutSeconds: z.number().int().min(1).max(3_600).default(30),
    /** Other limits for particular feeds, by calendar: {"room-a@contoso.edu": {"maxEvents": 60000}}. */
    perFeed: z.record(z.string(), feedLimitsSchema).default({}),
    /**
     * true: allow loopback, private and link-local addresses (cloud metadata addresses stay refused); or a list of
     * CIDR ranges that are allowed whatever they are ("10.20.0.0/16", "127.0.0.1/32").
     */
    allowPrivateAddresses: z.union([z.boolean(), z.array(z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'must be a CIDR range like 10.0.0.0/8'))]).default(false),
    /** The outbound proxy for feeds; default the config's top-level `proxy`, else the environment's. */
    proxy: proxyConfigSchema.optional(),
  })
  .strict();

export type FeedsConfig = z.infer<typeof feedsConfigSchema>;
export type FeedsConfigInput = z.input<typeof feedsConfigSchema>;

/** A feed URL from the config, its secret reference resolved and checked (a ConfigError names the key, never the value). */
function resolveFeedUrl(source: FeedUrlSource, baseDir: string, what: string): string {
  if (typeof source === 'string') return source;
  const value = readSecret(source, baseDir, what);
  const problem = feedUrlProblem(value);
  if (problem) throw new ConfigError(`${what}: the value of ${'env' in source ? `environment variable ${source.env}` : `file ${source.file}`} ${problem}`);
  return value;
}

/**
 * The feed URL of every calendar that has one, secret references resolved (file references relative to baseDir,
 * the config file's directory). The URLs are secrets from here on: show them only through redactUrl.
 */
export function feedUrls(feeds: FeedsConfig | undefined, mailboxes: string[] | undefined, baseDir = '.'): Map<string, string> {
  const urls = new Map<string, string>();
  if (!feeds) return urls;
  if (feeds.template) {
    const template = resolveFeedUrl(feeds.template, baseDir, 'feeds.template');
    for (const calendar of feeds.calendars ?? mailboxes?.map((m) => m.toLowerCase()) ?? []) urls.set(calendar, expandTemplate(template, calendar));
  }
  for (const [calendar, source] of Object.entries(feeds.urls)) urls.set(calendar.trim().toLowerCase(), resolveFeedUrl(source, baseDir, `feeds.urls.${calendar}`));
  return urls;
}

export function expandTemplate(template: string, calendar: string): string {
  const at = calendar.lastIndexOf('@');
  const user = at > 0 ? calendar.slice(0, at) : calendar;
  return template.replaceAll('{user}', encodeURIComponent(user)).replaceAll('{address}', encodeURIComponent(calendar));
}

// ---------------------------------------------------------------------------------------------------------------
// Addresses a feed may not be fetched from

/** Cloud instance-metadata and platform endpoints: refused even when private addresses are allowed. */
const METADATA_ADDRESSES = [
  '169.254.169.254', // AWS, Azure IMDS, GCP, OpenStack, DigitalOcean, Oracle
  '169.254.170.2', // AWS ECS task metadata
  '169.254.169.253', // AWS DNS
  '168.63.129.16', // Azure WireServer (a public address)
  '100.100.100.200', // Alibaba Cloud
  '192.0.0.192', // Oracle Cloud
  'fd00:ec2::254', // AWS IMDS over IPv6
  'fd00:ec2::23', // AWS Route 53 resolver over IPv6
];

const PRIVATE_V4: Array<[string, number]> = [
  ['0.0.0.0', 8], // "this network"
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // carrier-grade NAT
  ['127.0.0.0', 8],
  ['169.254.0.0', 16], // link-local
  ['172.16.0.0', 12],
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast
  ['192.168.0.0', 16],
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
];

const PRIVATE_V6: Array<[string, number]> = [
  ['::', 96], // unspecified, loopback, IPv4-compatible (deprecated)
  ['::ffff:0:0:0', 96], // IPv4-translated (RFC 2765): never a public destination
  ['64:ff9b:1::', 48], // local-use NAT64
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo, ORCHID, …)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4: embeds an IPv4 address that could be anything
  ['fc00::', 7], // unique local (fd00:ec2::254 is AWS metadata)
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
];

function blockList(ranges: Array<[string, number]>, type: 'ipv4' | 'ipv6'): BlockList {
  const list = new BlockList();
  for (const [network, prefix] of ranges) list.addSubnet(network, prefix, type);
  return list;
}

const privateV4 = blockList(PRIVATE_V4, 'ipv4');
const privateV6 = blockList(PRIVATE_V6, 'ipv6');
const metadata = new BlockList();
for (const ip of METADATA_ADDRESSES) metadata.addAddress(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');

/**
 * Every IPv4 address an IPv6 address may carry to an IPv4 host, so that a forbidden IPv4 address cannot be reached
 * in IPv6 clothing: IPv4-mapped ::ffff:0:0/96 (RFC 4291 §2.5.5.2; also written ::ffff:7f00:1), IPv4-translated
 * ::ffff:0:0:0/96 (RFC 2765), IPv4-compatible ::/96 (deprecated), NAT64 64:ff9b::/96 (RFC 6052) and the local-use
 * 64:ff9b:1::/48 (RFC 8215) at every prefix length it may have, 6to4 2002::/16 (RFC 3056) and Teredo 2001::/32
 * (RFC 4380: the server's address, and the client's, stored inverted). A public IPv4 address in mapped or NAT64
 * form stays allowed: an IPv6-only network with DNS64 reaches every IPv4 feed that way.
 */
export function embeddedIPv4(ip: string): string[] {
  const w = expandIPv6(ip);
  if (!w) return [];
  const v4 = (high: number, low: number) => [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  const zero = (from: number, to: number) => w.slice(from, to).every((word) => word === 0);
  const found: string[] = [];
  if (zero(0, 5) && (w[5] === 0xffff || w[5] === 0)) found.push(v4(w[6]!, w[7]!)); // mapped, compatible
  if (zero(0, 4) && w[4] === 0xffff && w[5] === 0) found.push(v4(w[6]!, w[7]!)); // translated
  if (w[0] === 0x64 && w[1] === 0xff9b && zero(2, 6)) found.push(v4(w[6]!, w[7]!)); // NAT64, well-known /96
  if (w[0] === 0x64 && w[1] === 0xff9b && w[2] === 1) {
    // Local-use NAT64 (RFC 8215): the operator's prefix is /48 … /96; RFC 6052 §2.2 puts the IPv4 address right
    // after it, skipping bits 64–71 (the "u" octet).
    const bytes = w.flatMap((word) => [word >> 8, word & 0xff]);
    const after = (start: number) => bytes.slice(start).filter((_, i) => start + i !== 8).slice(0, 4).join('.');
    for (const start of [6, 7, 9, 12]) found.push(after(start));
  }
  if (w[0] === 0x2002) found.push(v4(w[1]!, w[2]!)); // 6to4
  if (w[0] === 0x2001 && w[1] === 0) found.push(v4(w[2]!, w[3]!), v4(w[6]! ^ 0xffff, w[7]! ^ 0xffff)); // Teredo
  return found;
}

function expandIPv6(ip: string): number[] | null {
  let text = ip.toLowerCase().replace(/%.*$/, '');
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const bytes = dotted[1]!.split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${((bytes[0]! << 8) | bytes[1]!).toString(16)}:${((bytes[2]! << 8) | bytes[3]!).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return null;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return null;
  const words = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill('0'), ...tail].map((w) => Number.parseInt(w, 16));
  return words.length === 8 && words.every((w) => Number.isInteger(w) && w >= 0 && w <= 0xffff) ? words : null;
}

/**
 * Names that are private by definition: localhost (RFC 6761 §6.3), .local (mDNS, RFC 6762), .internal (ICANN's
 * private-use top-level domain; metadata.google.internal is a cloud metadata service), .home.arpa (RFC 8375).
 */
const PRIVATE_NAMES = ['localhost', 'local', 'internal', 'home.arpa'];

export class AddressPolicy {
  private readonly allowPrivate: boolean;
  private readonly allowed: BlockList | null;

  constructor(allow: boolean | string[]) {
    this.allowPrivate = allow === true;
    if (Array.isArray(allow) && allow.length) {
      this.allowed = new BlockList();
      for (const cidr of allow) {
        const [network, prefix] = cidr.split('/') as [string, string];
        this.allowed.addSubnet(network, Number(prefix), isIPv4(network) ? 'ipv4' : 'ipv6');
      }
    } else this.allowed = null;
  }

  /**
   * Why a host name may not be fetched from through a proxy (which resolves it, out of calpush's sight), or null: the
   * names that are private by definition. With `allowPrivateAddresses: true` none is refused.
   */
  nameRefusal(host: string): string | null {
    if (this.allowPrivate) return null;
    const name = host.toLowerCase().replace(/\.$/, '');
    if (PRIVATE_NAMES.some((suffix) => name === suffix || name.endsWith(`.${suffix}`))) return 'is a local or private name';
    return null;
  }

  /** Why the address may not be fetched from, or null when it may. */
  refusal(ip: string): string | null {
    const family = isIP(ip);
    if (!family) return 'is not an IP address';
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (this.allowed?.check(ip, type)) return null;
    const v4 = family === 4 ? [ip] : embeddedIPv4(ip);
    if (metadata.check(ip, type) || v4.some((address) => metadata.check(address, 'ipv4'))) return 'is a cloud metadata address';
    if (this.allowPrivate) return null;
    if (v4.some((address) => privateV4.check(address, 'ipv4'))) return 'is a loopback, private, link-local or reserved address';
    if (family === 6 && privateV6.check(ip, 'ipv6')) return 'is a loopback, private, link-local or reserved address';
    return null;
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Fetching

export type FeedErrorCode = 'refused-address' | 'timeout' | 'http-status' | 'too-large' | 'network' | 'bad-url' | 'redirects';

export class FeedError extends CalpushError {
  declare readonly code: FeedErrorCode;
  constructor(code: FeedErrorCode, message: string) {
    super(code, message);
  }
}

export interface FetchOptions {
  etag?: string | null;
  lastModified?: string | null;
  timeoutMs: number;
  maxBytes: number;
  maxRedirects: number;
  policy: AddressPolicy;
  /** The outbound proxy (default none). */
  proxy?: ProxySettings;
}

export type FetchResult =
  | { status: 304; url: string }
  | { status: 200; url: string; body: Buffer; etag: string | null; lastModified: string | null };

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/** dns.lookup that refuses forbidden addresses: the connection is made to exactly the address checked here. */
function guardedLookup(policy: AddressPolicy) {
  return (hostname: string, options: { all?: boolean; family?: number | string }, callback: LookupCallback): void => {
    dnsLookup(hostname, { family: options.family as 0 | 4 | 6 | undefined, all: true }, (error, addresses) => {
      if (error) return callback(error, '');
      for (const entry of addresses) {
        const why = policy.refusal(entry.address);
        if (why) return callback(new FeedError('refused-address', `${hostname} resolves to ${entry.address}, which ${why}; feeds are not fetched from there (see feeds.allowPrivateAddresses)`), '');
      }
      if (!addresses.length) return callback(Object.assign(new Error(`${hostname} has no address`), { code: 'ENOTFOUND' }), '');
      if (options.all) callback(null, addresses);
      else callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

function header(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return Array.isArray(value) ? (value[0] ?? null) : (value ?? null);
}

/** GETs a feed: conditional when validators are given, redirects followed and checked, body size and time bounded. */
export async function fetchFeed(url: string, options: FetchOptions): Promise<FetchResult> {
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new FeedError('timeout', `no complete answer within ${Math.round(options.timeoutMs / 1000)} s`)), options.timeoutMs);
  try {
    let current = url;
    for (let hop = 0; ; hop++) {
      const response = await get(current, options, controller.signal);
      const status = response.statusCode ?? 0;
      if ([301, 302, 303, 307, 308].includes(status)) {
        response.resume();
        const location = header(response.headers, 'location');
        if (!location) throw new FeedError('http-status', `HTTP ${status} without a Location`);
        if (hop >= options.maxRedirects) throw new FeedError('redirects', `more than ${options.maxRedirects} redirects`);
        current = new URL(location, current).toString();
        continue;
      }
      if (status === 304) {
        response.resume();
        return { status: 304, url: current };
      }
      if (status !== 200) {
        response.resume();
        throw new FeedError('http-status', `HTTP ${status}${response.statusMessage ? ` ${response.statusMessage}` : ''}`);
      }
      const body = await readBody(response, options.maxBytes);
      return { status: 200, url: current, body, etag: header(response.headers, 'etag'), lastModified: header(response.headers, 'last-modified') };
    }
  } catch (error) {
    if (controller.signal.aborted && controller.signal.reason instanceof FeedError) throw controller.signal.reason;
    if (error instanceof FeedError) throw error;
    const cause = (error as { cause?: unknown }).cause;
    if (cause instanceof FeedError) throw cause;
    throw new FeedError('network', (error as NodeJS.ErrnoException).code ?? (error as Error).message);
  } finally {
    clearTimeout(timer);
  }
}

function get(url: string, options: FetchOptions, signal: AbortSignal): Promise<IncomingMessage> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.reject(new FeedError('bad-url', 'the feed URL is not a URL'));
  }
  if (target.protocol !== 'http:' && target.protocol !== 'https:') return Promise.reject(new FeedError('bad-url', `${target.protocol} URLs are not fetched`));
  if (target.username || target.password) return Promise.reject(new FeedError('bad-url', 'URLs with credentials are not fetched'));
  // An address written in the URL is never looked up, so it is checked here.
  const host = target.hostname.replace(/^\[|\]$/g, '');
  if (isIP(host)) {
    const why = options.policy.refusal(host);
    if (why) return Promise.reject(new FeedError('refused-address', `${host} ${why}; feeds are not fetched from there (see feeds.allowPrivateAddresses)`));
  }
  const headers: Record<string, string> = {
    accept: 'text/calendar, */*;q=0.5',
    'accept-encoding': 'gzip, deflate, br',
    'user-agent': 'calpush feed poller',
  };
  if (options.etag) headers['if-none-match'] = options.etag;
  if (options.lastModified) headers['if-modified-since'] = options.lastModified;
  const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
  const route = (options.proxy ?? DIRECT).routeFor(target);
  if (route && !isIP(host)) {
    const why = options.policy.nameRefusal(host);
    if (why) return Promise.reject(new FeedError('refused-address', `${host} ${why}; feeds are not fetched from there (see feeds.allowPrivateAddresses)`));
  }
  // Direct: the connection goes to exactly the address the guarded look-up checked. Through the proxy: a CONNECT
  // tunnel (https) or an absolute-URI request (http), one connection per fetch like the direct one.
  const connection = route
    ? { agent: proxyAgent(route, target.protocol === 'https:') }
    : { lookup: guardedLookup(options.policy) as never, agent: false as const };
  return new Promise((resolve, reject) => {
    const request = send(target, { method: 'GET', headers, signal, ...connection }, resolve);
    request.on('error', (error: NodeJS.ErrnoException) => reject(route && ['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH'].includes(error.code ?? '') ? new FeedError('network', `cannot reach the proxy ${route.display} (${error.code})`) : error));
    if (route && target.protocol === 'https:') {
      request.on('proxyConnect', (answer: { statusCode?: number }) => {
        if (answer.statusCode !== 200) request.destroy(new FeedError('http-status', `the proxy ${route.display} answered ${answer.statusCode} to CONNECT ${target.host}`));
      });
    }
    request.end();
  });
}

/** An agent through the proxy, one connection per fetch; credentials as a header (the agents log the proxy URL when debugging). */
function proxyAgent(route: ProxyRoute, secureTarget: boolean): HttpProxyAgent<string> | HttpsProxyAgent<string> {
  const options = { keepAlive: false, ...(route.authorization ? { headers: { 'Proxy-Authorization': route.authorization } } : {}) };
  return secureTarget ? new HttpsProxyAgent(route.url, options) : new HttpProxyAgent(route.url, options);
}

async function readBody(response: IncomingMessage, maxBytes: number): Promise<Buffer> {
  const declared = Number(header(response.headers, 'content-length') ?? Number.NaN);
  if (declared > maxBytes) {
    response.destroy();
    throw new FeedError('too-large', `the feed is ${declared} bytes, more than feeds.maxBytes (${maxBytes})`);
  }
  const encoding = (header(response.headers, 'content-encoding') ?? 'identity').toLowerCase();
  let stream: Readable = response;
  if (encoding === 'gzip' || encoding === 'x-gzip') stream = response.pipe(createGunzip());
  else if (encoding === 'deflate') stream = response.pipe(createInflate());
  else if (encoding === 'br') stream = response.pipe(createBrotliDecompress());
  if (stream !== response) response.on('error', (error) => stream.destroy(error));
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) {
      response.destroy();
      stream.destroy();
      throw new FeedError('too-large', `the feed is larger than feeds.maxBytes (${maxBytes} bytes)`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------------------------
// Polling

export type FeedOutcome = 'changed' | 'unchanged' | 'not-modified' | 'empty-unconfirmed' | 'failed';

export interface FeedPollResult {
  calendar: string;
  url: string;
  outcome: FeedOutcome;
  /** Events the feed delivered (valid ones). */
  events: number;
  added: number;
  changed: number;
  removed: number;
  /** Ended events no longer in the feed that stay (retention). */
  kept: number;
  /** Records of the feed that could not be used (their events are held). */
  errors: RecordError[];
  /** Records that were used but read differently from how they are written (a local time in a DST gap, shifted). */
  warnings: RecordWarning[];
  error?: { code: string; message: string };
}

export interface FeedPollerOptions {
  store: DesiredState & FeedStateStore;
  feeds: FeedsConfig;
  /** Calendar → feed URL (see feedUrls). */
  urls: Map<string, string>;
  /** IANA zone for floating times (the config's timeZone). */
  timeZone: string;
  /** Called when a feed changed a calendar's desired state. */
  /** The calendar's desired state changed by `events` events. */
  onChange?: (calendar: string, events: number) => void;
  onResult?: (result: FeedPollResult) => void;
  now?: () => number;
  /** What becomes of ended events that leave a feed (the config's `retention`; default keep). */
  retention?: Retention;
  /** The outbound proxy (feeds.proxy, the top-level proxy, the environment's; default none). */
  proxy?: ProxySettings;
}

/**
 * A feed URL as logs, errors, the API and `feeds poll` show it: its origin only. Feed URLs carry private tokens in
 * the query (timetabling exports) and in the path (published Outlook calendars: /owa/calendar/<id>/<token>/,
 * Google's /private-<token>/, iCloud's /published/2/<token>), so neither is shown.
 */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}/${parsed.pathname !== '/' || parsed.search ? '…' : ''}`;
  } catch {
    return '(invalid URL)';
  }
}

/** What the store remembers of a feed's URL: enough to notice that it changed, nothing that could be used. */
export function urlFingerprint(url: string): string {
  return `sha256:${createHash('sha256').update(url, 'utf8').digest('hex')}`;
}

/** The limits of one feed: the feeds section's, with the feed's own (`perFeed`) over them. */
export function feedLimits(feeds: FeedsConfig, calendar: string): ParseLimits & { perFeed: boolean } {
  const own = Object.entries(feeds.perFeed).find(([key]) => key.trim().toLowerCase() === calendar)?.[1];
  return {
    maxBytes: own?.maxBytes ?? feeds.maxBytes,
    maxEvents: own?.maxEvents ?? feeds.maxEvents,
    timeoutMs: (own?.parseTimeoutSeconds ?? feeds.parseTimeoutSeconds) * 1000,
    perFeed: own !== undefined,
  };
}

/** Which setting raises each limit, for the refusal message. */
const LIMIT_SETTING = { bytes: 'maxBytes', events: 'maxEvents', time: 'parseTimeoutSeconds', memory: 'maxBytes' } as const;

/** Events validated or staged between two turns of the event loop, so that the API keeps answering. */
const SLICE = 250;
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export class FeedPoller {
  private readonly options: FeedPollerOptions;
  private readonly policy: AddressPolicy;
  private readonly now: () => number;
  private readonly nextDue = new Map<string, number>();
  private readonly running = new Map<string, Promise<FeedPollResult>>();
  /** Feeds are parsed in worker threads (parse-pool.ts): a hostile feed never holds the event loop. */
  private readonly pool: ParsePool;
  /** Aborted by stop(): parses are terminated, fetches abandoned, so that serve stops at once. */
  private readonly stopping = new AbortController();
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(options: FeedPollerOptions) {
    this.options = options;
    this.policy = new AddressPolicy(options.feeds.allowPrivateAddresses);
    this.now = options.now ?? Date.now;
    const largest = Math.max(options.feeds.maxBytes, ...Object.values(options.feeds.perFeed).map((own) => own.maxBytes ?? 0));
    this.pool = new ParsePool({ size: options.feeds.concurrency, maxBytes: largest });
  }

  calendars(): string[] {
    return [...this.options.urls.keys()];
  }

  /** Polls every feed now (at most `concurrency` at once). */
  async pollAll(): Promise<FeedPollResult[]> {
    const calendars = this.calendars();
    const results: FeedPollResult[] = [];
    let next = 0;
    const worker = async () => {
      while (next < calendars.length) {
        const calendar = calendars[next++]!;
        results.push(await this.poll(calendar));
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.feeds.concurrency, calendars.length) }, worker));
    return results.sort((a, b) => a.calendar.localeCompare(b.calendar));
  }

  /** Polls one calendar's feed (joins a poll of it that is already running). */
  poll(calendar: string): Promise<FeedPollResult> {
    const running = this.running.get(calendar);
    if (running) return running;
    const promise = this.pollNow(calendar).finally(() => this.running.delete(calendar));
    this.running.set(calendar, promise);
    return promise;
  }

  /** Polls each feed every intervalSeconds (the first polls spread over the first interval). */
  start(): void {
    const interval = this.options.feeds.intervalSeconds * 1000;
    const calendars = this.calendars();
    calendars.forEach((calendar, index) => this.nextDue.set(calendar, this.now() + Math.floor((index / Math.max(1, calendars.length)) * Math.min(interval, 60_000))));
    const tick = () => {
      if (this.stopped) return;
      const now = this.now();
      const due = calendars.filter((c) => (this.nextDue.get(c) ?? 0) <= now && !this.running.has(c));
      for (const calendar of due.slice(0, Math.max(0, this.options.feeds.concurrency - this.running.size))) {
        this.nextDue.set(calendar, now + interval);
        void this.poll(calendar).catch(() => {});
      }
    };
    this.timer = setInterval(tick, 1_000);
    this.timer.unref?.();
    tick();
  }

  /** Stops polling: running parses are terminated and running fetches abandoned, nothing more is recorded. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.stopping.abort();
    await Promise.allSettled([...this.running.values()]);
    await this.pool.close();
  }

  /** The promise, unless stop() comes first (then ParseStopped; the promise is left to its own timeout). */
  private unlessStopped<T>(promise: Promise<T>): Promise<T> {
    const signal = this.stopping.signal;
    if (signal.aborted) return Promise.reject(new ParseStopped());
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new ParseStopped());
      signal.addEventListener('abort', onAbort, { once: true });
      promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private async pollNow(calendar: string): Promise<FeedPollResult> {
    const { store, feeds } = this.options;
    const url = this.options.urls.get(calendar);
    const result: FeedPollResult = { calendar, url: url ? redactUrl(url) : '', outcome: 'failed', events: 0, added: 0, changed: 0, removed: 0, kept: 0, errors: [], warnings: [] };
    if (!url) {
      result.error = { code: 'no-feed', message: `${calendar} has no feed` };
      return result;
    }
    const stamp = new Date(this.now()).toISOString();
    const previous = await store.feedState(calendar);
    const fingerprint = urlFingerprint(url);
    const state = {
      calendar,
      url: fingerprint,
      etag: null as string | null,
      lastModified: null as string | null,
      consecutiveEmpty: 0,
      lastFetchAt: stamp,
      lastFullFetchAt: null as string | null,
      lastOutcome: null as string | null,
      lastError: null as string | null,
      lastChangeAt: null as string | null,
      consecutiveFailures: 0,
      ...(previous && previous.url === fingerprint
        ? { etag: previous.etag, lastModified: previous.lastModified, consecutiveEmpty: previous.consecutiveEmpty, lastFullFetchAt: previous.lastFullFetchAt, lastChangeAt: previous.lastChangeAt, consecutiveFailures: previous.consecutiveFailures ?? 0 }
        : {}),
    };
    state.lastFetchAt = stamp;
    const fullRefreshDue = !state.lastFullFetchAt || Date.parse(state.lastFullFetchAt) < this.now() - feeds.fullRefreshHours * 3_600_000;
    const finish = async (outcome: FeedOutcome, error?: { code: string; message: string }) => {
      result.outcome = outcome;
      if (error) result.error = error;
      state.lastOutcome = outcome;
      state.lastError = error ? `${error.code}: ${error.message}` : null;
      // Counted for the alert on a feed that keeps failing (src/alerts).
      state.consecutiveFailures = outcome === 'failed' ? state.consecutiveFailures + 1 : 0;
      await store.saveFeedState(state);
      this.options.onResult?.(result);
      return result;
    };

    const limits = feedLimits(feeds, calendar);
    const stopped = (): FeedPollResult => ({ ...result, error: { code: 'stopped', message: 'calpush is shutting down; the feed was not applied' } });
    let fetched: FetchResult;
    try {
      fetched = await this.unlessStopped(
        fetchFeed(url, {
          ...(fullRefreshDue ? {} : { etag: state.etag, lastModified: state.lastModified }),
          timeoutMs: feeds.timeoutSeconds * 1000,
          maxBytes: limits.maxBytes,
          maxRedirects: feeds.maxRedirects,
          policy: this.policy,
          ...(this.options.proxy ? { proxy: this.options.proxy } : {}),
        }),
      );
    } catch (error) {
      if (error instanceof ParseStopped) return stopped();
      const failure = error instanceof FeedError ? { code: error.code, message: error.message } : { code: 'error', message: (error as Error).message };
      return finish('failed', failure);
    }
    if (fetched.status === 304) return finish('not-modified');

    const now = this.now();
    let parsed: IcsParseResult;
    try {
      const horizon = { fromMs: now - feeds.pastDays * 86_400_000, toMs: now + feeds.horizonDays * 86_400_000 };
      parsed = await this.pool.parse(fetched.body, { calendar, defaultTimeZone: this.options.timeZone, horizon, origin: redactUrl(url) }, limits, this.stopping.signal, true);
    } catch (error) {
      if (error instanceof ParseStopped) return stopped();
      return finish('failed', { code: 'parse', message: (error as Error).message });
    }
    if (parsed.refusal) {
      // Over a limit: the feed is refused as a whole, and the calendar keeps what it has.
      const setting = LIMIT_SETTING[parsed.refusal.limit];
      const raise = limits.perFeed ? `feeds.perFeed["${calendar}"].${setting}` : `feeds.${setting} (or feeds.perFeed["${calendar}"].${setting} for this feed alone)`;
      return finish('failed', { code: 'over-limit', message: `the feed ${parsed.refusal.message}; nothing was changed (raise ${raise} if the feed is genuine)` });
    }
    const fileErrors = parsed.errors.filter((e) => e.field === '(file)');
    if (fileErrors.length) {
      // Not (all of) an iCalendar file: what it says about what is gone cannot be trusted. Change nothing.
      return finish('failed', { code: 'not-icalendar', message: fileErrors.map((e) => e.message).join('; ') });
    }
    const held: HeldEvent[] = [];
    const events: Array<{ desired: DesiredEvent; record: string }> = [];
    for (const error of parsed.errors) result.errors.push({ record: error.record, field: error.field, message: error.message, calendar, ...(error.id ? { id: error.id } : {}) });
    for (const [at, { input, record }] of parsed.inputs.entries()) {
      if (at % SLICE === SLICE - 1) await nextTurn();
      const validation = validateRecord(record, input);
      if (validation.ok) {
        events.push({ desired: validation.desired, record });
        // Bounded: a hostile feed must not grow the result without limit.
        for (const warning of validation.warnings) if (result.warnings.length < MAX_WARNINGS) result.warnings.push(warning);
      } else {
        result.errors.push(...validation.errors);
        if (validation.held) held.push(validation.held);
      }
    }
    if (this.stopping.signal.aborted) return stopped();
    for (const id of parsed.heldIds) held.push({ calendar, key: eventKey(calendar, id) });
    for (const uid of parsed.heldSeries) held.push({ calendar, idPrefix: `${uid}@` });
    result.events = events.length;

    if (events.length === 0 && (await store.calendarCounts(calendar)).desired > 0) {
      // Suddenly empty: believe it only after emptyConfirmations fetches in a row. Validators are not kept meanwhile,
      // so that each confirmation is a real fetch rather than a 304.
      state.consecutiveEmpty++;
      if (state.consecutiveEmpty < feeds.emptyConfirmations) {
        state.etag = null;
        state.lastModified = null;
        return finish('empty-unconfirmed');
      }
    }

    const importer = await store.beginDesiredImport();
    let applied;
    try {
      for (let at = 0; at < events.length; at += SLICE) {
        await importer.add(events.slice(at, at + SLICE));
        await nextTurn();
      }
      await importer.hold(held);
      const retention = { retention: this.options.retention ?? DEFAULT_RETENTION, nowMs: now, allDayTimeZone: this.options.timeZone };
      applied = await importer.finish({ calendars: [calendar], refuseEmpty: false, source: 'feed', retention });
    } catch (error) {
      await importer.abort();
      return finish('failed', { code: 'store', message: (error as Error).message });
    }
    for (const duplicate of applied.duplicates) {
      result.errors.push({ record: duplicate.records.join(', '), calendar, id: duplicate.sourceId, field: 'id', message: `duplicate id "${duplicate.sourceId}"; none of its events was applied` });
    }
    result.added = applied.added;
    result.changed = applied.changed;
    result.removed = applied.removed;
    result.kept = applied.kept;
    state.consecutiveEmpty = 0;
    state.etag = fetched.etag;
    state.lastModified = fetched.lastModified;
    if (fullRefreshDue) state.lastFullFetchAt = stamp;
    const changed = applied.added + applied.changed + applied.removed > 0;
    if (changed) {
      state.lastChangeAt = stamp;
      this.options.onChange?.(calendar, applied.added + applied.changed + applied.removed);
    }
    return finish(changed ? 'changed' : 'unchanged');
  }
}
