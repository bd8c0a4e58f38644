// calpush watch --once: one round of watching the delivered mailboxes for what people did to calpush's events, the
// drift policy applied, and what is to be restored delivered (docs/drift.md). calpush serve does this on its own every
// watch.intervalSeconds; this is the same round for cron and the command line. Exit 1 when a mailbox failed.
import type { Command } from 'commander';
import { loadConfig } from '../../app/config.ts';
import { openStore } from '../../app/store.ts';
import { runWatchOnce, type WatchOnceResult } from '../../app/watching.ts';
import { ConfigError } from '../../config/secrets.ts';
import { reportFailure } from '../failure.ts';

export function registerWatchCommand(program: Command): void {
  program
    .command('watch')
    .description('read what people changed in the delivered mailboxes, apply the drift policy and restore what it says to restore (docs/drift.md)')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--once', 'one round, then exit (the only mode: calpush serve watches continuously)')
    .option('--calendar <address...>', 'only these mailboxes')
    .option('--json', 'print the outcome as JSON')
    .action(async (options: { config: string; once?: boolean; calendar?: string[]; json?: boolean }) => {
      try {
        if (!options.once) throw new ConfigError('calpush watch runs one round with --once; calpush serve watches continuously (watch.intervalSeconds)');
        const { config, baseDir } = loadConfig(options.config);
        const store = await openStore(config.store, baseDir);
        try {
          const result = await runWatchOnce({ config, baseDir, store, ...(options.calendar ? { calendars: options.calendar } : {}) });
          process.stdout.write(options.json ? `${JSON.stringify(result, null, 2)}\n` : describe(result));
          const failed = result.watch.mailboxes.some((m) => m.status === 'failed') || (result.delivery?.mailboxes.some((m) => m.status === 'failed' || m.failed > 0) ?? false);
          if (failed) process.exitCode = 1;
        } finally {
          await store.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}

export function describe(result: WatchOnceResult): string {
  let text = '';
  for (const mailbox of result.watch.mailboxes) {
    const found = mailbox.drift.map((d) => `${d.kind} → ${d.policy}`);
    text += `${mailbox.calendar}: ${mailbox.status}${mailbox.reconciled ? ' (full listing due)' : ''}, ${mailbox.changes} change(s) read, ${found.length ? found.join(', ') : 'no drift'}\n`;
    if (mailbox.error) text += `  failed: ${mailbox.error.code}: ${mailbox.error.message}${mailbox.error.remedy ? `\n  fix: ${mailbox.error.remedy}` : ''}\n`;
  }
  if (!result.watch.mailboxes.length) text += 'no delivered mailbox to watch yet: run calpush sync\n';
  for (const mailbox of result.delivery?.mailboxes ?? []) {
    text += `${mailbox.calendar}: restored — created ${mailbox.created}, updated ${mailbox.updated}${mailbox.error ? `, failed: ${mailbox.error.code}` : ''}\n`;
  }
  return text;
}
