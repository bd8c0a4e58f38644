// The `store` section of the config, owned by the store; the assembled config (src/app/config.ts) includes it.
import { z } from 'zod';

export const storeConfigSchema = z.object({ sqlite: z.string().default('.calpush/calpush.sqlite') }).strict().default({ sqlite: '.calpush/calpush.sqlite' });

export type StoreConfig = z.infer<typeof storeConfigSchema>;
