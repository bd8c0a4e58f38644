// Outlook service limits in Graph, "evaluated for each app ID and mailbox combination":
// 10,000 API requests in a 10-minute period and 4 concurrent requests
// (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits). Exceeding them answers
// 429 {"error":{"code":"ApplicationThrottled","message":"Application is over its MailboxConcurrency limit."}} with
// Retry-After: 1 — "MailboxConcurrency limit is not time-based … retry-after value of '1' signify you need at least
// 1 concurrent call to complete" — or "…over its RequestRate limit." (protocol notes A4;
// https://learn.microsoft.com/en-us/answers/questions/2143058/503-service-unavailable-when-sending-emails-throug ,
// https://github.com/magodo/terraform-provider-outlook/issues/21).
import type { ThrottlingOptions } from '../types.ts';

export const DEFAULT_THROTTLING: ThrottlingOptions = { enabled: true, mailboxConcurrency: 4, requestsPerWindow: 10000, windowMs: 600000 };

interface KeyState {
  inFlight: number;
  /** admission times within the current window, oldest first */
  admitted: number[];
  head: number;
}

export type Admission =
  | { ok: true; release: () => void }
  | { ok: false; limit: 'MailboxConcurrency' | 'RequestRate'; retryAfterSeconds: number };

export class Throttler {
  options: ThrottlingOptions;
  private readonly keys = new Map<string, KeyState>();
  private readonly now: () => number;

  constructor(options: ThrottlingOptions, now: () => number = Date.now) {
    this.options = options;
    this.now = now;
  }

  private state(key: string): KeyState {
    let s = this.keys.get(key);
    if (!s) {
      s = { inFlight: 0, admitted: [], head: 0 };
      this.keys.set(key, s);
    }
    return s;
  }

  /** Admits a request for (app, mailbox) or says which limit it hit. Every admitted request counts, reads too. */
  acquire(key: string): Admission {
    const s = this.state(key);
    const now = this.now();
    const o = this.options;
    // Drop admissions that left the rolling window.
    while (s.head < s.admitted.length && s.admitted[s.head]! <= now - o.windowMs) s.head++;
    if (s.head > 1024 && s.head * 2 > s.admitted.length) {
      s.admitted = s.admitted.slice(s.head);
      s.head = 0;
    }
    if (o.enabled) {
      if (s.admitted.length - s.head >= o.requestsPerWindow) {
        // Retry-After = seconds until the oldest admission in the window leaves it, i.e. a slot frees.
        const oldest = s.admitted[s.head]!;
        return { ok: false, limit: 'RequestRate', retryAfterSeconds: Math.max(1, Math.ceil((oldest + o.windowMs - now) / 1000)) };
      }
      if (s.inFlight >= o.mailboxConcurrency) return { ok: false, limit: 'MailboxConcurrency', retryAfterSeconds: 1 };
    }
    s.admitted.push(now);
    s.inFlight++;
    let released = false;
    return {
      ok: true,
      release: () => {
        if (released) return;
        released = true;
        s.inFlight--;
      },
    };
  }

  inFlight(key: string): number {
    return this.keys.get(key)?.inFlight ?? 0;
  }
}
