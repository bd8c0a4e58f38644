// One sync: read the input, record it as the desired state (one transaction), deliver every affected mailbox.
import type { Config } from '../config/config.ts';
import { graphTarget, readCa, readSecret, resolveGraphCredential, resolvePath } from '../config/config.ts';
import { Scheduler } from '../scheduler/scheduler.ts';
import { deliver, type DeliveryLog, type DeliverySummary } from '../scheduler/delivery.ts';
import type { DesiredEvent } from '../model/event.ts';
import { fileParseLimits } from '../sources/parse-pool.ts';
import { duplicateErrors, formatRecordError, validateRecord, type RecordError } from '../sources/records.ts';
import { readInputItems } from '../sources/stream.ts';
import { SqliteStore } from '../store/sqlite.ts';
import { EmptyInputRefused, type DesiredChangeResult, type Store } from '../store/store.ts';
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
  /** How long to wait for mailboxes another calpush process is delivering (see deliver()'s busyWaitMs). */
  busyWaitMs?: number;
  /** Expansion window for recurring .ics events. */
  horizonDays?: number;
  onProgress?: (progress: { done: number; total: number }) => void;
  log?: DeliveryLog;
  /** For tests: use this store / target instead of the configured ones. */
  store?: Store;
  target?: CalendarTarget;
}

export interface SyncResult {
  input: { files: number; records: number; accepted: number; rejected: number; errors: RecordError[]; unreportedErrors?: number };
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
  const target = graphTarget(config);
  const caPem = readCa(config, baseDir);
  return new GraphTarget({
    instance: config.instance,
    tenantId: target.tenantId,
    clientId: target.clientId,
    credential: resolveGraphCredential(config, baseDir),
    authorityHost: target.authorityHost,
    graphBaseUrl: target.graphBaseUrl,
    scope: target.scope,
    ...(caPem ? { caPem } : {}),
    allDayTimeZone: config.timeZone,
    requestTimeoutMs: target.requestTimeoutMs,
    batch: target.batch,
  });
}

/**
 * The configured target: Microsoft Graph, EWS for Exchange Server, or a CalDAV server. EWS and CalDAV (and their
 * libraries) are loaded only when configured: every run pays the start-up of what it loads.
 */
export async function createTarget(config: Config, baseDir: string): Promise<CalendarTarget> {
  switch (config.target.kind) {
    case 'graph':
      return createGraphTarget(config, baseDir);
    case 'ews': {
      const { createEwsTarget } = await import('../targets/ews/config.ts');
      return createEwsTarget(config.target, { instance: config.instance, baseDir, allDayTimeZone: config.timeZone, readSecret });
    }
    case 'caldav': {
      const { createCalDavTarget } = await import('../targets/caldav/config.ts');
      return createCalDavTarget(config.target, { instance: config.instance, baseDir, allDayTimeZone: config.timeZone });
    }
  }
}

export function createScheduler(config: Config): Scheduler {
  return new Scheduler({
    globalConcurrency: config.limits.globalConcurrency,
    mailboxConcurrency: config.limits.mailboxConcurrency,
    mailboxBudget: { requests: config.limits.requestsPerTenMinutes, windowMs: 600_000 },
    maxAttempts: config.limits.maxAttempts,
  });
}

/** How many record errors are kept with their details; the rest are counted. */
const MAX_REPORTED_ERRORS = 10_000;
/**
 * Events staged into the store per call. Small on purpose: a chunk that outlives a young-generation GC is copied
 * to the old generation, which then grows until a full GC. 250 instead of 2,000 cut a no-op resync's peak RSS from
 * ~290 to ~185 MB and its time by a quarter (docs/benchmarks.md, (c)).
 */
const STAGE_CHUNK = 250;

/**
 * Why an input without a valid event is refused. When records were rejected, they are the reason, and --allow-empty
 * would only wipe the calendars: their errors are named and --allow-empty is not suggested.
 */
function emptyInputMessage(refused: EmptyInputRefused, errors: RecordError[], unreported: number): string {
  if (!errors.length) return `${refused.message} If that is really wanted, run again with --allow-empty.`;
  const shown = errors.slice(0, 5);
  const more = errors.length - shown.length + unreported;
  return `${refused.message} The input's problems: ${shown.map(formatRecordError).join('; ')}${more ? `; and ${more} more` : ''}. Fix them and run again.`;
}

export async function runSync(options: SyncOptions): Promise<SyncResult> {
  const { config } = options;
  const horizonDays = options.horizonDays ?? 400;
  const now = Date.now();
  const explicitCalendars = options.calendars?.map((c) => c.trim().toLowerCase());
  const configured = config.mailboxes?.map((m) => m.toLowerCase());
  const allowed = explicitCalendars ?? configured;
  const allowedSet = allowed ? new Set(allowed) : null;

  const store = options.store ?? new SqliteStore(resolvePath(options.baseDir, config.store.sqlite));
  const target = options.target ?? (await createTarget(config, options.baseDir));
  try {
    const errors: RecordError[] = [];
    const rejectedRecords = new Set<string>();
    let unreportedErrors = 0;
    const reject = (error: RecordError) => {
      rejectedRecords.add(error.record);
      if (errors.length < MAX_REPORTED_ERRORS) errors.push(error);
      else unreportedErrors++;
    };
    const fileErrors: RecordError[] = [];
    let records = 0;

    const importer = await store.beginDesiredImport();
    let chunk: Array<{ desired: DesiredEvent; record: string }> = [];
    try {
      const items = readInputItems(options.inputs, {
        ...(explicitCalendars?.length === 1 ? { icsCalendar: explicitCalendars[0]! } : {}),
        timeZone: config.timeZone,
        horizon: { fromMs: now - 30 * 86_400_000, toMs: now + horizonDays * 86_400_000 },
        icsLimits: fileParseLimits(config.limits),
      });
      for await (const item of items) {
        if (item.kind === 'held') {
          await importer.hold([item.held]);
          continue;
        }
        if (item.kind === 'error') {
          if (item.fileLevel) fileErrors.push(item.error);
          reject(item.error);
          continue;
        }
        records++;
        const { record, value } = item.record;
        const result = validateRecord(record, value);
        if (!result.ok) {
          result.errors.forEach(reject);
          if (result.held) await importer.hold([result.held]);
          continue;
        }
        const { desired } = result;
        if (allowedSet && !allowedSet.has(desired.event.calendar)) {
          reject({
            record,
            id: desired.event.id,
            calendar: desired.event.calendar,
            field: 'calendar',
            message: explicitCalendars ? 'is not among the calendars named with --calendar' : 'is not one of the mailboxes in the config',
          });
          continue;
        }
        chunk.push({ desired, record });
        if (chunk.length >= STAGE_CHUNK) {
          await importer.add(chunk);
          chunk = [];
        }
      }
      if (chunk.length) await importer.add(chunk);
      // A file that could not be read at all leaves the desired state unknown: change nothing.
      if (fileErrors.length) {
        throw new SyncRefused(`nothing was changed: ${fileErrors.map((e) => `${e.record} ${e.message}`).join('; ')}`);
      }
    } catch (error) {
      await importer.abort();
      throw error;
    }

    let imported;
    try {
      imported = await importer.finish({ calendars: allowed ?? 'staged-and-synced', refuseEmpty: !options.allowEmpty });
    } catch (error) {
      if (error instanceof EmptyInputRefused) throw new SyncRefused(emptyInputMessage(error, errors, unreportedErrors));
      throw error;
    }
    for (const duplicate of imported.duplicates) duplicateErrors(duplicate).forEach(reject);

    const delivery = await deliver({
      store,
      target,
      scheduler: createScheduler(config),
      instance: config.instance,
      calendars: imported.calendars,
      reinventory: options.reinventory ?? false,
      busyWaitMs: options.busyWaitMs ?? 0,
      maxAttempts: config.limits.maxAttempts,
      parallelMailboxes: config.limits.parallelMailboxes,
      ...(options.log ? { log: options.log } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    const { added, changed, removed, unchanged } = imported;
    return {
      input: { files: options.inputs.length, records, accepted: imported.applied, rejected: rejectedRecords.size, errors, ...(unreportedErrors ? { unreportedErrors } : {}) },
      desired: { added, changed, removed, unchanged },
      delivery,
    };
  } finally {
    if (!options.target) await target.close();
    if (!options.store) await store.close();
  }
}
