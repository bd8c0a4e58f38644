// The configured store: the SQLite file or the PostgreSQL database the config's `store` section names, with the
// key-encryption keys of `store.encryptionKeys` read from their files or environment variables (never from the
// store). One place, for every command and `calpush serve`.
import { readSecret, resolvePath } from '../config/secrets.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { postgresOptions, type StoreConfig } from '../store/config.ts';
import { Keyring, parseEncryptionKey } from '../store/sealed.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Store } from '../store/store.ts';

/** The keyring of `store.encryptionKeys`, or undefined when none is configured. */
export function storeKeyring(section: StoreConfig, baseDir: string): Keyring | undefined {
  const keys = section.encryptionKeys;
  if (!keys) return undefined;
  return new Keyring(keys.map(({ id, key }, index) => ({ id, key: parseEncryptionKey(readSecret(key, baseDir, `store.encryptionKeys[${index}].key`), `store.encryptionKeys[${index}].key ("${id}")`) })));
}

/** Opens (and, when needed, creates and migrates) the store the config names. */
export async function openStore(section: StoreConfig, baseDir: string, options: { clock?: Clock | undefined } = {}): Promise<Store> {
  const clock = options.clock ?? systemClock;
  const keyring = storeKeyring(section, baseDir);
  if ('sqlite' in section) return new SqliteStore(resolvePath(baseDir, section.sqlite), { clock, ...(keyring ? { keyring } : {}) });
  // Loaded only when configured: a SQLite deployment never loads node-postgres.
  const { PostgresStore } = await import('../store/postgres.ts');
  return PostgresStore.open({ ...postgresOptions(section, baseDir), clock, ...(keyring ? { keyring } : {}) });
}
