// The engine's part of the config's `limits` section, and the scheduler built from it. The maxima are
// Outlook's per app and mailbox (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits): a
// config cannot ask for more.
import { z } from 'zod';
import { systemClock, type Clock } from '../model/clock.ts';
import type { RetryPolicy } from './deferrals.ts';
import { Scheduler } from './scheduler.ts';

/**
 * The engine's keys of the `limits` section. The section is assembled in app/config.ts with the keys the sources
 * own (sources/ics-limits.ts), so that a config keeps writing all of them under `limits`.
 */
export const engineLimitsShape = {
  mailboxConcurrency: z.number().int().min(1).max(4, 'Outlook allows at most 4 concurrent requests per app per mailbox').default(4),
  requestsPerTenMinutes: z.number().int().min(1).max(10_000, 'Outlook allows at most 10,000 requests per 10 minutes per app per mailbox').default(10_000),
  globalConcurrency: z.number().int().min(1).max(1024).default(64),
  parallelMailboxes: z.number().int().min(1).max(10_000).default(256),
  maxAttempts: z.number().int().min(1).max(50).default(8),
};

export type Limits = z.infer<z.ZodObject<typeof engineLimitsShape>>;

/**
 * The scheduler for these limits; `clock` says what time it is (which work is urgent). `retries`: calpush serve's
 * waits before trying a mailbox (or everything) again, when not the defaults (tests make them short).
 */
export function createScheduler(limits: Limits, clock: Clock = systemClock, retries: Partial<RetryPolicy> = {}): Scheduler {
  return new Scheduler({
    clock,
    globalConcurrency: limits.globalConcurrency,
    mailboxConcurrency: limits.mailboxConcurrency,
    mailboxBudget: { requests: limits.requestsPerTenMinutes, windowMs: 600_000 },
    maxAttempts: limits.maxAttempts,
    ...retries,
  });
}
