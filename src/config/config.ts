// The configuration file (JSON), validated with zod. Secrets are never written in it: each is a reference to an
// environment variable or a file, resolved at start and kept in memory only.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, readSecret, resolvePath } from './secrets.ts';

export { ConfigError, readSecret, resolvePath };
import { findWindows } from 'windows-iana';
import { z } from 'zod';
import { DEFAULT_RETENTION, type RetentionRule } from '../model/retention.ts';
import { canonicalTimeZone } from '../model/time.ts';
import type { GraphCredential } from '../targets/graph/auth.ts';
import { ewsTargetSchema } from '../targets/ews/schema.ts';
import { caldavTargetSchema } from '../targets/caldav/schema.ts';
import { maxResponseBytesSchema } from '../targets/answer-limits.ts';
import { serverConfigSchema } from '../server/config.ts';
import { feedsConfigSchema } from '../sources/feeds.ts';
import { DEFAULT_PARSE_LIMITS } from '../sources/parse-pool.ts';

const secretReference = z.union(
  [
    z.object({ env: z.string().min(1) }).strict(),
    z.object({ file: z.string().min(1) }).strict(),
  ],
  { error: 'must be {"env": "VARIABLE"} or {"file": "path"}: secrets are never written in the config itself' },
);

const fileReference = z.object({ file: z.string().min(1) }).strict();

const graphTargetSchema = z
  .object({
    kind: z.literal('graph'),
    tenantId: z.string().min(1, 'is required: the directory (tenant) id of the Microsoft 365 tenant'),
    clientId: z.string().min(1, 'is required: the application (client) id of the app registration'),
    credential: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('secret'), secret: secretReference }).strict(),
      z
        .object({
          kind: z.literal('certificate'),
          privateKey: secretReference,
          certificate: fileReference.optional(),
          thumbprintSha256: z
            .string()
            .regex(/^[0-9A-Fa-f:\s]{64,95}$/, 'must be the SHA-256 thumbprint in hex')
            .optional(),
        })
        .strict(),
    ]),
    authorityHost: z.url().default('https://login.microsoftonline.com'),
    graphBaseUrl: z.url().default('https://graph.microsoft.com/v1.0'),
    scope: z.string().default('https://graph.microsoft.com/.default'),
    /** Extra CA to trust (PEM): an inspecting proxy's, or the sandbox's tls-cert.pem. */
    caFile: z.string().optional(),
    requestTimeoutMs: z.number().int().positive().default(60_000),
    /** Largest answer body accepted from Graph and the token endpoint's host (src/targets/answer-limits.ts). */
    maxResponseBytes: maxResponseBytesSchema,
    /**
     * JSON $batch: "chain" (dependsOn, one request at a time per batch: 4 batches of 20 in flight per mailbox),
     * "parallel" (Outlook runs up to 4 items of one batch at once), "auto" (the default: chains while few
     * mailboxes share the global request slots, parallel batches when many do; docs/benchmarks.md measures both),
     * or "off" (one HTTP request per event).
     */
    batch: z.enum(['auto', 'chain', 'parallel', 'off']).default('auto'),
  })
  .strict();

export const configSchema = z
  .object({
    /** Names this deployment in the tag of every event it writes; two deployments never touch each other's events. */
    instance: z
      .string()
      .regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be 1–64 letters, digits, dot, dash or underscore')
      .default('default'),
    store: z.object({ sqlite: z.string().default('.calpush/calpush.sqlite') }).strict().default({ sqlite: '.calpush/calpush.sqlite' }),
    /** Zone for all-day events and for floating times in .ics input. */
    timeZone: z.string().default('UTC'),
    target: z.discriminatedUnion('kind', [graphTargetSchema, ewsTargetSchema, caldavTargetSchema]),
    /**
     * The calendars this deployment manages. When given, the input is the complete desired state for each of
     * them (an empty set removes our events) and records for other calendars are refused.
     */
    mailboxes: z.array(z.string().email()).optional(),
    /** The HTTP push API of `calpush serve` (docs/api.md). */
    server: serverConfigSchema.optional(),
    /** Per-calendar iCalendar feeds polled by `calpush serve` (docs/api.md). */
    feeds: feedsConfigSchema.optional(),
    /**
     * What a full replacement (sync, a feed, the API's PUT of a calendar's events) does with an event that has ended
     * and is no longer in the input: keep it (the default: sources forget the past, students should not), or
     * remove it once it ended more than `afterDays` days ago (src/model/retention.ts).
     */
    retention: z
      .discriminatedUnion(
        'past',
        [
          z.object({ past: z.literal('keep') }).strict(),
          z.object({ past: z.literal('prune'), afterDays: z.number({ error: 'is required with "prune": days after its end that an ended event absent from the input is removed' }).int().min(0).max(36_500) }).strict(),
        ],
        { error: 'must be {"past": "keep"} or {"past": "prune", "afterDays": N}' },
      )
      .default(DEFAULT_RETENTION),
    limits: z
      .object({
        mailboxConcurrency: z.number().int().min(1).max(4, 'Outlook allows at most 4 concurrent requests per app per mailbox').default(4),
        requestsPerTenMinutes: z.number().int().min(1).max(10_000, 'Outlook allows at most 10,000 requests per 10 minutes per app per mailbox').default(10_000),
        globalConcurrency: z.number().int().min(1).max(1024).default(64),
        parallelMailboxes: z.number().int().min(1).max(10_000).default(256),
        maxAttempts: z.number().int().min(1).max(50).default(8),
        /** An .ics file (sync, import) larger than this is refused before it is parsed. */
        icsMaxBytes: z.number().int().min(1024).max(1024 * 1024 * 1024).default(DEFAULT_PARSE_LIMITS.maxBytes),
        /** Events (single events and occurrences in the horizon) one .ics file may produce; more: refused. */
        icsMaxEvents: z.number().int().min(1).max(10_000_000).default(DEFAULT_PARSE_LIMITS.maxEvents),
        /** Seconds the parse of one .ics file may take (in a worker thread, stopped at this limit). */
        icsParseTimeoutSeconds: z.number().int().min(1).max(3_600).default(DEFAULT_PARSE_LIMITS.timeoutMs / 1000),
      })
      .strict()
      .default({
        mailboxConcurrency: 4,
        requestsPerTenMinutes: 10_000,
        globalConcurrency: 64,
        parallelMailboxes: 256,
        maxAttempts: 8,
        icsMaxBytes: DEFAULT_PARSE_LIMITS.maxBytes,
        icsMaxEvents: DEFAULT_PARSE_LIMITS.maxEvents,
        icsParseTimeoutSeconds: DEFAULT_PARSE_LIMITS.timeoutMs / 1000,
      }),
  })
  .strict()
  .superRefine((config, ctx) => {
    const zone = canonicalTimeZone(config.timeZone);
    if (!zone) ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `"${config.timeZone}" is not a known IANA time zone` });
    else if (!findWindows(zone)?.length) {
      ctx.addIssue({ code: 'custom', path: ['timeZone'], message: `"${config.timeZone}" has no Windows equivalent, so all-day events cannot be anchored in it` });
    }
  });

export type Config = z.infer<typeof configSchema>;

/** The config's retention setting at the moment `nowMs` (a full replacement's rule; src/model/retention.ts). */
export function retentionRule(config: Pick<Config, 'retention' | 'timeZone'>, nowMs: number): RetentionRule {
  return { retention: config.retention, nowMs, allDayTimeZone: config.timeZone };
}
export type GraphTargetConfig = z.infer<typeof graphTargetSchema>;

/** The config's Graph target, or a ConfigError naming the kind that is there instead. */
export function graphTarget(config: Config): GraphTargetConfig {
  if (config.target.kind !== 'graph') throw new ConfigError(`target.kind is "${config.target.kind}"; this needs a Microsoft Graph target ("graph")`);
  return config.target;
}

export interface LoadedConfig {
  config: Config;
  /** Directory relative paths in the config are resolved against. */
  baseDir: string;
  path: string;
}

export function loadConfig(path: string): LoadedConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config ${path}: ${(error as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`config ${path} is not valid JSON: ${(error as Error).message}`);
  }
  return { config: parseConfig(raw, path), baseDir: dirname(resolve(path)), path };
}

export function parseConfig(raw: unknown, origin = 'config'): Config {
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `  ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    throw new ConfigError(`${origin} is invalid:\n${lines.join('\n')}`);
  }
  return parsed.data;
}


/** Resolves the credential's references. The result holds secrets: keep it out of logs. */
export function resolveGraphCredential(config: Config, baseDir: string): GraphCredential {
  const credential = graphTarget(config).credential;
  if (credential.kind === 'secret') return { kind: 'secret', secret: readSecret(credential.secret, baseDir, 'target.credential.secret') };
  const privateKeyPem = readSecret(credential.privateKey, baseDir, 'target.credential.privateKey');
  if (!/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(privateKeyPem)) {
    throw new ConfigError('target.credential.privateKey: the file is not a PEM private key (-----BEGIN PRIVATE KEY-----); convert a PFX with: openssl pkcs12 -in cert.pfx -nocerts -nodes -out key.pem');
  }
  let certificatePem: string | undefined;
  if (credential.certificate) {
    const path = resolvePath(baseDir, credential.certificate.file);
    try {
      certificatePem = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`target.credential.certificate: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (!certificatePem && !credential.thumbprintSha256) {
    throw new ConfigError('target.credential: a certificate credential needs "certificate": {"file": "cert.pem"} or "thumbprintSha256"');
  }
  return {
    kind: 'certificate',
    privateKeyPem,
    ...(certificatePem ? { certificatePem } : {}),
    ...(credential.thumbprintSha256 ? { thumbprintSha256: credential.thumbprintSha256 } : {}),
  };
}

export function readCa(config: Config, baseDir: string): string | undefined {
  if (!config.target.caFile) return undefined;
  const path = resolvePath(baseDir, config.target.caFile);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`target.caFile: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
