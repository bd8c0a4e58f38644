// The `target` section of the config file for Exchange Web Services, and the target built from it.
//
// Secrets follow the rule of the rest of the config (src/config/config.ts): a password, secret, private key or
// token is never written in the config, only a reference to an environment variable or a file, resolved at start
// and kept in memory.
//
//   "target": {
//     "kind": "ews",
//     "url": "https://mail.example.edu/EWS/Exchange.asmx",
//     "serverVersion": "Exchange2016",
//     "access": "delegate",
//     "auth": "ntlm",
//     "accounts": [
//       { "username": "EXAMPLE\\svc-calpush1", "password": { "env": "EWS_PW_1" } },
//       { "username": "EXAMPLE\\svc-calpush2", "password": { "file": "svc2.pw" } }
//     ],
//     "caFile": "example-root-ca.pem"
//   }
import { readFileSync, statSync } from 'node:fs';
import { ConfigError, readSecret, resolvePath } from '../../config/secrets.ts';
import { z } from 'zod';
import { GraphTokenProvider, type GraphCredential } from '../graph/auth.ts';
import { HttpClient } from '../http.ts';
import { TargetError } from '../target.ts';
import { SERVER_VERSIONS } from './requests.ts';
import { EwsTarget, EWS_DEFAULT_ACCOUNT_CONCURRENCY, EWS_DEFAULT_BATCH, EWS_DEFAULT_PAGE, type EwsTargetOptions } from './target.ts';

const secretReference = z.union([z.object({ env: z.string().min(1) }).strict(), z.object({ file: z.string().min(1) }).strict()], {
  error: 'must be {"env": "VARIABLE"} or {"file": "path"}: secrets are never written in the config itself',
});

const accountSchema = z
  .object({
    /** "DOMAIN\\user", a UPN ("svc@example.edu") or a bare name with `domain`. */
    username: z
      .string({ error: 'is required: the service account’s logon name (DOMAIN\\user or user@upn)' })
      .trim()
      .min(1, 'is required: the service account’s logon name (DOMAIN\\user or user@upn)')
      .max(256)
      .refine((value) => !value.includes(':'), 'must not contain ":" (Basic authentication cannot carry it)'),
    password: secretReference,
    /** NetBIOS domain, when `username` does not name it. */
    domain: z.string().trim().min(1).max(256).optional(),
    /** Share of the mailboxes this account serves (rendezvous weight). */
    weight: z.number().positive().max(1000).optional(),
    /** Requests in flight for this account (its throttling policy's EWSMaxConcurrency, minus headroom). */
    concurrency: z.number().int().min(1).max(100).optional(),
  })
  .strict();

const appCredential = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('secret'), secret: secretReference }).strict(),
  z
    .object({
      kind: z.literal('certificate'),
      privateKey: secretReference,
      certificate: z.object({ file: z.string().min(1) }).strict().optional(),
      thumbprintSha256: z.string().regex(/^[0-9A-Fa-f:\s]{64,95}$/, 'must be the SHA-256 thumbprint in hex').optional(),
    })
    .strict(),
]);

const oauthSchema = z.union(
  [
    /** A token someone else keeps fresh (re-read from the file when it changes). */
    z.object({ token: secretReference }).strict(),
    /** App-only client credentials (Exchange Online: full_access_as_app / "Application EWS.AccessAsApp"). */
    z
      .object({
        tenantId: z.string().min(1, 'is required: the directory (tenant) id'),
        clientId: z.string().min(1, 'is required: the application (client) id'),
        credential: appCredential,
        authorityHost: z.url().default('https://login.microsoftonline.com'),
        scope: z.string().default('https://outlook.office365.com/.default'),
      })
      .strict(),
  ],
  { error: 'must be {"token": {"file"|"env": …}} or {"tenantId", "clientId", "credential"} (app-only client credentials)' },
);

export const ewsTargetSchema = z
  .object({
    kind: z.literal('ews'),
    /** The EWS endpoint: https://<server>/EWS/Exchange.asmx */
    url: z.string({ error: 'is required: the EWS endpoint, like https://mail.example.edu/EWS/Exchange.asmx' }).trim(),
    /** RequestServerVersion; time zones are sent the Exchange 2010+ way (StartTimeZone/EndTimeZone). */
    serverVersion: z.enum(SERVER_VERSIONS, { error: `must be one of ${SERVER_VERSIONS.join(', ')}` }).default('Exchange2013'),
    access: z.enum(['delegate', 'impersonation'], { error: 'must be "delegate" (folder permissions) or "impersonation" (ApplicationImpersonation)' }),
    auth: z.enum(['ntlm', 'basic', 'oauth'], { error: 'must be "ntlm", "basic" or "oauth"' }),
    accounts: z.array(accountSchema).max(1000).optional(),
    oauth: oauthSchema.optional(),
    /** Extra CA to trust (PEM), e.g. the organisation's root CA. */
    caFile: z.string().min(1).optional(),
    /** Allow an http:// URL (credentials and calendars unencrypted): a lab only. */
    allowInsecureHttp: z.boolean().default(false),
    /** Items per CreateItem / UpdateItem / DeleteItem; 1 = one item per request. */
    batchSize: z.number().int().min(1).max(100).default(EWS_DEFAULT_BATCH),
    /** Items per FindItem page when listing our events (Exchange's default EWSFindCountLimit is 1000). */
    pageSize: z.number().int().min(1).max(1000).default(EWS_DEFAULT_PAGE),
    deleteType: z.enum(['HardDelete', 'SoftDelete', 'MoveToDeletedItems']).default('HardDelete'),
    /** Requests in flight per service account (Exchange's EWSMaxConcurrency: 10 on 2010, 27 on 2013+). */
    accountConcurrency: z.number().int().min(1).max(100).default(EWS_DEFAULT_ACCOUNT_CONCURRENCY),
    /** Optional client-side budget per service account, in items per minute (a CreateItem of 20 counts 20). */
    accountItemsPerMinute: z.number().int().min(1).max(10_000_000).optional(),
    /** ErrorServerBusy answers to one request that calpush waits out itself before counting a failed attempt. */
    busyRetries: z.number().int().min(0).max(20).default(3),
    requestTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
    /** NTLM workstation name sent in the handshake (default: this host's name). */
    workstation: z.string().regex(/^[A-Za-z0-9._-]{1,15}$/, 'must be a NetBIOS-style name of 1–15 letters, digits, dot, dash or underscore').optional(),
  })
  .strict()
  .superRefine((target, ctx) => {
    let url: URL | null = null;
    try {
      url = new URL(target.url);
    } catch {
      ctx.addIssue({ code: 'custom', path: ['url'], message: `"${target.url}" is not a URL: give the EWS endpoint, like https://mail.example.edu/EWS/Exchange.asmx` });
    }
    if (url) {
      if (url.protocol !== 'https:' && url.protocol !== 'http:') {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'must be an https:// URL' });
      } else if (url.protocol === 'http:' && !target.allowInsecureHttp) {
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message: `is plain http: ${target.auth === 'basic' ? 'Basic authentication would send the password' : 'credentials and calendars would travel'} unencrypted. Use https (or set allowInsecureHttp for a lab)`,
        });
      }
      if (url.username || url.password) ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not carry a user name or password: credentials go in "accounts", as references' });
      if (url.search || url.hash) ctx.addIssue({ code: 'custom', path: ['url'], message: 'must not have a query or fragment' });
      if (!/\/ews\/exchange\.asmx$/i.test(url.pathname)) {
        ctx.addIssue({ code: 'custom', path: ['url'], message: `must be the EWS endpoint ending in /EWS/Exchange.asmx (got path "${url.pathname}"), like https://mail.example.edu/EWS/Exchange.asmx` });
      }
    }
    if (target.auth === 'oauth') {
      if (!target.oauth) ctx.addIssue({ code: 'custom', path: ['oauth'], message: 'is required with auth "oauth": {"token": {"file": …}} or app-only client credentials' });
      if (target.accounts?.length) ctx.addIssue({ code: 'custom', path: ['accounts'], message: 'are for auth "ntlm" or "basic"; with "oauth" the app (or token) is the one account' });
      if (target.oauth && 'clientId' in target.oauth && target.access !== 'impersonation') {
        ctx.addIssue({ code: 'custom', path: ['access'], message: 'must be "impersonation" with app-only OAuth: an app has no mailbox of its own, it acts as each mailbox (ExchangeImpersonation)' });
      }
    } else {
      if (!target.accounts || target.accounts.length === 0) {
        ctx.addIssue({ code: 'custom', path: ['accounts'], message: `needs at least one service account for auth "${target.auth}": [{"username": "DOMAIN\\\\svc", "password": {"env": "…"}}]` });
      }
      if (target.oauth) ctx.addIssue({ code: 'custom', path: ['oauth'], message: 'is only used with auth "oauth"' });
    }
    const seen = new Map<string, number>();
    target.accounts?.forEach((account, index) => {
      const key = `${account.domain ?? ''}\\${account.username}`.toLowerCase();
      const first = seen.get(key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['accounts', index, 'username'], message: `repeats accounts.${first}: each service account once` });
      else seen.set(key, index);
      if (account.domain && /[\\@]/.test(account.username)) {
        ctx.addIssue({ code: 'custom', path: ['accounts', index, 'domain'], message: 'is given twice: the username already names the domain (DOMAIN\\user or user@upn)' });
      }
    });
    if (target.deleteType === 'MoveToDeletedItems' && target.access === 'delegate') {
      ctx.addIssue({
        code: 'custom',
        path: ['deleteType'],
        message: 'MoveToDeletedItems does not work for a delegate (Exchange answers ErrorCannotDeleteObject): use HardDelete or SoftDelete',
      });
    }
  });

export type EwsTargetConfig = z.infer<typeof ewsTargetSchema>;
export type SecretReference = { env: string } | { file: string };

/** A config that cannot be used (a secret that cannot be read). Named like src/config/config.ts's ConfigError. */
/** Config errors of the EWS section are the config's errors (the CLI reports them the same way). */
export { ConfigError as EwsConfigError };


/** The config's secret reader (a reference to an environment variable or a file). */
export const readSecretReference: (reference: SecretReference, baseDir: string, what: string) => string = readSecret;

function readFile(baseDir: string, file: string, what: string): string {
  const path = resolvePath(baseDir, file);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export interface CreateEwsTargetContext {
  instance: string;
  /** Directory relative paths (secret files, caFile) are resolved against: the config file's. */
  baseDir: string;
  /** The config's timeZone: all-day events run midnight to midnight there. */
  allDayTimeZone: string;
  /** Replaces the secret reader (e.g. the config module's own, to raise its ConfigError). */
  readSecret?: (reference: SecretReference, baseDir: string, what: string) => string;
  log?: (message: string) => void;
}

/**
 * A token from a file someone else keeps fresh: read again whenever the file changes (checked at most once a
 * second); from an environment variable: as it was at start.
 */
function tokenFromReference(reference: SecretReference, context: CreateEwsTargetContext, readSecret: NonNullable<CreateEwsTargetContext['readSecret']>): () => Promise<string> {
  if ('env' in reference) {
    const token = readSecret(reference, context.baseDir, 'target.oauth.token');
    return async () => token;
  }
  const path = resolvePath(context.baseDir, reference.file);
  let cached = readSecret(reference, context.baseDir, 'target.oauth.token');
  let stamp = statSync(path).mtimeMs;
  let checkedAt = Date.now();
  return async () => {
    if (Date.now() - checkedAt > 1000) {
      checkedAt = Date.now();
      try {
        const mtime = statSync(path).mtimeMs;
        if (mtime !== stamp) {
          cached = readSecret(reference, context.baseDir, 'target.oauth.token');
          stamp = mtime;
        }
      } catch (error) {
        throw new TargetError('fatal', 'TokenFileUnreadable', `target.oauth.token: ${(error as Error).message}`, { remedy: 'the token file must stay readable while calpush runs' });
      }
    }
    return cached;
  };
}

/** Resolves the references of a parsed `target` section and builds the target. The result holds secrets. */
export function createEwsTarget(parsed: EwsTargetConfig, context: CreateEwsTargetContext): EwsTarget {
  const readSecret = context.readSecret ?? readSecretReference;
  const caPem = parsed.caFile ? readFile(context.baseDir, parsed.caFile, 'target.caFile') : undefined;
  const options: EwsTargetOptions = {
    instance: context.instance,
    url: parsed.url,
    serverVersion: parsed.serverVersion,
    access: parsed.access,
    auth: parsed.auth,
    ...(caPem ? { caPem } : {}),
    allowInsecureHttp: parsed.allowInsecureHttp,
    allDayTimeZone: context.allDayTimeZone,
    batchSize: parsed.batchSize,
    pageSize: parsed.pageSize,
    deleteType: parsed.deleteType,
    accountConcurrency: parsed.accountConcurrency,
    ...(parsed.accountItemsPerMinute ? { accountItemsPerMinute: parsed.accountItemsPerMinute } : {}),
    busyRetries: parsed.busyRetries,
    requestTimeoutMs: parsed.requestTimeoutMs,
    ...(parsed.workstation ? { workstation: parsed.workstation } : {}),
    ...(context.log ? { log: context.log } : {}),
  };
  if (parsed.auth === 'oauth') {
    const oauth = parsed.oauth!;
    if ('token' in oauth) {
      options.oauth = { name: 'oauth-token', token: tokenFromReference(oauth.token, context, readSecret) };
    } else {
      const credential: GraphCredential =
        oauth.credential.kind === 'secret'
          ? { kind: 'secret', secret: readSecret(oauth.credential.secret, context.baseDir, 'target.oauth.credential.secret') }
          : {
              kind: 'certificate',
              privateKeyPem: readSecret(oauth.credential.privateKey, context.baseDir, 'target.oauth.credential.privateKey'),
              ...(oauth.credential.certificate ? { certificatePem: readFile(context.baseDir, oauth.credential.certificate.file, 'target.oauth.credential.certificate') } : {}),
              ...(oauth.credential.thumbprintSha256 ? { thumbprintSha256: oauth.credential.thumbprintSha256 } : {}),
            };
      if (credential.kind === 'certificate' && !credential.certificatePem && !credential.thumbprintSha256) {
        throw new ConfigError('target.oauth.credential: a certificate credential needs "certificate": {"file": "cert.pem"} or "thumbprintSha256"');
      }
      // The Graph target's msal-node client-credentials provider, with the EWS resource's scope.
      const tokens = new GraphTokenProvider(
        { tenantId: oauth.tenantId, clientId: oauth.clientId, credential, authorityHost: oauth.authorityHost, scope: oauth.scope },
        new HttpClient({ ...(caPem ? { caPem } : {}), timeoutMs: parsed.requestTimeoutMs }),
      );
      options.oauth = { name: `app ${oauth.clientId}`, token: () => tokens.token() };
    }
  } else {
    options.accounts = parsed.accounts!.map((account, index) => ({
      username: account.username,
      password: readSecret(account.password, context.baseDir, `target.accounts.${index}.password`),
      ...(account.domain ? { domain: account.domain } : {}),
      ...(account.weight ? { weight: account.weight } : {}),
      ...(account.concurrency ? { concurrency: account.concurrency } : {}),
    }));
  }
  return new EwsTarget(options);
}
