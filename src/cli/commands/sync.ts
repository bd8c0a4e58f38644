// calpush sync: the main job. Exit status: 0 all delivered; 1 something was rejected or failed (see the summary);
// 2 the command, config or input could not be used at all; 3 stopped by a failure no mailbox can get past;
// 4 recorded, but another calpush process was still delivering a mailbox when --busy-wait ran out (it picks the
// change up; nothing is lost, but it was not confirmed delivered); 5 the store cannot be used (src/cli/failure.ts).
// With --dry-run: 0 the plan was printed; 1 records were rejected or a mailbox could not be listed; 2 as above;
// 3 listing stopped by a failure no mailbox can get past.
import type { Command } from 'commander';
import { integerArgument, numberArgument } from '../options.ts';
import { loadConfig } from '../../app/config.ts';
import { previewSync, runSync, type SyncPreview, type SyncResult } from '../../app/sync.ts';
import { EXIT, reportFailure } from '../failure.ts';
import { createLog, LOG_LEVELS } from '../log.ts';
import { formatPreview, formatSummary, progressBar } from '../summary.ts';

export { reportFailure } from '../failure.ts';

export function exitCodeFor(result: SyncResult): number {
  if (result.delivery.fatal) return result.delivery.fatal.source === 'store' ? EXIT.store : EXIT.stopped;
  if (result.input.rejected || result.delivery.totals.failed || result.delivery.totals.failedMailboxes) return 1;
  if (result.delivery.mailboxes.some((m) => m.status === 'busy')) return 4;
  return 0;
}

export function exitCodeForPreview(preview: SyncPreview): number {
  if (preview.plan.fatal) return EXIT.stopped;
  if (preview.input.rejected || preview.plan.totals.failedMailboxes) return 1;
  return 0;
}

export function registerSyncCommand(program: Command): void {
  program
    .command('sync')
    .description('record the input as the desired state of its calendars and deliver it')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .requiredOption('-i, --input <file...>', 'events: .json, .ndjson/.jsonl or .ics files ("-" for JSON/NDJSON on stdin)')
    .option('--calendar <mailbox...>', 'replace only these calendars (and the mailbox for .ics input)')
    .option('--allow-empty', 'accept an input without valid events even though it removes every event calpush manages')
    .option('--reinventory', 'list every mailbox for our tagged events again before planning')
    .option('--horizon-days <n>', 'expand recurring .ics events this many days ahead', integerArgument('--horizon-days', 1, 3650), 400)
    .option('--dry-run', 'print what would be created, updated and deleted per mailbox; send no write request and record nothing')
    .option('--busy-wait <seconds>', 'wait this long for a mailbox another calpush process is delivering, then deliver what is left; exit 4 if it is still busy', numberArgument('--busy-wait', 0, 86_400), 600)
    .option('--json', 'print the summary as JSON on stdout')
    .option('--log-level <level>', `structured JSON log on stderr: ${LOG_LEVELS.join(', ')} (default: none, or CALPUSH_LOG_LEVEL)`)
    .option('--log-file <file>', 'write the structured log to this file instead of stderr')
    .action(async (options: { config: string; input: string[]; calendar?: string[]; allowEmpty?: boolean; reinventory?: boolean; horizonDays: number; dryRun?: boolean; busyWait: number; json?: boolean; logLevel?: string; logFile?: string }) => {
      const bar = progressBar(!options.json && !(options.logLevel && !options.logFile));
      try {
        const log = createLog({ ...(options.logLevel ? { level: options.logLevel } : {}), ...(options.logFile ? { file: options.logFile } : {}) });
        const { config, baseDir } = loadConfig(options.config);
        const syncOptions = {
          config,
          baseDir,
          inputs: options.input,
          ...(options.calendar ? { calendars: options.calendar } : {}),
          allowEmpty: options.allowEmpty ?? false,
          reinventory: options.reinventory ?? false,
          horizonDays: options.horizonDays,
          busyWaitMs: Number.isFinite(options.busyWait) && options.busyWait > 0 ? options.busyWait * 1000 : 0,
          onProgress: bar.update,
          ...(log ? { log } : {}),
        };
        if (options.dryRun) {
          const preview = await previewSync(syncOptions);
          bar.stop();
          process.stdout.write(options.json ? `${JSON.stringify(preview, null, 2)}\n` : `${formatPreview(preview)}\n`);
          process.exitCode = exitCodeForPreview(preview);
          return;
        }
        const result = await runSync(syncOptions);
        bar.stop();
        if (options.json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
        else process.stdout.write(`${formatSummary(result)}\n`);
        process.exitCode = exitCodeFor(result);
      } catch (error) {
        bar.stop();
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}
