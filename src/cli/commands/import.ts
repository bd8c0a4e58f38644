// calpush import: adds and changes events from files (JSON, NDJSON, CSV, .ics) or folders of them, and delivers.
//
// Import differs from sync in one thing: it is an upsert. Every valid record is added or changes its event; an
// event that is not in the files stays as it is (sync makes the input the complete desired state and deletes what
// is missing). An event an .ics file marks STATUS:CANCELLED is removed by both. Use import to load a backlog or merge in another system's events; use sync or the API's full
// replacement for a source that is the whole truth about its calendars.
//
// As in sync: each record is checked on its own and reported with file, line and field; valid records go through;
// an id given twice is applied from neither record; a file that cannot be read at all (not JSON, a CSV with
// unknown columns) stops the import before anything is changed. `--dry-run` shows what would be added and changed
// and what a delivery would then do, recording nothing (exit codes as sync --dry-run).
import { createReadStream, readdirSync, statSync, writeFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { integerArgument } from '../options.ts';
import { parse } from 'csv-parse';
import { retentionRule, type Config } from '../../app/config.ts';
import { systemClock, type Clock } from '../../model/clock.ts';
import type { DesiredEvent } from '../../model/event.ts';
import { deliver } from '../../engine/delivery.ts';
import type { MailboxRoutes } from '../../engine/routes.ts';
import type { DeliverySummary } from '../../engine/summary.ts';
import { loadServeConfig } from '../../app/settings.ts';
import { duplicateErrors, validateRecord, type RecordError } from '../../sources/records.ts';
import { eventKey } from '../../model/event.ts';
import { fileParseLimits } from '../../sources/parse-pool.ts';
import { readInputItems, type Cancellation, type InputItem } from '../../sources/stream.ts';
import { managedMailboxesOnce } from '../../app/mailboxes.ts';
import { openStore } from '../../app/store.ts';
import type { DesiredImport, DesiredImportFinish, DesiredOp, Store } from '../../store/store.ts';
import { dryRun } from '../../engine/dry-run.ts';
import { desiredSummary, EXPANSION_PAST_MS, InputProblems, syncRoutes, SyncRefused, type SyncPreview, type SyncResult } from '../../app/sync.ts';
import type { CalendarTarget } from '../../targets/target.ts';
import { formatPreview, formatSummary, progressBar } from '../summary.ts';
import { exitCodeFor, exitCodeForPreview, reportFailure } from './sync.ts';

/** The CSV columns, in the order a template would list them. A header row naming them is required. */
export const CSV_COLUMNS = [
  'calendar',
  'id',
  'subject',
  'start',
  'end',
  'timeZone',
  'allDay',
  'location',
  'body',
  'bodyType',
  'categories',
  'showAs',
  'sensitivity',
  'reminderMinutes',
] as const;
type CsvColumn = (typeof CSV_COLUMNS)[number];

const SUPPORTED = new Set(['.json', '.ndjson', '.jsonl', '.csv', '.ics']);
const canonicalColumn = new Map(CSV_COLUMNS.map((c) => [c.toLowerCase(), c]));
const columnKey = (name: string) => name.trim().toLowerCase().replace(/[\s_-]+/g, '');

/** One CSV row as an event record: empty cells are left out, allDay/reminderMinutes/categories/body converted. */
export function csvRowToRecord(row: Partial<Record<CsvColumn, string>>): Record<string, unknown> {
  const record: Record<string, unknown> = {};
  for (const [column, raw] of Object.entries(row) as Array<[CsvColumn, string | undefined]>) {
    if (raw === undefined || raw.trim() === '') continue;
    const value = column === 'body' ? raw : raw.trim();
    switch (column) {
      case 'allDay': {
        const v = value.toLowerCase();
        record.allDay = ['true', 'yes', '1', 'y'].includes(v) ? true : ['false', 'no', '0', 'n'].includes(v) ? false : value;
        break;
      }
      case 'reminderMinutes':
        record.reminderMinutes = /^\d+$/.test(value) ? Number(value) : value;
        break;
      case 'categories':
        record.categories = value
          .split(';')
          .map((c) => c.trim())
          .filter(Boolean);
        break;
      case 'bodyType':
        break;
      case 'body':
        record.body = row.bodyType?.trim().toLowerCase() === 'html' ? { contentType: 'html', content: value } : value;
        break;
      default:
        record[column] = value;
    }
  }
  if (row.bodyType?.trim() && !['text', 'html'].includes(row.bodyType.trim().toLowerCase())) record.bodyType = row.bodyType;
  return record;
}

/** A CSV file as input items; `calendar` fills rows of a file without a calendar column. */
export async function* csvItems(path: string, origin: string, calendar?: string): AsyncGenerator<InputItem> {
  const parser = createReadStream(path).pipe(parse({ bom: true, raw: true, relax_column_count: true }));
  let header: Array<CsvColumn | null> | null = null;
  // The line a record starts on, counted from the raw text (csv-parse's own count is off for CRLF inside quotes).
  // A record's raw text ends with its line break ("\n", or "\r" of a CRLF), and holds the breaks of quoted newlines.
  let line = 1;
  try {
    for await (const { record, raw } of parser as AsyncIterable<{ record: string[]; raw: string }>) {
      const info = { lines: line };
      line += raw.match(/\r\n|\r|\n/g)?.length ?? 0;
      if (record.every((field) => field.trim() === '')) continue;
      if (!header) {
        const columns = record.map((name) => canonicalColumn.get(columnKey(name)) ?? null);
        const unknown = record.filter((_, i) => columns[i] === null);
        const missing = (['id', 'start', 'end', ...(calendar ? [] : ['calendar'])] as CsvColumn[]).filter((c) => !columns.includes(c));
        if (unknown.length || missing.length) {
          const problems = [unknown.length ? `unknown column(s) ${unknown.map((u) => `"${u}"`).join(', ')}` : '', missing.length ? `missing column(s) ${missing.join(', ')}` : ''].filter(Boolean);
          yield {
            kind: 'error',
            error: { record: `${origin} line ${info.lines}`, field: '(file)', message: `has ${problems.join(' and ')} in its header row; the columns are ${CSV_COLUMNS.join(',')}` },
            fileLevel: true,
          };
          return;
        }
        header = columns;
        continue;
      }
      const where = `${origin} line ${info.lines}`;
      if (record.length !== header.length) {
        yield { kind: 'error', error: { record: where, field: '(record)', message: `has ${record.length} fields; the header has ${header.length}` }, fileLevel: false };
        continue;
      }
      const row: Partial<Record<CsvColumn, string>> = {};
      header.forEach((column, i) => {
        if (column) row[column] = record[i];
      });
      const value = csvRowToRecord(row);
      if (value.calendar === undefined && calendar) value.calendar = calendar;
      yield { kind: 'record', record: { record: where, value } };
    }
  } catch (error) {
    const lines = (error as { lines?: number }).lines;
    yield { kind: 'error', error: { record: lines ? `${origin} line ${lines}` : origin, field: '(file)', message: `is not valid CSV: ${(error as Error).message}` }, fileLevel: true };
  }
}

/** Files named, and the supported files inside folders named (recursively, in name order). */
export function inputFiles(paths: string[]): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name.startsWith('.')) continue;
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile() && SUPPORTED.has(extname(entry.name).toLowerCase())) files.push(path);
    }
  };
  for (const path of paths) {
    let isDirectory = false;
    try {
      isDirectory = statSync(path).isDirectory();
    } catch {
      // Reported by the reader as "cannot be read".
    }
    if (isDirectory) walk(path);
    else files.push(path);
  }
  return files;
}

export interface ImportOptions {
  config: Config;
  baseDir: string;
  paths: string[];
  /** The mailbox of .ics files and of CSV files without a calendar column; also the only calendar accepted. */
  calendar?: string;
  horizonDays?: number;
  /** "Now": the expansion window of recurring .ics events. */
  clock?: Clock;
  /** Deliver the changed calendars after recording them (default true). */
  deliver?: boolean;
  onRead?: (progress: { files: number; filesDone: number; records: number }) => void;
  onProgress?: (progress: { done: number; total: number }) => void;
  store?: Store;
  target?: CalendarTarget;
  /** For tests: these routes instead of the configured targets and routing. */
  routes?: MailboxRoutes;
}

const STAGE_CHUNK = 2_000;

/** Loads the files as an upsert (nothing is removed) and delivers the calendars they changed. */
export async function runImport(options: ImportOptions): Promise<SyncResult & { calendars: string[] }> {
  return withStagedFiles(options, async ({ importer, finish, problems, files, records, store, cancellations, allowed }) => {
    const imported = await importer.finish(finish);
    for (const duplicate of imported.duplicates) duplicateErrors(duplicate).forEach((e) => problems.reject(e));
    const cancelled = await removeCancelled(store, cancellations, allowed);
    const calendars = [...new Set([...imported.calendars, ...cancelled.calendars])];

    const { config } = options;
    let delivery: DeliverySummary = { mailboxes: [], totals: { created: 0, updated: 0, deleted: 0, unchanged: 0, failed: 0, requests: 0, failedMailboxes: 0 } };
    if ((options.deliver ?? true) && calendars.length) {
      const { routes, close } = await syncRoutes(options, store, true);
      try {
        delivery = await deliver({
          store,
          routes,
          ...(options.clock ? { clock: options.clock } : {}),
          instance: config.instance,
          calendars,
          maxAttempts: config.limits.maxAttempts,
          parallelMailboxes: config.limits.parallelMailboxes,
          ...(options.onProgress ? { onProgress: options.onProgress } : {}),
        });
      } finally {
        await close();
      }
    }
    return { input: problems.report({ files, records, accepted: imported.applied }), desired: { ...desiredSummary(imported), removed: cancelled.removed }, delivery, calendars };
  });
}

/**
 * import --dry-run: what the import would add and change, and what a delivery would then do per mailbox; nothing is
 * recorded and no write request is sent (mailboxes a real run would list first are listed read-only).
 */
export async function previewImport(options: ImportOptions): Promise<SyncPreview & { calendars: string[] }> {
  return withStagedFiles(options, async ({ importer, finish, problems, files, records, store }) => {
    const { config } = options;
    const { routes, close } = await syncRoutes(options, store, false);
    try {
      const lister = { routes, parallelMailboxes: config.limits.parallelMailboxes };
      const { imported, plan } = await dryRun({ importer, finish, instance: config.instance, lister, driftFor: (calendar) => store.driftFor(calendar) });
      for (const duplicate of imported.duplicates) duplicateErrors(duplicate).forEach((e) => problems.reject(e));
      return { dryRun: true, input: problems.report({ files, records, accepted: imported.applied }), desired: desiredSummary(imported), plan, calendars: imported.calendars };
    } finally {
      await close();
    }
  });
}

interface StagedFiles {
  /** Events the files mark STATUS:CANCELLED: removed after the upsert (an upsert alone would keep them). */
  cancellations: Cancellation[];
  /** The calendars this import may write (null: any). */
  allowed: Set<string> | null;
  importer: DesiredImport;
  finish: DesiredImportFinish;
  problems: InputProblems;
  files: number;
  records: number;
  store: Store;
}

/** Reads and validates the files into a staged import, hands it to `apply`, and closes what it opened. */
async function withStagedFiles<T>(options: ImportOptions, apply: (staged: StagedFiles) => Promise<T>): Promise<T> {
  const { config } = options;
  const now = (options.clock ?? systemClock).now();
  const horizonDays = options.horizonDays ?? 400;
  const calendar = options.calendar?.trim().toLowerCase();
  // The config's mailboxes, room lists read through their target (app/mailboxes.ts); --calendar names one instead.
  const managed = calendar ? null : await managedMailboxesOnce(config, options.baseDir, options.clock);
  const allowed = calendar ? new Set([calendar]) : (managed?.set ?? null);
  const files = inputFiles(options.paths);
  if (!files.length) throw new SyncRefused(`no input file found in ${options.paths.join(', ')} (looked for ${[...SUPPORTED].join(', ')})`);

  const store = options.store ?? (await openStore(config.store, options.baseDir, options.clock ? { clock: options.clock } : {}));
  try {
    const problems = new InputProblems();
    const cancellations: Cancellation[] = [];
    const fileErrors: RecordError[] = [];
    let records = 0;
    const importer = await store.beginDesiredImport();
    try {
      let chunk: Array<{ desired: DesiredEvent; record: string }> = [];
      for (const [index, file] of files.entries()) {
        const origin = basename(file);
        const items =
          extname(file).toLowerCase() === '.csv'
            ? csvItems(file, origin, calendar)
            : readInputItems([file], {
                ...(calendar ? { icsCalendar: calendar } : {}),
                timeZone: config.timeZone,
                horizon: { fromMs: now - EXPANSION_PAST_MS, toMs: now + horizonDays * 86_400_000 },
                icsLimits: fileParseLimits(config.limits),
                onCancelled: (cancelled) => cancellations.push(cancelled),
              });
        for await (const item of items) {
          // An upsert removes nothing, so what a bad record would hold stays anyway.
          if (item.kind === 'held') continue;
          if (item.kind === 'error') {
            if (item.fileLevel) fileErrors.push(item.error);
            problems.reject(item.error);
            continue;
          }
          records++;
          const result = validateRecord(item.record.record, item.record.value);
          if (!result.ok) {
            result.errors.forEach((e) => problems.reject(e));
            continue;
          }
          const { desired } = result;
          if (allowed && !allowed.has(desired.event.calendar)) {
            problems.reject({
              record: item.record.record,
              id: desired.event.id,
              calendar: desired.event.calendar,
              field: 'calendar',
              message: calendar ? 'is not the calendar named with --calendar' : managed!.refusal(),
            });
            continue;
          }
          result.warnings.forEach((w) => problems.warn(w));
          chunk.push({ desired, record: item.record.record });
          if (chunk.length >= STAGE_CHUNK) {
            await importer.add(chunk);
            chunk = [];
            options.onRead?.({ files: files.length, filesDone: index, records });
          }
        }
        options.onRead?.({ files: files.length, filesDone: index + 1, records });
      }
      if (chunk.length) await importer.add(chunk);
      if (fileErrors.length) throw new SyncRefused(`nothing was imported: ${fileErrors.map((e) => `${e.record} ${e.message}`).join('; ')}`);
      // An upsert removes nothing, so retention has nothing to keep; the rule is given all the same.
      const finish: DesiredImportFinish = { calendars: [], refuseEmpty: false, upsertOnly: true, source: 'import', retention: retentionRule(config, now) };
      return await apply({ importer, finish, problems, files: files.length, records, store, cancellations, allowed });
    } finally {
      await importer.abort();
    }
  } finally {
    if (!options.store) await store.close();
  }
}

/** --errors: every rejected record, one JSON object a line. */
function writeErrors(path: string, errors: RecordError[]): void {
  writeFileSync(path, errors.map((e) => JSON.stringify(e)).join('\n') + (errors.length ? '\n' : ''));
}

/**
 * An event the files mark STATUS:CANCELLED is removed, as sync removes it (it is not in sync's complete input):
 * an upsert that kept it would leave a cancelled lecture in the calendar. A cancelled series removes its UID and
 * every occurrence UID@…. Applied after the upserts, so a cancellation wins over the same event given elsewhere.
 */
async function removeCancelled(store: Store, cancellations: Cancellation[], allowed: Set<string> | null): Promise<{ removed: number; calendars: string[] }> {
  const ops: Array<Extract<DesiredOp, { kind: 'remove' }>> = [];
  for (const { calendar, id, series } of cancellations) {
    if (allowed && !allowed.has(calendar)) continue;
    if (!series) {
      ops.push({ kind: 'remove', calendar, key: eventKey(calendar, id) });
      continue;
    }
    for (const row of await store.desiredFor(calendar)) {
      if (row.sourceId === id || row.sourceId.startsWith(`${id}@`)) ops.push({ kind: 'remove', calendar, key: row.key });
    }
  }
  if (!ops.length) return { removed: 0, calendars: [] };
  const outcomes = await store.applyDesiredOps(ops);
  const calendars = new Set(ops.filter((_, at) => outcomes[at] === 'removed').map((op) => op.calendar));
  return { removed: outcomes.filter((outcome) => outcome === 'removed').length, calendars: [...calendars] };
}

function readingBar(enabled: boolean) {
  if (!enabled || !process.stderr.isTTY) return { update: (_: { files: number; filesDone: number; records: number }) => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'reading    [{bar}] {value}/{total} files  {records} records', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: ({ files, filesDone, records }: { files: number; filesDone: number; records: number }) => {
      if (!started) {
        bar.start(files, filesDone, { records });
        started = true;
      } else bar.update(filesDone, { records });
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('add and change events from files or folders (JSON, NDJSON, CSV, .ics) without removing others, then deliver')
    .argument('<path...>', 'files, or folders whose .json/.ndjson/.jsonl/.csv/.ics files are read')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--calendar <mailbox>', 'the mailbox for .ics files and CSV files without a calendar column; records for other calendars are refused')
    .option('--horizon-days <n>', 'expand recurring .ics events this many days ahead', integerArgument('--horizon-days', 1, 3650), 400)
    .option('--no-deliver', 'only record the events (a running calpush serve delivers them)')
    .option('--dry-run', 'print what would be added and changed, and created or updated per mailbox; send no write request and record nothing')
    .option('--errors <file>', 'also write every rejected record to this file (NDJSON)')
    .option('--json', 'print the summary as JSON on stdout')
    .action(async (paths: string[], options: { config: string; calendar?: string; horizonDays: number; deliver: boolean; dryRun?: boolean; errors?: string; json?: boolean }) => {
      const reading = readingBar(!options.json);
      const bar = progressBar(!options.json);
      try {
        const { config, baseDir } = loadServeConfig(options.config);
        const importOptions: ImportOptions = {
          config,
          baseDir,
          paths,
          ...(options.calendar ? { calendar: options.calendar } : {}),
          horizonDays: options.horizonDays,
          deliver: options.deliver,
          onRead: reading.update,
          onProgress: (p) => {
            reading.stop();
            bar.update(p);
          },
        };
        if (options.dryRun) {
          const preview = await previewImport(importOptions);
          reading.stop();
          if (options.errors) writeErrors(options.errors, preview.input.errors);
          process.stdout.write(options.json ? `${JSON.stringify(preview, null, 2)}\n` : `${formatPreview(preview)}\n`);
          process.exitCode = exitCodeForPreview(preview);
          return;
        }
        const result = await runImport(importOptions);
        reading.stop();
        bar.stop();
        if (options.errors) writeErrors(options.errors, result.input.errors);
        if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else {
          process.stdout.write(`${formatSummary(result)}\n`);
          process.stdout.write(
            `Desired state: ${result.desired.added} added, ${result.desired.changed} changed, ${result.desired.unchanged} unchanged, ${result.desired.removed} removed (import removes only what the files mark cancelled).\n` +
              (options.deliver ? '' : 'Recorded only (--no-deliver): calpush serve, or the next sync or import, delivers it.\n'),
          );
          if (result.input.unreportedErrors) process.stdout.write(`… and ${result.input.unreportedErrors} more rejected records${options.errors ? ` (all in ${options.errors})` : ''}.\n`);
        }
        process.exitCode = exitCodeFor(result);
      } catch (error) {
        reading.stop();
        bar.stop();
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}
