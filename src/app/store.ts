// The configured store: the SQLite file of `store.sqlite`, with the key-encryption keys of `store.encryptionKeys`
// read from their files or environment variables (never from the store). Every command opens its store here.
import { readSecret, resolvePath } from '../config/secrets.ts';
import type { Clock } from '../model/clock.ts';
import { Keyring, parseEncryptionKey } from '../store/sealed.ts';
import { SqliteStore } from '../store/sqlite.ts';
import type { Config } from './config.ts';

/** The keyring of `store.encryptionKeys`, or undefined when none is configured. */
export function storeKeyring(config: Pick<Config, 'store'>, baseDir: string): Keyring | undefined {
  const keys = config.store.encryptionKeys;
  if (!keys) return undefined;
  return new Keyring(keys.map(({ id, key }, index) => ({ id, key: parseEncryptionKey(readSecret(key, baseDir, `store.encryptionKeys[${index}].key`), `store.encryptionKeys[${index}].key ("${id}")`) })));
}

export function openStore(config: Pick<Config, 'store'>, baseDir: string, options: { clock?: Clock | undefined } = {}): SqliteStore {
  const keyring = storeKeyring(config, baseDir);
  return new SqliteStore(resolvePath(baseDir, config.store.sqlite), { ...(options.clock ? { clock: options.clock } : {}), ...(keyring ? { keyring } : {}) });
}
