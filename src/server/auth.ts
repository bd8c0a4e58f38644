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
import type { ApiKeyRow, ApiKeyScope, Store } from '../store/store.ts';

const KEY_PATTERN = /^cpk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$/;

export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

export interface CreatedApiKey {
  /** The key itself: shown once, never stored. */
  key: string;
  row: ApiKeyRow;
}

export async function createApiKey(store: Store, options: { scope: ApiKeyScope; calendars?: string[] | null; name?: string; clock?: Clock }): Promise<CreatedApiKey> {
  const id = randomBytes(6).toString('hex');
  const key = `cpk_${id}_${randomBytes(32).toString('base64url')}`;
  const calendars = options.calendars?.length ? options.calendars.map((pattern) => pattern.trim().toLowerCase()).filter(Boolean) : null;
  for (const pattern of calendars ?? []) {
    if (!/^[^\s]+$/.test(pattern)) throw new Error(`calendar pattern "${pattern}" must not contain spaces`);
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

export function hasScope(principal: Principal, needed: ApiKeyScope): boolean {
  return needed === 'read' || principal.scope === 'write';
}

export type Authentication = { ok: true; principal: Principal } | { ok: false; reason: 'missing' | 'malformed' | 'unknown' | 'revoked' };

/** Checks an Authorization header. Last use is recorded at most once a minute per key. */
export class ApiKeyVerifier {
  private readonly store: Store;
  private readonly clock: Clock;
  private readonly touched = new Map<string, number>();

  constructor(store: Store, clock: Clock = systemClock) {
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
