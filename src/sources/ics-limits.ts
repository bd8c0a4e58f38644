// The sources' keys of the config's `limits` section: how large, how eventful and how slow an .ics file given to sync
// or import may be (parse-pool.ts parses it under them; fileParseLimits turns them into its ParseLimits). They are
// written under `limits` with the engine's keys (engine/limits.ts); app/config.ts assembles the section from both.
import { z } from 'zod';
import { DEFAULT_PARSE_LIMITS } from './parse-pool.ts';

export const icsLimitsShape = {
  /** An .ics file (sync, import) larger than this is refused before it is parsed. */
  icsMaxBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(DEFAULT_PARSE_LIMITS.maxBytes),
  /** Events (single events and occurrences in the horizon) one .ics file may produce; more: refused. */
  icsMaxEvents: z.number().int().min(1).max(10_000_000).default(DEFAULT_PARSE_LIMITS.maxEvents),
  /** Seconds the parse of one .ics file may take (in a worker thread, stopped at this limit). */
  icsParseTimeoutSeconds: z.number().int().min(1).max(3_600).default(DEFAULT_PARSE_LIMITS.timeoutMs / 1000),
};
