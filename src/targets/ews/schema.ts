// The `target` section of the config file for Exchange Web Services: its schema (src/targets/ews/config.ts
// builds the target from it). Kept apart so that reading a config loads none of the EWS target's libraries.
//
// Secrets follow the rule of the rest of the config (src/config/secrets.ts): a password, secret, private key or
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
import { z } from 'zod';
import { proxyConfigSchema } from '../../config/proxy.ts';
import { secretReferenceSchema } from '../../config/secrets.ts';
import { maxResponseBytesSchema } from '../answer-limits.ts';

/** The EWS schema versions calpush speaks (RequestServerVersion). */
export const SERVER_VERSIONS = ['Exchange2010_SP2', 'Exchange2013', 'Exchange2013_SP1', 'Exchange2016'] as const;
export type ServerVersion = (typeof SERVER_VERSIONS)[number];

export const EWS_DEFAULT_BATCH = 20;

/**
 * Items per FindItem page when listing our (tagged, so restricted) items: what the server gives. "In Exchange Online
 * and on-premises versions of Exchange starting with Exchange 2013, the EWSFindCountLimit for AQS search and any
 * Exchange search with a restriction is 250 results. An Exchange search without a restriction will return up to 1000
 * results." (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange,
 * EWSFindCountLimit). Whatever a page holds, the listing follows IndexedPagingOffset until IncludesLastItemInRange.
 */
export function ewsDefaultPage(serverVersion: ServerVersion): number {
  return serverVersion === 'Exchange2010_SP2' ? 1000 : 250;
}
export const EWS_DEFAULT_ACCOUNT_CONCURRENCY = 8;

const secretReference = secretReferenceSchema;

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
    /**
     * The SOAP Autodiscover endpoint the hybrid route lookup asks (routing, docs/targets.md); default
     * https://<the EWS host>/autodiscover/autodiscover.svc.
     */
    autodiscoverUrl: z.url({ protocol: /^https?$/, error: 'must be the https:// URL of the SOAP Autodiscover endpoint, like https://mail.example.edu/autodiscover/autodiscover.svc' }).optional(),
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
    /** Items per FindItem page when listing our events; default what the server gives (250 from Exchange 2013, 1000 before). */
    pageSize: z.number().int().min(1).max(1000).optional(),
    deleteType: z.enum(['HardDelete', 'SoftDelete', 'MoveToDeletedItems']).default('HardDelete'),
    /** Requests in flight per service account (Exchange's EWSMaxConcurrency: 10 on 2010, 27 on 2013+). */
    accountConcurrency: z.number().int().min(1).max(100).default(EWS_DEFAULT_ACCOUNT_CONCURRENCY),
    /** Optional client-side budget per service account, in items per minute (a CreateItem of 20 counts 20). */
    accountItemsPerMinute: z.number().int().min(1).max(10_000_000).optional(),
    /** ErrorServerBusy answers to one request that calpush waits out itself before counting a failed attempt. */
    busyRetries: z.number().int().min(0).max(20).default(3),
    /** The whole exchange of one request, connection to last byte (src/targets/http.ts). */
    requestTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
    /** Largest answer body accepted from Exchange (and the token endpoint's host). */
    maxResponseBytes: maxResponseBytesSchema,
    /** NTLM workstation name sent in the handshake (default: this host's name). */
    workstation: z.string().regex(/^[A-Za-z0-9._-]{1,15}$/, 'must be a NetBIOS-style name of 1–15 letters, digits, dot, dash or underscore').optional(),
    /** The outbound proxy for EWS (and the token endpoint with OAuth); default the top-level `proxy`, else the environment's. */
    proxy: proxyConfigSchema.optional(),
    /** Streaming notifications (docs/ews.md, "Streaming notifications"; defaults: targets/ews/streaming.ts DEFAULT_EWS_STREAMING). */
    streaming: z
      .object({
        enabled: z.boolean().default(true),
        watchMailboxes: z.number().int().min(0).max(1000).default(0),
        connectionTimeoutMinutes: z.number().int().min(1, 'must be 1–30 (GetStreamingEvents ConnectionTimeout)').max(30, 'must be 1–30 (GetStreamingEvents ConnectionTimeout)').default(30),
        hangingConnections: z.number().int().min(1).max(10, 'must be at most 10 (Exchange’s HangingConnectionLimit is 3 per account by default, 10 in Exchange Online)').default(1),
        maxEnvelopeBytes: z.number().int().min(4096).max(64 * 1024 * 1024).default(1024 * 1024),
        maxConnectionBytes: z.number().int().min(65_536).max(1024 * 1024 * 1024).default(64 * 1024 * 1024),
      })
      .strict()
      .optional(),
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
    if (target.autodiscoverUrl?.startsWith('http:') && !target.allowInsecureHttp) {
      ctx.addIssue({ code: 'custom', path: ['autodiscoverUrl'], message: 'is plain http: the service account would sign in unencrypted. Use https (or set allowInsecureHttp for a lab)' });
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
