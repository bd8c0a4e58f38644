// How large an answer from a target server may be: the default and the config field every target section shares
// (src/targets/http.ts enforces it). Kept apart from the HTTP client so that reading a config loads no network code.
import { z } from 'zod';

const MiB = 1024 * 1024;

/**
 * Largest answer body the targets accept by default. A Graph listing page of 1000 events is about 1 MB, a $batch
 * answer of 20 events a few hundred KB, an EWS FindItem page of 1000 items about 1.5 MB, a CalDAV multiget of 100
 * objects a few hundred KB and the CalDAV listing of 100,000 tagged objects about 25 MB: all fit; a server that
 * sends more is broken or hostile.
 */
export const DEFAULT_MAX_RESPONSE_BYTES = 32 * MiB;

/** `target.maxResponseBytes`: at most 256 MiB, well below what one JavaScript string can hold (a body becomes one). */
export const maxResponseBytesSchema = z
  .number()
  .int()
  .min(64 * 1024, 'must be at least 65536 (64 KiB)')
  .max(256 * MiB, 'must be at most 268435456 (256 MiB)')
  .default(DEFAULT_MAX_RESPONSE_BYTES);
