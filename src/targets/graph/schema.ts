// The `target` section for Microsoft Graph ({"kind": "graph", …}), owned by the Graph target; the assembled config
// (src/app/config.ts) includes it. Schema only: reading a config loads no network code.
import { z } from 'zod';
import { proxyConfigSchema } from '../../config/proxy.ts';
import { fileReferenceSchema, secretReferenceSchema } from '../../config/secrets.ts';
import { maxResponseBytesSchema } from '../answer-limits.ts';

/**
 * The app registration's credential: a client secret (with the date it expires, which Entra ID shows and calpush
 * cannot read without more permissions — the alerts warn ahead of it) or a certificate (its file's notAfter is read).
 */
const credentialSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('secret'),
      secret: secretReferenceSchema,
      expiresAt: z.iso.date({ error: 'must be the date the secret expires, YYYY-MM-DD (Entra ID > App registrations > Certificates & secrets)' }).optional(),
    })
    .strict(),
  z
    .object({
      kind: z.literal('certificate'),
      privateKey: secretReferenceSchema,
      certificate: fileReferenceSchema.optional(),
      thumbprintSha256: z
        .string()
        .regex(/^[0-9A-Fa-f:\s]{64,95}$/, 'must be the SHA-256 thumbprint in hex')
        .optional(),
    })
    .strict(),
]);

/** The settings app-only and delegated Graph targets share. */
const graphConnection = {
  tenantId: z.string().min(1, 'is required: the directory (tenant) id of the Microsoft 365 tenant'),
  clientId: z.string().min(1, 'is required: the application (client) id of the app registration'),
  credential: credentialSchema,
  authorityHost: z.url().default('https://login.microsoftonline.com'),
  graphBaseUrl: z.url().default('https://graph.microsoft.com/v1.0'),
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
  /**
   * The outbound proxy for Graph and the token endpoint (and, delegated, the consent page's sign-ins); default the
   * config's top-level `proxy`, else the environment's.
   */
  proxy: proxyConfigSchema.optional(),
};

export const graphTargetSchema = z
  .object({
    kind: z.literal('graph'),
    ...graphConnection,
    scope: z.string().default('https://graph.microsoft.com/.default'),
  })
  .strict();

export type GraphTargetConfig = z.infer<typeof graphTargetSchema>;

/**
 * `{"kind": "graph-delegated", …}`: Microsoft Graph with delegated access — each person connects their own calendar on
 * calpush's consent page (`calpush serve`, /connect) and calpush writes it with that person's token (docs/delegated.md).
 * The app registration is a web app with a secret or certificate (a confidential client) and calpush's consent page
 * as its redirect URI (`calpush setup graph-delegated`).
 */
export const graphDelegatedTargetSchema = z
  .object({
    kind: z.literal('graph-delegated'),
    ...graphConnection,
    /**
     * The delegated permissions asked for: writing the person's calendars, and reading their profile (to know which
     * addresses are theirs). msal-node adds openid, profile and offline_access (the refresh token) itself. National
     * clouds: the full form, e.g. https://graph.microsoft.us/Calendars.ReadWrite.
     */
    scopes: z.array(z.string().min(1)).min(1).default(['Calendars.ReadWrite', 'User.Read']),
  })
  .strict();

export type GraphDelegatedTargetConfig = z.infer<typeof graphDelegatedTargetSchema>;
