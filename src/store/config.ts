// The `store` section of the config, owned by the store; the assembled config (src/app/config.ts) includes it.
// Either the embedded SQLite file, or a PostgreSQL database shared by several workers (docs/workers.md).
import { z } from 'zod';
import { ConfigError, fileReferenceSchema, readSecret, resolvePath, secretReferenceSchema } from '../config/secrets.ts';
import { readFileSync } from 'node:fs';
import type { PostgresStoreOptions } from './postgres.ts';

const DEFAULT_SQLITE = '.calpush/calpush.sqlite';

/**
 * The keys that seal the secrets the store keeps (src/store/sealed.ts): the first seals, all of them open. Each key is
 * 32 random bytes (base64 or hex) in a file or an environment variable — never in the store, never in the config.
 * Either store takes them (SQLite and PostgreSQL seal alike).
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
const sqliteStoreSchema = z.object({ sqlite: z.string().default(DEFAULT_SQLITE), encryptionKeys: encryptionKeysSchema.optional() }).strict();

/** A postgres:// URL written in the config may not carry a password: that belongs in an {env} or {file} reference. */
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL, or {"env": …} / {"file": …} holding one')
  .refine((url) => {
    try {
      return new URL(url).password === '';
    } catch {
      return false;
    }
  }, 'holds a password (or is not a URL): put a URL with a password in an environment variable or a file and refer to it ({"env": "CALPUSH_DATABASE_URL"}); secrets are never written in the config itself');

const postgresKeys = {
  postgres: z.union([postgresUrl, secretReferenceSchema]),
  /** The schema calpush keeps its tables in (created when missing); one per deployment sharing a database. */
  schema: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'must be lower-case letters, digits and underscores, starting with a letter')
    .default('calpush'),
  /** TLS to the server: the CA that signed its certificate, and a client certificate where the server asks for one. */
  ssl: z
    .union([
      z.literal(false),
      z
        .object({
          ca: fileReferenceSchema.optional(),
          certificate: fileReferenceSchema.optional(),
          privateKey: secretReferenceSchema.optional(),
          /** Off only for a test server: the connection is then open to a man in the middle. */
          rejectUnauthorized: z.boolean().default(true),
        })
        .strict(),
    ])
    .optional(),
  /** Connections each worker keeps to the database. */
  poolSize: z.number().int().min(2).max(100).default(10),
  encryptionKeys: encryptionKeysSchema.optional(),
};
const postgresStoreSchema = z.object(postgresKeys).strict();

/**
 * `{"sqlite": path}` or `{"postgres": url, …}`: told apart by their key first, so that a mistake is reported against
 * the store it is about (a union would only say that neither fits).
 */
export const storeConfigSchema = z
  .record(z.string(), z.unknown())
  .default({ sqlite: DEFAULT_SQLITE })
  .pipe(
    z.custom<Record<string, unknown>>().transform((section, ctx) => {
      const shape = 'postgres' in section ? postgresStoreSchema : sqliteStoreSchema;
      const parsed = shape.safeParse(section);
      if (parsed.success) return parsed.data as SqliteStoreConfig | PostgresStoreConfig;
      for (const issue of parsed.error.issues) ctx.addIssue({ code: 'custom', message: issue.message, path: issue.path });
      return z.NEVER;
    }),
  );

export type StoreConfig = SqliteStoreConfig | PostgresStoreConfig;
export type SqliteStoreConfig = z.infer<typeof sqliteStoreSchema>;
export type PostgresStoreConfig = z.infer<typeof postgresStoreSchema>;

/** The PostgreSQL store's connection as the section says, its secrets read (kept in memory only). */
export function postgresOptions(section: PostgresStoreConfig, baseDir: string): Omit<PostgresStoreOptions, 'clock'> {
  const url = typeof section.postgres === 'string' ? section.postgres : readSecret(section.postgres, baseDir, 'store.postgres');
  if (!/^postgres(ql)?:\/\//.test(url)) throw new ConfigError('store.postgres: the referenced value is not a postgres:// URL', 'write the whole URL there: postgres://user:password@host:5432/database');
  const file = (reference: { file: string }, what: string) => {
    try {
      return readFileSync(resolvePath(baseDir, reference.file), 'utf8');
    } catch (error) {
      throw new ConfigError(`${what}: cannot read ${reference.file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  };
  const { ssl } = section;
  return {
    url,
    schema: section.schema,
    poolSize: section.poolSize,
    ...(ssl === undefined
      ? {}
      : {
          ssl:
            ssl === false
              ? false
              : {
                  rejectUnauthorized: ssl.rejectUnauthorized,
                  ...(ssl.ca ? { ca: file(ssl.ca, 'store.ssl.ca') } : {}),
                  ...(ssl.certificate ? { cert: file(ssl.certificate, 'store.ssl.certificate') } : {}),
                  ...(ssl.privateKey ? { key: readSecret(ssl.privateKey, baseDir, 'store.ssl.privateKey') } : {}),
                },
        }),
  };
}
