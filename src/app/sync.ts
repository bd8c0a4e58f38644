// One sync: read the input, record it as the desired state (one transaction), deliver every affected mailbox. It
// is neither a source nor the engine but the two put together, so it lives at the composition root (src/app/).
// A dry run (previewSync, `sync --dry-run`) reads and validates the same way, runs the same replacement and rolls it
// back, and plans each mailbox instead of delivering it (src/engine/dry-run.ts).
import { deliver } from '../engine/delivery.ts';
import { dryRun, type DryRunPlan } from '../engine/dry-run.ts';
import { createScheduler } from '../engine/limits.ts';
import { singleRoute, type MailboxRoutes } from '../engine/routes.ts';
import type { DeliveryLog } from '../engine/run.ts';
import type { DeliverySummary } from '../engine/summary.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { CalpushError } from '../model/errors.ts';
import type { DesiredEvent } from '../model/event.ts';
import { fileParseLimits } from '../sources/parse-pool.ts';
import { duplicateErrors, formatRecordError, validateRecord, type RecordError, type RecordWarning } from '../sources/records.ts';
import { readInputItems } from '../sources/stream.ts';
import { EmptyInputRefused, type DesiredChangeResult, type DesiredImport, type DesiredImportFinish, type DesiredImportResult, type Store } from '../store/store.ts';
import type { CalendarTarget } from '../targets/target.ts';
import { retentionRule, type Config } from './config.ts';
import { createRouter } from './router.ts';
import { managedMailboxesOnce } from './mailboxes.ts';
import { openStore } from './store.ts';

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
  /** "Now": the expansion window of recurring events and which events have ended (retention). */
  clock?: Clock;
  onProgress?: (progress: { done: number; total: number }) => void;
  log?: DeliveryLog;
  /** For tests: use this store / target (the one target, "default") instead of the configured ones. */
  store?: Store;
  target?: CalendarTarget;
  /** For tests: these routes instead of the configured targets and routing. */
  routes?: MailboxRoutes;
}

/** What the input said about itself. */
export interface InputReport {
  files: number;
  records: number;
  accepted: number;
  rejected: number;
  errors: RecordError[];
  unreportedErrors?: number;
  /** Valid records read differently from how they are written (they went through): a local time shifted out of a DST gap. */
  warnings: RecordWarning[];
  unreportedWarnings?: number;
}

/** What the change did to the desired state; `kept`: ended events absent from the input that stay (retention). */
export type DesiredSummary = DesiredChangeResult & { kept: number };

export interface SyncResult {
  input: InputReport;
  desired: DesiredSummary;
  delivery: DeliverySummary;
}

/** A dry run (--dry-run): the desired-state change and the plan per mailbox; nothing was sent or recorded. */
export interface SyncPreview {
  dryRun: true;
  input: InputReport;
  desired: DesiredSummary;
  plan: DryRunPlan;
}

/** A sync (or import) that was refused before anything was changed: an unreadable file, an empty input. */
export class SyncRefused extends CalpushError {
  constructor(message: string) {
    super('SyncRefused', message);
  }
}

/** How many record errors (and, apart, warnings) are kept with their details; the rest are counted. */
const MAX_REPORTED_ERRORS = 10_000;
/**
 * Events staged into the store per call. Small on purpose: a chunk that outlives a young-generation GC is copied
 * to the old generation, which then grows until a full GC. 250 instead of 2,000 cut a no-op resync's peak RSS from
 * ~290 to ~185 MB and its time by a quarter (docs/benchmarks.md, (c)).
 */
const STAGE_CHUNK = 250;
/**
 * Recurring .ics events are expanded from this long ago. Occurrences that fall out of the window stay (retention),
 * so it need not reach further back than what a source may still change.
 */
export const EXPANSION_PAST_MS = 30 * 86_400_000;

/** Collects an input's errors and warnings, bounded, and which records were rejected. */
export class InputProblems {
  readonly errors: RecordError[] = [];
  readonly warnings: RecordWarning[] = [];
  private readonly rejectedRecords = new Set<string>();
  private unreportedErrors = 0;
  private unreportedWarnings = 0;

  /**
   * Why an input without a valid event is refused. When records were rejected, they are the reason, and
   * --allow-empty would only wipe the calendars: their errors are named and --allow-empty is not suggested.
   */
  emptyInputMessage(refused: EmptyInputRefused): string {
    if (!this.errors.length) return `${refused.message} If that is really wanted, run again with --allow-empty.`;
    const shown = this.errors.slice(0, 5);
    const more = this.errors.length - shown.length + this.unreportedErrors;
    return `${refused.message} The input's problems: ${shown.map(formatRecordError).join('; ')}${more ? `; and ${more} more` : ''}. Fix them and run again.`;
  }

  reject(error: RecordError): void {
    this.rejectedRecords.add(error.record);
    if (this.errors.length < MAX_REPORTED_ERRORS) this.errors.push(error);
    else this.unreportedErrors++;
  }

  warn(warning: RecordWarning): void {
    if (this.warnings.length < MAX_REPORTED_ERRORS) this.warnings.push(warning);
    else this.unreportedWarnings++;
  }

  report(counts: { files: number; records: number; accepted: number }): InputReport {
    return {
      ...counts,
      rejected: this.rejectedRecords.size,
      errors: this.errors,
      ...(this.unreportedErrors ? { unreportedErrors: this.unreportedErrors } : {}),
      warnings: this.warnings,
      ...(this.unreportedWarnings ? { unreportedWarnings: this.unreportedWarnings } : {}),
    };
  }
}

/** Records the input as the desired state of its calendars and delivers every affected mailbox. */
export async function runSync(options: SyncOptions): Promise<SyncResult> {
  return withStagedInput(options, true, async ({ importer, finish, problems, records, store, routes }) => {
    let imported;
    try {
      imported = await importer.finish(finish);
    } catch (error) {
      if (error instanceof EmptyInputRefused) throw new SyncRefused(problems.emptyInputMessage(error));
      throw error;
    }
    for (const duplicate of imported.duplicates) duplicateErrors(duplicate).forEach((e) => problems.reject(e));

    const { config } = options;
    const delivery = await deliver({
      store,
      routes,
      ...(options.clock ? { clock: options.clock } : {}),
      instance: config.instance,
      calendars: imported.calendars,
      reinventory: options.reinventory ?? false,
      busyWaitMs: options.busyWaitMs ?? 0,
      maxAttempts: config.limits.maxAttempts,
      parallelMailboxes: config.limits.parallelMailboxes,
      ...(options.log ? { log: options.log } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
    return { input: problems.report({ files: options.inputs.length, records, accepted: imported.applied }), desired: desiredSummary(imported), delivery };
  });
}

/**
 * sync --dry-run: the same input, validation and replacement as runSync, rolled back, and the plan per mailbox. Sends
 * no write request and records nothing; mailboxes a real run would list first are listed read-only (src/engine/dry-run.ts).
 */
export async function previewSync(options: SyncOptions): Promise<SyncPreview> {
  return withStagedInput(options, false, async ({ importer, finish, problems, records, routes, store }) => {
    let previewed;
    try {
      previewed = await dryRun({
        importer,
        finish,
        instance: options.config.instance,
        reinventory: options.reinventory ?? false,
        lister: { routes, parallelMailboxes: options.config.limits.parallelMailboxes },
        driftFor: (calendar) => store.driftFor(calendar),
      });
    } catch (error) {
      if (error instanceof EmptyInputRefused) throw new SyncRefused(problems.emptyInputMessage(error));
      throw error;
    }
    const { imported, plan } = previewed;
    for (const duplicate of imported.duplicates) duplicateErrors(duplicate).forEach((e) => problems.reject(e));
    return { dryRun: true, input: problems.report({ files: options.inputs.length, records, accepted: imported.applied }), desired: desiredSummary(imported), plan };
  });
}

export function desiredSummary(imported: DesiredImportResult): DesiredSummary {
  const { added, changed, removed, unchanged, kept } = imported;
  return { added, changed, removed, unchanged, kept };
}

interface StagedInput {
  importer: DesiredImport;
  finish: DesiredImportFinish;
  problems: InputProblems;
  records: number;
  store: Store;
  /** Which target serves each mailbox (engine/routes.ts). */
  routes: MailboxRoutes;
}

/**
 * The routes of a sync or import: the ones given (tests), the one target given, or the configured targets and
 * routing (lookup answers remembered in the store unless `record` is false: a dry run records nothing). `close`
 * closes what was built here.
 */
export async function syncRoutes(
  options: Pick<SyncOptions, 'config' | 'baseDir' | 'clock' | 'target' | 'routes'>,
  store: Store,
  record: boolean,
): Promise<{ routes: MailboxRoutes; close: () => Promise<void> }> {
  if (options.routes) return { routes: options.routes, close: async () => {} };
  if (options.target) return { routes: singleRoute(options.target, createScheduler(options.config.limits, options.clock)), close: async () => {} };
  const router = await createRouter(options.config, options.baseDir, { store, record, ...(options.clock ? { clock: options.clock } : {}) });
  return { routes: router, close: () => router.close() };
}

/** Reads and validates the input into a staged import, hands it to `apply`, and closes what it opened. */
async function withStagedInput<T>(options: SyncOptions, record: boolean, apply: (staged: StagedInput) => Promise<T>): Promise<T> {
  const { config } = options;
  const horizonDays = options.horizonDays ?? 400;
  const now = (options.clock ?? systemClock).now();
  const explicitCalendars = options.calendars?.map((c) => c.trim().toLowerCase());
  // The config's mailboxes, room lists read through their target (app/mailboxes.ts); --calendar names them instead.
  const managed = explicitCalendars ? null : await managedMailboxesOnce(config, options.baseDir, options.clock);
  const allowedSet = explicitCalendars ? new Set(explicitCalendars) : (managed?.set ?? null);

  const store = options.store ?? (await openStore(config.store, options.baseDir, options.clock ? { clock: options.clock } : {}));
  let routing: Awaited<ReturnType<typeof syncRoutes>>;
  try {
    routing = await syncRoutes(options, store, record);
  } catch (error) {
    if (!options.store) await store.close();
    throw error;
  }
  const { routes } = routing;
  try {
    const problems = new InputProblems();
    const fileErrors: RecordError[] = [];
    let records = 0;

    const importer = await store.beginDesiredImport();
    let chunk: Array<{ desired: DesiredEvent; record: string }> = [];
    try {
      const items = readInputItems(options.inputs, {
        ...(explicitCalendars?.length === 1 ? { icsCalendar: explicitCalendars[0]! } : {}),
        timeZone: config.timeZone,
        horizon: { fromMs: now - EXPANSION_PAST_MS, toMs: now + horizonDays * 86_400_000 },
        icsLimits: fileParseLimits(config.limits),
      });
      for await (const item of items) {
        if (item.kind === 'held') {
          await importer.hold([item.held]);
          continue;
        }
        if (item.kind === 'error') {
          if (item.fileLevel) fileErrors.push(item.error);
          problems.reject(item.error);
          continue;
        }
        records++;
        const { record, value } = item.record;
        const result = validateRecord(record, value);
        if (!result.ok) {
          result.errors.forEach((e) => problems.reject(e));
          if (result.held) await importer.hold([result.held]);
          continue;
        }
        const { desired } = result;
        if (allowedSet && !allowedSet.has(desired.event.calendar)) {
          problems.reject({
            record,
            id: desired.event.id,
            calendar: desired.event.calendar,
            field: 'calendar',
            message: explicitCalendars ? 'is not among the calendars named with --calendar' : managed!.refusal(),
          });
          continue;
        }
        result.warnings.forEach((w) => problems.warn(w));
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

    const finish: DesiredImportFinish = {
      calendars: allowedSet ? [...allowedSet] : 'staged-and-synced',
      refuseEmpty: !options.allowEmpty,
      retention: retentionRule(config, now),
    };
    try {
      return await apply({ importer, finish, problems, records, store, routes });
    } finally {
      await importer.abort();
    }
  } finally {
    await routing.close();
    if (!options.store) await store.close();
  }
}
