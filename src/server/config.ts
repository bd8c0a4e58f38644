// The `server` section of the config (calpush serve), owned here; the assembled config (src/app/config.ts) includes
// it. This module must not import that one: the config is assembled at the top, from the parts' own sections.
import { z } from 'zod';
import { secretReferenceSchema } from '../config/secrets.ts';

const MiB = 1024 * 1024;

const secretReference = secretReferenceSchema;

export const serverConfigSchema = z
  .object({
    /** Interface to listen on. Loopback by default: put a TLS-terminating proxy in front, or configure `tls`. */
    host: z.string().default('127.0.0.1'),
    /**
     * The address people reach calpush at (https://calpush.example.edu, behind the proxy): the consent page's redirect
     * URI is `<publicUrl>/connect/callback` — the one `calpush setup graph-delegated` registers — and reconnect links
     * in alerts and the status API start with it. Without it, the address the request came to is used.
     */
    publicUrl: z
      .url()
      .refine((url) => /^https?:\/\/[^/?#]+\/?$/.test(url), 'must be the scheme and host (and port) only, e.g. https://calpush.example.edu')
      .transform((url) => url.replace(/\/+$/, ''))
      .optional(),
    port: z.number().int().min(0).max(65_535).default(8080),
    /** Largest body of a single-event request (PUT/DELETE of one event). */
    bodyLimitBytes: z.number().int().min(1024).default(5 * MiB),
    /** Largest body of a batch or a full replacement of a calendar's events. */
    bulkBodyLimitBytes: z.number().int().min(1024).default(64 * MiB),
    /** Most items in one POST /v1/events/batch. */
    batchMaxItems: z.number().int().min(1).max(100_000).default(5_000),
    /** Most events in one PUT /v1/calendars/{calendar}/events. */
    replaceMaxEvents: z.number().int().min(1).max(1_000_000).default(50_000),
    /** Failed authentications from one client address (an IPv6 /64) within authFailureWindowSeconds before 429s; 0: no limit. */
    authFailureLimit: z.number().int().min(0).max(1_000_000).default(10),
    authFailureWindowSeconds: z.number().int().min(1).max(86_400).default(60),
    /** Serve /openapi.json and /docs without an API key (the contract is not secret; the default is closed). */
    publicDocs: z.boolean().default(false),
    /** Behind a reverse proxy: trust X-Forwarded-* from it (fastify's trustProxy: true, or the proxy's addresses/CIDRs). */
    trustProxy: z.union([z.boolean(), z.string(), z.array(z.string())]).default(false),
    /** How often the delivery loop looks for desired-state changes made by other processes (API writes wake it at once). */
    deliveryPollMs: z.number().int().min(50).max(60_000).default(1_000),
    /** On SIGTERM: how long running deliveries may go on before queued requests are dropped (in-flight ones finish). */
    shutdownGraceMs: z.number().int().min(0).max(600_000).default(10_000),
    /** Serve HTTPS directly. */
    tls: z.object({ certificate: z.object({ file: z.string().min(1) }).strict(), privateKey: secretReference }).strict().optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    /** The web dashboard at / (src/server/dashboard): sign-in with an admin or helpdesk key, sessions, live updates. */
    dashboard: z
      .object({
        enabled: z.boolean().default(true),
        /** A session not used for this long ends. */
        sessionIdleMinutes: z.number().int().min(1).max(1_440).default(30),
        /** A session ends this long after sign-in, used or not. */
        sessionMaxHours: z.number().int().min(1).max(168).default(8),
        /** Open sessions at most (the least recently used one ends first). */
        maxSessions: z.number().int().min(1).max(100_000).default(1_000),
        /** Live updates (server-sent events) open at once, across all sessions. */
        maxLiveStreams: z.number().int().min(1).max(10_000).default(100),
        /** Between two live updates of a page. */
        liveIntervalMs: z.number().int().min(250).max(60_000).default(2_000),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type ServerConfig = z.infer<typeof serverConfigSchema>;
export type ServerConfigInput = z.input<typeof serverConfigSchema>;
