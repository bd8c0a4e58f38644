// calpush status: what the store knows per mailbox — desired, delivered, pending work, last error.
import type { Command } from 'commander';
import { loadConfig } from '../../app/config.ts';
import { reportFailure } from '../failure.ts';
import { openStore } from '../../app/store.ts';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show per-mailbox delivery status from the local store (sends no request)')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--json', 'print as JSON')
    .action(async (options: { config: string; json?: boolean }) => {
      try {
        const { config, baseDir } = loadConfig(options.config);
        const store = openStore(config, baseDir);
        try {
          const rows = [];
          for (const calendar of await store.calendars()) {
            const mailbox = await store.mailbox(calendar);
            const pending = await store.pendingOps(calendar);
            rows.push({
              calendar,
              state: mailbox?.state ?? 'pending',
              desired: (await store.desiredFor(calendar)).length,
              delivered: (await store.deliveredFor(calendar)).length,
              pending: pending.length,
              failedEvents: pending.filter((op) => op.lastError).length,
              lastSyncAt: mailbox?.lastSyncAt ?? null,
              lastError: mailbox?.lastError ? `${mailbox.lastErrorCode}: ${mailbox.lastError}` : null,
            });
          }
          if (options.json) {
            process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
            return;
          }
          for (const row of rows) {
            process.stdout.write(
              `${row.calendar}  ${row.state}  desired ${row.desired}  delivered ${row.delivered}  pending ${row.pending}` +
                `${row.lastSyncAt ? `  last sync ${row.lastSyncAt}` : ''}${row.lastError ? `\n    last error: ${row.lastError}` : ''}\n`,
            );
          }
          if (!rows.length) process.stdout.write('the store has no mailboxes yet: run calpush sync\n');
        } finally {
          await store.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}
