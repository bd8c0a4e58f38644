// The configured store: the SQLite file or the PostgreSQL database the config's `store` section names (one place,
// for every command and `calpush serve`).
import { resolvePath } from '../config/secrets.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { postgresOptions, type StoreConfig } from '../store/config.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';

/** Opens (and, when needed, creates and migrates) the store the config names. */
export async function openStore(section: StoreConfig, baseDir: string, options: { clock?: Clock } = {}): Promise<Store> {
  const clock = options.clock ?? systemClock;
  if ('sqlite' in section) return new SqliteStore(resolvePath(baseDir, section.sqlite), { clock });
  // Loaded only when configured: a SQLite deployment never loads node-postgres.
  const { PostgresStore } = await import('../store/postgres.ts');
  return PostgresStore.open({ ...postgresOptions(section, baseDir), clock });
}
