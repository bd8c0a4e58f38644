// One sync: read the input, record it as the desired state (one transaction), deliver every affected mailbox.
import type { Config } from '../config/config.ts';
import { readCa, resolveGraphCredential, resolvePath } from '../config/config.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import { deliver, type DeliverySummary } from '../scheduler/delivery.ts';
import { readInputs } from '../sources/files.ts';
import type { RecordError } from '../sources/records.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { DesiredChangeResult, Store } from '../store/store.ts';
import { GraphTarget } from '../targets/graph/target.ts';
import type { CalendarTarget } from '../targets/target.ts';

export interface SyncOptions {
  config: Config;
  baseDir: string;
  inputs: string[];
  /** Only these calendars are replaced (and .ics files go to the single one named). */
  calendars?: string[];
  /** Accept an input without a single valid event even though it removes every event we delivered. */
  allowEmpty?: boolean;
  /** List the target's tagged items again before planning. */
  reinventory?: boolean;
  /** Expansion window for recurring .ics events. */
  horizonDays?: number;
  onProgress?: (progress: { done: number; total: number }) => void;
  /** For tests: use this store / target instead of the configured ones. */
  store?: Store;
  target?: CalendarTarget;
}

export interface SyncResult {
  input: { files: number; records: number; accepted: number; rejected: number; errors: RecordError[] };
  desired: DesiredChangeResult;
  delivery: DeliverySummary;
}

export class SyncRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SyncRefused';
  }
}

export function createGraphTarget(config: Config, baseDir: string): GraphTarget {
  const caPem = readCa(config, baseDir);
  return new GraphTarget({
    instance: config.instance,
    tenantId: config.target.tenantId,
    clientId: config.target.clientId,
    credential: resolveGraphCredential(config, baseDir),
    authorityHost: config.target.authorityHost,
    graphBaseUrl: config.target.graphBaseUrl,
    scope: config.target.scope,
    ...(caPem ? { caPem } : {}),
    allDayTimeZone: config.timeZone,
    requestTimeoutMs: config.target.requestTimeoutMs,
  });
}

export function createScheduler(config: Config): Scheduler {
  return new Scheduler({
    globalConcurrency: config.limits.globalConcurrency,
    mailboxConcurrency: config.limits.mailboxConcurrency,
    mailboxBudget: { requests: config.limits.requestsPerTenMinutes, windowMs: 600_000 },
    maxAttempts: config.limits.maxAttempts,
  });
}

export async function runSync(options: SyncOptions): Promise<SyncResult> {
  const { config } = options;
  const horizonDays = options.horizonDays ?? 400;
  const now = Date.now();
  const explicitCalendars = options.calendars?.map((c) => c.trim().toLowerCase());
  const parsed = readInputs(options.inputs, {
    ...(explicitCalendars?.length === 1 ? { icsCalendar: explicitCalendars[0]! } : {}),
    timeZone: config.timeZone,
    horizon: { fromMs: now - 30 * 86_400_000, toMs: now + horizonDays * 86_400_000 },
  });

  // A JSON input that could not be read at all leaves the desired state unknown: change nothing.
  if (parsed.fileErrors.length) {
    throw new SyncRefused(`nothing was changed: ${parsed.fileErrors.map((e) => `${e.record} ${e.message}`).join('; ')}`);
  }

  const store = options.store ?? new SqliteStore(resolvePath(options.baseDir, config.store.sqlite));
  const target = options.target ?? createGraphTarget(config, options.baseDir);
  try {
    const configured = config.mailboxes?.map((m) => m.toLowerCase());
    const allowed = explicitCalendars ?? configured;
    const errors = [...parsed.errors];
    const events = parsed.events.filter((desired) => {
      if (!allowed || allowed.includes(desired.event.calendar)) return true;
      errors.push({
        record: `event "${desired.event.id}"`,
        id: desired.event.id,
        calendar: desired.event.calendar,
        field: 'calendar',
        message: explicitCalendars ? `is not among the calendars named with --calendar` : `is not one of the mailboxes in the config`,
      });
      return false;
    });
    const calendars = allowed ?? [...new Set([...events.map((e) => e.event.calendar), ...(await store.calendars())])].sort();

    if (events.length === 0 && !options.allowEmpty) {
      let existing = 0;
      for (const calendar of calendars) existing += (await store.desiredFor(calendar)).length;
      if (existing > 0) {
        throw new SyncRefused(
          `the input has no valid event, which would remove all ${existing} events calpush manages in ${calendars.length} calendar(s); ` +
            'nothing was changed. If that is really wanted, run again with --allow-empty.',
        );
      }
    }

    const desired = await store.applyDesired({ calendars, events, held: parsed.held });
    const delivery = await deliver({
      store,
      target,
      scheduler: createScheduler(config),
      instance: config.instance,
      calendars,
      reinventory: options.reinventory ?? false,
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return {
      input: { files: options.inputs.length, records: parsed.records, accepted: events.length, rejected: new Set(errors.map((e) => e.record)).size, errors },
      desired,
      delivery,
    };
  } finally {
    if (!options.target) await target.close();
    if (!options.store) await store.close();
  }
}
