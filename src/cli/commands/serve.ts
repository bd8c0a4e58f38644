// calpush serve: the push API, the delivery loop and the feed pollers, until SIGTERM/SIGINT.
// calpush feeds poll: fetch every configured feed once and record what it says (delivery is serve's or sync's).
import type { Command } from 'commander';
import { resolveProxy } from '../../config/proxy.ts';
import { loadServeConfig } from '../../app/settings.ts';
import { startServer } from '../../server/index.ts';
import { FeedPoller, feedUrls } from '../../sources/feeds.ts';
import { reportFailure } from '../failure.ts';
import { integerArgument } from '../options.ts';
import { namedMailboxes } from '../../app/mailboxes.ts';
import { openStore } from '../../app/store.ts';

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the push API (HTTP), deliver every change as it comes, and poll the configured iCalendar feeds')
    .requiredOption('-c, --config <file>', 'configuration file (JSON) with an optional "server" and "feeds" section')
    .option('--host <host>', 'interface to listen on (overrides server.host)')
    .option('--port <port>', 'port to listen on (overrides server.port; 0 = any free port)', integerArgument('--port', 0, 65535))
    .option('--no-feeds', 'do not poll the configured feeds')
    .option('--worker-id <id>', 'names this worker in mailbox leases (default host:pid:random, one per process); each worker sharing a store needs its own')
    .action(async (options: { config: string; host?: string; port?: number; feeds: boolean; workerId?: string }) => {
      try {
        const settings = loadServeConfig(options.config);
        if (options.host !== undefined) settings.server.host = options.host;
        if (options.port !== undefined) settings.server.port = options.port;
        const running = await startServer({ ...settings, log: true, pollFeeds: options.feeds, ...(options.workerId ? { workerId: options.workerId } : {}) });
        const dashboard = settings.server.dashboard.enabled ? `, dashboard at ${running.url}/` : '';
        process.stderr.write(`calpush serve: listening on ${running.url} (docs at ${running.url}/docs${dashboard})\n`);
        let signals = 0;
        const stop = (signal: NodeJS.Signals) => {
          if (++signals > 1) {
            process.stderr.write(`calpush serve: ${signal} again, exiting now\n`);
            process.exit(1);
          }
          process.stderr.write(`calpush serve: ${signal}, shutting down (deliveries get ${settings.server.shutdownGraceMs} ms to finish)\n`);
          running.close().then(
            () => {
              process.stderr.write('calpush serve: stopped\n');
              process.exitCode = 0;
              // Anything still holding the event loop open (keep-alive sockets of a client) must not keep us.
              setTimeout(() => process.exit(0), 1_000).unref();
            },
            (error: unknown) => {
              process.stderr.write(`calpush serve: shutdown failed: ${(error as Error).message}\n`);
              process.exit(1);
            },
          );
        };
        process.on('SIGTERM', stop);
        process.on('SIGINT', stop);
      } catch (error) {
        process.exitCode = reportFailure(error, false);
      }
    });
}

export function registerFeedsCommand(program: Command): void {
  const feeds = program.command('feeds').description('iCalendar feeds configured in the "feeds" section');
  feeds
    .command('poll')
    .description('fetch every feed once and record the desired state it gives (calpush serve or sync delivers it)')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--calendar <mailbox...>', 'only these calendars')
    .option('--json', 'print the results as JSON')
    .action(async (options: { config: string; calendar?: string[]; json?: boolean }) => {
      try {
        const { config, feeds: feedsConfig, baseDir } = loadServeConfig(options.config);
        // The mailboxes the config names by address (room lists are read by serve, not here).
        let urls = feedUrls(feedsConfig, namedMailboxes(config), baseDir);
        if (options.calendar) {
          const only = new Set(options.calendar.map((c) => c.toLowerCase()));
          urls = new Map([...urls].filter(([calendar]) => only.has(calendar)));
        }
        if (!feedsConfig || !urls.size) {
          process.stderr.write('calpush: no feeds are configured (the config\'s "feeds" section)\n');
          process.exitCode = 2;
          return;
        }
        const store = await openStore(config.store, baseDir);
        try {
          const proxy = resolveProxy([feedsConfig.proxy, config.proxy], baseDir, 'feeds.proxy');
          const results = await new FeedPoller({ store, feeds: feedsConfig, urls, timeZone: config.timeZone, retention: config.retention, proxy }).pollAll();
          if (options.json) process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
          else {
            for (const r of results) {
              process.stdout.write(
                `${r.calendar}  ${r.outcome}  events ${r.events}  +${r.added} ~${r.changed} -${r.removed}${r.kept ? `  kept ${r.kept} ended` : ''}${r.error ? `  ${r.error.code}: ${r.error.message}` : ''}\n`,
              );
              for (const e of r.errors.slice(0, 10)) process.stdout.write(`    ${e.record}: ${e.field} ${e.message}\n`);
              for (const w of r.warnings.slice(0, 10)) process.stdout.write(`    warning: ${w.record}: ${w.field} ${w.message}\n`);
            }
          }
          process.exitCode = results.some((r) => r.outcome === 'failed' || r.errors.length) ? 1 : 0;
        } finally {
          await store.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}
