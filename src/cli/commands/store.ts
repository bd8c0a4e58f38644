// calpush store rotate-key: re-wraps every secret the store keeps (src/store/sealed.ts) under the first key of
// store.encryptionKeys. The rotation: make a new key, list it first with the old one after it, run this, then remove
// the old key from the config. Values stay readable all along: the old key opens what it sealed until it is re-wrapped.
import type { Command } from 'commander';
import { loadConfig } from '../../app/config.ts';
import { openStore } from '../../app/store.ts';
import { ConfigError } from '../../config/secrets.ts';
import { reportFailure } from '../failure.ts';

export function registerStoreCommand(program: Command): void {
  const store = program.command('store').description('look after the store');
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
        const opened = openStore(config, baseDir);
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
