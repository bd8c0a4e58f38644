// The `target` section for Microsoft Graph ({"kind": "graph", …}), owned by the Graph target; the assembled config
// (src/app/config.ts) includes it. Schema only: reading a config loads no network code.
import { z } from 'zod';
import { proxyConfigSchema } from '../../config/proxy.ts';
import { fileReferenceSchema, secretReferenceSchema } from '../../config/secrets.ts';
import { maxResponseBytesSchema } from '../answer-limits.ts';

export const graphTargetSchema = z
  .object({
    kind: z.literal('graph'),
    tenantId: z.string().min(1, 'is required: the directory (tenant) id of the Microsoft 365 tenant'),
    clientId: z.string().min(1, 'is required: the application (client) id of the app registration'),
    credential: z.discriminatedUnion('kind', [
      z.object({ kind: z.literal('secret'), secret: secretReferenceSchema }).strict(),
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
    /** The outbound proxy for Graph and the token endpoint; default the config's top-level `proxy`, else the environment's. */
    proxy: proxyConfigSchema.optional(),
  })
  .strict();

export type GraphTargetConfig = z.infer<typeof graphTargetSchema>;
