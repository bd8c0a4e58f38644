// The `alerts` section of the config, owned by the alerts (src/alerts): where notifications go — HMAC-signed webhooks,
// email over SMTP — and the thresholds of the conditions watched. docs/delegated.md ("Alerts") and docs/api.md.
import { z } from 'zod';
import { secretReferenceSchema } from '../config/secrets.ts';

const webhookSchema = z
  .object({
    /** The receiver; a reference when the URL itself is a secret (chat webhooks carry their token in the path). */
    url: z.union([z.url({ protocol: /^https?$/ }), secretReferenceSchema]),
    /** The shared secret the HMAC-SHA256 signature is made with (at least 32 characters). */
    secret: secretReferenceSchema,
  })
  .strict();

const emailSchema = z
  .object({
    smtp: z
      .object({
        host: z.string().min(1),
        port: z.number().int().min(1).max(65_535).default(587),
        /** true: TLS from the start (port 465); false: STARTTLS when the server offers it (587, 25). */
        secure: z.boolean().default(false),
        /** Refuse to send without STARTTLS (default true unless host is loopback). */
        requireTls: z.boolean().optional(),
        user: z.string().optional(),
        password: secretReferenceSchema.optional(),
        /** An extra CA to trust for the SMTP server's certificate. */
        caFile: z.string().optional(),
      })
      .strict(),
    from: z.string().min(3),
    to: z.array(z.string().email()).min(1),
  })
  .strict();

export const alertsConfigSchema = z
  .object({
    webhooks: z.array(webhookSchema).max(20).default([]),
    email: emailSchema.optional(),
    /** Warn this many days before the app's certificate or client secret expires. */
    credentialExpiryDays: z.number().int().min(1).max(365).default(30),
    /** A feed that failed this many polls in a row. */
    feedFailures: z.number().int().min(1).max(1_000).default(5),
    /** Delivery stalled: work pending and no progress for this many minutes. */
    stalledMinutes: z.number().int().min(1).max(1_440).default(30),
    /** How often the conditions are looked at (and notifications due are sent). */
    intervalSeconds: z.number().int().min(1).max(3_600).default(60),
  })
  .strict();

export type AlertsConfig = z.infer<typeof alertsConfigSchema>;
export type WebhookConfig = z.infer<typeof webhookSchema>;
export type EmailConfig = z.infer<typeof emailSchema>;
