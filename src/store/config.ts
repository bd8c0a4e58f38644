// The `store` section of the config, owned by the store; the assembled config (src/app/config.ts) includes it.
import { z } from 'zod';
import { secretReferenceSchema } from '../config/secrets.ts';

/**
 * The keys that seal the secrets the store keeps (src/store/sealed.ts): the first seals, all of them open. Each key is
 * 32 random bytes (base64 or hex) in a file or an environment variable — never in the store, never in the config.
 */
const encryptionKeysSchema = z
  .array(
    z
      .object({
        id: z.string().regex(/^[A-Za-z0-9_-]{1,32}$/, 'must be 1–32 letters, digits, dash or underscore (it is stored with every value the key seals)'),
        key: secretReferenceSchema,
      })
      .strict(),
  )
  .min(1, 'needs at least one key')
  .refine((keys) => new Set(keys.map((k) => k.id)).size === keys.length, 'each key needs its own id');

export const storeConfigSchema = z
  .object({ sqlite: z.string().default('.calpush/calpush.sqlite'), encryptionKeys: encryptionKeysSchema.optional() })
  .strict()
  .default({ sqlite: '.calpush/calpush.sqlite' });

export type StoreConfig = z.infer<typeof storeConfigSchema>;
