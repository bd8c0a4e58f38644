// calpush apikey create|list|revoke: the API keys of `calpush serve`. A key is printed once, when it is made;
// the store keeps only its SHA-256 (see src/server/auth.ts for why that is enough for a 256-bit random key).
import type { Command } from 'commander';
import { createApiKey } from '../../server/auth.ts';
import { loadServeConfig } from '../../app/settings.ts';
import { SqliteStore } from '../../store/sqlite.ts';
import type { ApiKeyScope } from '../../store/store.ts';
import { reportFailure } from '../failure.ts';
import { openStore } from '../../app/store.ts';

async function withStore<T>(configPath: string, work: (store: SqliteStore) => Promise<T>): Promise<T> {
  const { config, baseDir } = loadServeConfig(configPath);
  const store = openStore(config, baseDir);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

export function registerApikeyCommand(program: Command): void {
  const apikey = program.command('apikey').description('manage the API keys of the push API (calpush serve)');

  apikey
    .command('create')
    .description('make a key and print it once')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .requiredOption('--scope <scope>', 'read (GET only), write (also PUT, DELETE, batch), admin (write, plus the dashboard and its actions) or helpdesk (read, plus the dashboard without actions)')
    .option('--calendars <glob...>', 'limit the key to calendars matching these patterns (* and ?), e.g. "*@rooms.example.edu"')
    .option('--name <text>', 'what the key is for', '')
    .option('--json', 'print {id, key, scope, calendars} as JSON')
    .action(async (options: { config: string; scope: string; calendars?: string[]; name: string; json?: boolean }) => {
      try {
        if (!['read', 'write', 'admin', 'helpdesk'].includes(options.scope)) {
          process.stderr.write('calpush: --scope must be read, write, admin or helpdesk\n');
          process.exitCode = 2;
          return;
        }
        const calendars = options.calendars?.flatMap((c) => c.split(',')).map((c) => c.trim()).filter(Boolean);
        const { key, row } = await withStore(options.config, (store) =>
          createApiKey(store, { scope: options.scope as ApiKeyScope, ...(calendars?.length ? { calendars } : {}), name: options.name }),
        );
        if (options.json) {
          process.stdout.write(`${JSON.stringify({ id: row.id, key, scope: row.scope, calendars: row.calendars, name: row.name }, null, 2)}\n`);
          return;
        }
        process.stdout.write(`${key}\n`);
        process.stderr.write(
          `API key ${row.id}: scope ${row.scope}, calendars ${row.calendars ? row.calendars.join(', ') : 'all'}${row.name ? `, "${row.name}"` : ''}.\n` +
            'This is the only time it is shown: calpush keeps only its hash. Send it as "Authorization: Bearer <key>".\n',
        );
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });

  apikey
    .command('list')
    .description('list the keys (never the keys themselves)')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--json', 'print as JSON')
    .action(async (options: { config: string; json?: boolean }) => {
      try {
        const rows = await withStore(options.config, (store) => store.apiKeys());
        const shown = rows.map(({ hash: _hash, ...row }) => row);
        if (options.json) {
          process.stdout.write(`${JSON.stringify(shown, null, 2)}\n`);
          return;
        }
        if (!shown.length) process.stdout.write('no API keys yet: calpush apikey create -c <config> --scope write\n');
        for (const row of shown) {
          process.stdout.write(
            `${row.id}  ${row.scope.padEnd(8)}  ${row.revokedAt ? `REVOKED ${row.revokedAt}` : 'active'}  calendars ${row.calendars ? row.calendars.join(',') : 'all'}` +
              `  created ${row.createdAt}${row.lastUsedAt ? `  last used ${row.lastUsedAt}` : ''}${row.name ? `  "${row.name}"` : ''}\n`,
          );
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });

  apikey
    .command('revoke')
    .description('revoke a key at once (by its id, as list shows it)')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .argument('<id>', 'the key id (the 12 hex digits after cpk_), or the whole key')
    .action(async (id: string, options: { config: string }) => {
      try {
        const keyId = /^cpk_([0-9a-f]{12})_/.exec(id)?.[1] ?? id;
        const revoked = await withStore(options.config, (store) => store.revokeApiKey(keyId));
        if (!revoked) {
          process.stderr.write(`calpush: no active API key ${keyId}\n`);
          process.exitCode = 1;
          return;
        }
        process.stdout.write(`revoked ${keyId}\n`);
      } catch (error) {
        process.exitCode = reportFailure(error, false);
      }
    });
}
