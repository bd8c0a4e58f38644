// API keys of the push API.
//
// A key is "cpk_<id>_<secret>": a 12-hex-digit id (to find the key, list and revoke it, and name it in logs) and
// 256 bits from the CSPRNG. The store keeps only SHA-256 of the whole key. A slow password hash (scrypt, argon2)
// protects low-entropy secrets that people choose; a 256-bit random key has no dictionary to try, so a fast hash
// is as safe against a stolen database (2^256 guesses) and costs microseconds per request, where scrypt would put
// tens of milliseconds of CPU — an easy denial of service — in front of every call. Hashes are compared in
// constant time.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../model/clock.ts';
import { CalpushError } from '../model/errors.ts';
import type { ApiKeyRow, ApiKeyScope, ApiKeyStore } from '../store/store.ts';

const KEY_PATTERN = /^cpk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface CreatedApiKey {
  /** The key itself: shown once, never stored. */
  key: string;
  row: ApiKeyRow;
}

export async function createApiKey(store: ApiKeyStore, options: { scope: ApiKeyScope; calendars?: string[] | null; name?: string; clock?: Clock }): Promise<CreatedApiKey> {
  const id = randomBytes(6).toString('hex');
  const key = `cpk_${id}_${randomBytes(32).toString('base64url')}`;
  const calendars = options.calendars?.length ? options.calendars.map((pattern) => pattern.trim().toLowerCase()).filter(Boolean) : null;
  // The dashboard shows every mailbox: a key that signs in to it is not limited to some.
  if (calendars && DASHBOARD_SCOPES.includes(options.scope)) {
    throw new CalpushError('ApiKeyOptions', `an ${options.scope} key signs in to the dashboard, which shows every calendar: it cannot be limited to some`, {
      remedy: 'leave out --calendars, or make a read or write key for the limited use',
    });
  }
  for (const pattern of calendars ?? []) {
    if (!/^[^\s]+$/.test(pattern)) throw new CalpushError('ApiKeyOptions', `calendar pattern "${pattern}" must not contain spaces`, { remedy: 'give patterns like "*@rooms.example.edu"' });
  }
  const row: ApiKeyRow = {
    id,
    name: options.name ?? '',
    hash: hashApiKey(key),
    scope: options.scope,
    calendars,
    createdAt: new Date((options.clock ?? systemClock).now()).toISOString(),
    revokedAt: null,
    lastUsedAt: null,
  };
  await store.createApiKey(row);
  return { key, row };
}

/** A glob over mailbox addresses: `*` any run of characters, `?` one character; case-insensitive. */
export function globToRegExp(pattern: string): RegExp {
  const source = pattern
    .toLowerCase()
    .split('')
    .map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

export interface Principal {
  keyId: string;
  scope: ApiKeyScope;
  calendars: string[] | null;
}

export function mayUseCalendar(principal: Principal, calendar: string): boolean {
  if (!principal.calendars) return true;
  const address = calendar.toLowerCase();
  return principal.calendars.some((pattern) => globToRegExp(pattern).test(address));
}

/** The scopes of keys that may sign in to the dashboard (an admin may act there, a helpdesk key only look). */
export const DASHBOARD_SCOPES: readonly ApiKeyScope[] = ['admin', 'helpdesk'];

/**
 * Whether a key of its scope may do what `needed` stands for on the push API: every key may read; write and admin
 * keys may write. (The dashboard's own rules are in src/server/dashboard/sessions.ts.)
 */
export function hasScope(principal: Principal, needed: ApiKeyScope): boolean {
  return needed === 'read' || principal.scope === 'write' || principal.scope === 'admin';
}

export type Authentication = { ok: true; principal: Principal } | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' };

/** Checks an Authorization header. Last use is recorded at most once a minute per key. */
export class ApiKeyVerifier {
  private readonly store: ApiKeyStore;
  private readonly clock: Clock;
  private readonly touched = new Map<string, number>();

  constructor(store: ApiKeyStore, clock: Clock = systemClock) {
    this.store = store;
    this.clock = clock;
  }

  async verify(authorization: string | undefined): Promise<Authentication> {
    if (!authorization) return { ok: false, reason: 'missing' };
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
    if (!match) return { ok: false, reason: 'malformed' };
    const key = match[1]!;
    const parts = KEY_PATTERN.exec(key);
    if (!parts) return { ok: false, reason: 'unknown' };
    const row = await this.store.apiKey(parts[1]!);
    if (!row) return { ok: false, reason: 'unknown' };
    const expected = Buffer.from(row.hash, 'hex');
    const actual = Buffer.from(hashApiKey(key), 'hex');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return { ok: false, reason: 'unknown' };
    if (row.revokedAt) return { ok: false, reason: 'revoked' };
    const now = this.clock.now();
    if ((this.touched.get(row.id) ?? 0) < now - 60_000) {
      this.touched.set(row.id, now);
      await this.store.touchApiKey(row.id);
    }
    return { ok: true, principal: { keyId: row.id, scope: row.scope, calendars: row.calendars } };
  }
}

/**
 * Failed authentications per client address, over a sliding window: once an address has failed `max` times within
 * `windowMs`, its next failures are answered 429 with Retry-After instead of 401, until the oldest of its latest
 * failures leaves the window. Only failures count: a request with a valid key is never limited, also from an
 * address that is (a NAT shared with a misconfigured client).
 *
 * Memory is bounded: at most `max` instants per address and `maxAddresses` addresses (the least recently failing
 * are forgotten first). IPv6 clients are counted per /64, the block one subscriber usually holds, so that walking
 * through its addresses gains nothing.
 */
export class FailedAuthentications {
  private readonly failures = new Map<string, number[]>();
  private readonly max: number;
  private readonly windowMs: number;
  private readonly clock: Clock;
  private readonly maxAddresses: number;

  constructor(limit: { max: number; windowMs: number }, clock: Clock = systemClock, maxAddresses = 10_000) {
    this.max = limit.max;
    this.windowMs = limit.windowMs;
    this.clock = clock;
    this.maxAddresses = maxAddresses;
  }

  /** Milliseconds until the address may fail again without being limited; 0 when it may now. */
  retryAfterMs(address: string): number {
    if (this.max <= 0) return 0;
    const recent = this.recent(clientKey(address));
    return recent.length < this.max ? 0 : Math.max(1, recent[0]! + this.windowMs - this.clock.now());
  }

  record(address: string): void {
    if (this.max <= 0) return;
    const key = clientKey(address);
    const recent = [...this.recent(key), this.clock.now()].slice(-this.max);
    this.failures.delete(key);
    this.failures.set(key, recent);
    if (this.failures.size > this.maxAddresses) this.failures.delete(this.failures.keys().next().value!);
  }

  /** Addresses being tracked (for tests and the bound). */
  get size(): number {
    return this.failures.size;
  }

  private recent(key: string): number[] {
    const since = this.clock.now() - this.windowMs;
    return (this.failures.get(key) ?? []).filter((at) => at > since);
  }
}

/** The unit an address is counted in: an IPv4 address (also IPv4-mapped), or an IPv6 /64. */
export function clientKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!ip.includes(':')) return ip;
  const [head = '', tail] = ip.toLowerCase().replace(/%.*$/, '').split('::');
  const headWords = head ? head.split(':') : [];
  const tailWords = tail ? tail.split(':') : [];
  const words = tail === undefined ? headWords : [...headWords, ...Array<string>(Math.max(0, 8 - headWords.length - tailWords.length)).fill('0'), ...tailWords];
  return `${words.slice(0, 4).map((w) => w.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}
