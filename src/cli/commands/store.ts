// calpush store migrate: brings the configured store's schema to this calpush's version (SQLite or PostgreSQL).
// calpush store copy: everything a store holds into another, e.g. from one machine's SQLite file to the PostgreSQL
// database several workers share (src/store/copy.ts says what is copied and why it may run again).
// calpush store rotate-key: re-wraps every secret the store keeps (src/store/sealed.ts) under the first key of
// store.encryptionKeys. The rotation: make a new key, list it first with the old one after it, run this, then remove
// the old key from the config. Values stay readable all along: the old key opens what it sealed until it is re-wrapped.
import { closeSync, openSync, readSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { loadConfig } from '../../app/config.ts';
import { openStore } from '../../app/store.ts';
import { copyStore, type StoreTables } from '../../store/copy.ts';
import { SqliteStore } from '../../store/sqlite.ts';
import type { Store } from '../../store/store.ts';
import { ConfigError } from '../../config/secrets.ts';
import { CalpushError } from '../../model/errors.ts';
import { EXIT, reportFailure } from '../failure.ts';

/** A config file's store, or a store file itself (an SQLite database: `--from .calpush/calpush.sqlite`). */
async function openNamed(path: string): Promise<Store & StoreTables> {
  if (isSqliteFile(path)) return new SqliteStore(resolve(path));
  const { config, baseDir } = loadConfig(path);
  return (await openStore(config.store, baseDir)) as Store & StoreTables;
}

/** Whether the file begins with SQLite's header (https://www.sqlite.org/fileformat.html#the_database_header). */
function isSqliteFile(path: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const header = Buffer.alloc(16);
    return readSync(fd, header, 0, 16, 0) === 16 && header.toString('latin1') === 'SQLite format 3\0';
  } finally {
    closeSync(fd);
  }
}

function describe(store: Store): string {
  return store instanceof SqliteStore ? `SQLite ${store.path}` : `PostgreSQL ${(store as unknown as { server: string }).server}`;
}

export function registerStoreCommand(program: Command): void {
  const store = program.command('store').description('the store: migrate its schema, copy it to another store, rotate its encryption key');

  store
    .command('migrate')
    .description("bring the configured store's schema to this calpush's version (every command does this when it opens the store; run it once before starting new workers)")
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--json', 'print {kind, version} as JSON')
    .action(async (options: { config: string; json?: boolean }) => {
      try {
        const { config, baseDir } = loadConfig(options.config);
        const opened = await openStore(config.store, baseDir);
        try {
          const version = await (opened as unknown as { schemaVersion(): number | Promise<number> }).schemaVersion();
          if (options.json) process.stdout.write(`${JSON.stringify({ kind: opened.kind, version })}\n`);
          else process.stdout.write(`${describe(opened)}: schema version ${version} (current)\n`);
        } finally {
          await opened.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });

  store
    .command('copy')
    .description('copy everything a store holds (desired, delivered, pending, mailbox status and targets, route lookups, API keys, feed state, connections, alert state; not leases or the request ledger) into another; safe to run again')
    .requiredOption('--from <config or file>', 'the store to copy: a config file, or an SQLite store file')
    .requiredOption('--to <config>', 'the config whose store receives it (e.g. one with store.postgres)')
    .option('--json', 'print the counts per table as JSON')
    .action(async (options: { from: string; to: string; json?: boolean }) => {
      try {
        const from = await openNamed(options.from);
        try {
          const to = await openNamed(options.to);
          try {
            if (describe(from) === describe(to)) throw new CalpushError('StoreCopySame', `--from and --to name the same store (${describe(from)})`, { remedy: 'give --to the config of the new store' });
            if (!options.json) process.stderr.write(`calpush store copy: ${describe(from)} → ${describe(to)}\n`);
            const counts = await copyStore(from, to, (table, rows) => {
              if (!options.json && process.stderr.isTTY) process.stderr.write(`\r  ${table}: ${rows}`);
            });
            const differing = counts.filter((c) => c.source !== c.target);
            if (options.json) process.stdout.write(`${JSON.stringify({ from: describe(from), to: describe(to), tables: counts, verified: !differing.length }, null, 2)}\n`);
            else {
              if (process.stderr.isTTY) process.stderr.write('\n');
              for (const c of counts) process.stdout.write(`${c.table}: ${c.source} copied, ${c.target} in the target${c.source === c.target ? '' : '  ← differs'}\n`);
              process.stdout.write(differing.length ? 'the counts differ: the target held rows the source does not (see above)\n' : 'verified: every table holds as many rows as in the source\n');
            }
            process.exitCode = differing.length ? EXIT.failed : EXIT.ok;
          } finally {
            await to.close();
          }
        } finally {
          await from.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });

  store
    .command('rotate-key')
    .description('re-wrap every secret in the store under the first key of store.encryptionKeys')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--json', 'print {keyId, rewrapped, current} as JSON')
    .action(async (options: { config: string; json?: boolean }) => {
      try {
        const { config, baseDir } = loadConfig(options.config);
        if (!config.store.encryptionKeys) {
          throw new ConfigError('store.encryptionKeys is not set: there is no key to rotate to', 'add the new key first: "encryptionKeys": [{"id": "k2", "key": {"file": "k2.key"}}, {"id": "k1", "key": {"file": "k1.key"}}]');
        }
        const opened = await openStore(config.store, baseDir);
        try {
          const result = await opened.rotateEncryptionKey();
          if (options.json) process.stdout.write(`${JSON.stringify(result)}\n`);
          else {
            process.stdout.write(`Re-wrapped ${result.rewrapped} secret(s) under key "${result.keyId}" (${result.current} already were).\n`);
            const others = config.store.encryptionKeys.slice(1).map((k) => `"${k.id}"`);
            if (others.length) process.stdout.write(`Nothing in the store needs ${others.join(', ')} any more: remove ${others.length === 1 ? 'it' : 'them'} from store.encryptionKeys.\n`);
          }
        } finally {
          await opened.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}
