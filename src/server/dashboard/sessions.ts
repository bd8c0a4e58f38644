// Dashboard sessions: an admin or helpdesk API key is exchanged once, at sign-in, for a random session id in a
// cookie; the key itself is never stored in the browser. The sessions live here, on the server (a bounded list),
// so that signing out, revoking the key or the session's expiry ends it at once — a cookie alone could not be
// taken back. A restart of calpush serve signs everyone out.
//
// Each session carries its own CSRF token (the synchronizer token pattern of OWASP's CSRF prevention cheat sheet):
// every form of the dashboard sends it back in a hidden field, and a POST whose token is not the session's is
// refused. The sign-in form, before there is a session, is protected the same way by a short-lived pre-session
// token in a cookie of its own (double submit), so that no other site can sign a browser in with its own key.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { systemClock, type Clock } from '../../model/clock.ts';
import type { ApiKeyScope } from '../../store/store.ts';

export type DashboardRole = Extract<ApiKeyScope, 'admin' | 'helpdesk'>;

export interface DashboardSession {
  /** What the cookie carries; 256 random bits. */
  id: string;
  /** The API key it was opened with (revoking the key ends the session). */
  keyId: string;
  role: DashboardRole;
  /** The synchronizer token every form of this session sends back. */
  csrfToken: string;
  createdAt: number;
  lastSeenAt: number;
}

export interface SessionLimits {
  /** A session not used for this long ends. */
  idleMs: number;
  /** A session ends this long after sign-in, used or not. */
  maxAgeMs: number;
  /** Sessions kept at most; the least recently used one ends first. */
  maxSessions: number;
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Compares two tokens in constant time (a mismatch in the first byte takes as long as one in the last). */
export function tokensMatch(expected: string, given: unknown): boolean {
  if (typeof given !== 'string') return false;
  const a = createHash('sha256').update(expected).digest();
  const b = createHash('sha256').update(given).digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

export class DashboardSessions {
  /** Session id → session, least recently used first (a used session moves to the end). */
  private readonly sessions = new Map<string, DashboardSession>();
  private readonly limits: SessionLimits;
  private readonly clock: Clock;

  constructor(limits: SessionLimits, clock: Clock = systemClock) {
    this.limits = limits;
    this.clock = clock;
  }

  open(keyId: string, role: DashboardRole): DashboardSession {
    const now = this.clock.now();
    const session: DashboardSession = { id: randomToken(), keyId, role, csrfToken: randomToken(), createdAt: now, lastSeenAt: now };
    this.sessions.set(session.id, session);
    while (this.sessions.size > this.limits.maxSessions) this.sessions.delete(this.sessions.keys().next().value!);
    return session;
  }

  /** The live session with this id (and it counts as used now), or null: unknown, ended or expired. */
  use(id: string | undefined): DashboardSession | null {
    if (!id) return null;
    const session = this.sessions.get(id);
    if (!session) return null;
    const now = this.clock.now();
    if (now - session.lastSeenAt >= this.limits.idleMs || now - session.createdAt >= this.limits.maxAgeMs) {
      this.sessions.delete(id);
      return null;
    }
    session.lastSeenAt = now;
    this.sessions.delete(id);
    this.sessions.set(id, session);
    return session;
  }

  /** Whether the session is still open, without counting as a use (the live stream asks this). */
  isOpen(session: DashboardSession): boolean {
    const now = this.clock.now();
    return this.sessions.get(session.id) === session && now - session.lastSeenAt < this.limits.idleMs && now - session.createdAt < this.limits.maxAgeMs;
  }

  end(id: string): void {
    this.sessions.delete(id);
  }

  /** Ends every session opened with the key (it was revoked); how many there were. */
  endForKey(keyId: string): number {
    let ended = 0;
    for (const [id, session] of this.sessions) {
      if (session.keyId !== keyId) continue;
      this.sessions.delete(id);
      ended++;
    }
    return ended;
  }

  /** Seconds until the session ends unless used again (for the cookie's Max-Age). */
  maxAgeSeconds(session: DashboardSession): number {
    return Math.max(1, Math.floor((session.createdAt + this.limits.maxAgeMs - this.clock.now()) / 1000));
  }

  get size(): number {
    return this.sessions.size;
  }
}
