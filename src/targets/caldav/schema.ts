// The `target` section of the config file for a CalDAV server: its schema (src/targets/caldav/config.ts builds the
// target from it). Kept apart so that reading a config loads none of the CalDAV target's libraries.
//
// Secrets follow the rule of every config section (src/config/secrets.ts): a password or token is never written in
// the config, only a reference to an environment variable or a file, resolved at start and kept in memory.
//
//   "target": {
//     "kind": "caldav",
//     "baseUrl": "https://dav.example.edu/",
//     "calendarUrlTemplate": "calendars/{localpart}/timetable/",
//     "auth": { "kind": "basic", "username": "calpush", "password": { "env": "CALDAV_PASSWORD" } },
//     "accounts": [
//       { "match": "*@staff.example.edu", "auth": { "kind": "bearer", "token": { "file": "staff-token.txt" } } }
//     ]
//   }
import { z } from 'zod';
import { proxyConfigSchema } from '../../config/proxy.ts';
import { secretReferenceSchema } from '../../config/secrets.ts';
import { maxResponseBytesSchema } from '../answer-limits.ts';

const secretReference = secretReferenceSchema;

const authSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('basic'),
      username: z.string().min(1, 'is required: the CalDAV account name'),
      password: secretReference,
    })
    .strict(),
  z.object({ kind: z.literal('bearer'), token: secretReference }).strict(),
]);

const PLACEHOLDER = /\{(address|localpart|domain)\}/;
const ANY_BRACE = /\{([^}]*)\}/g;

const template = z
  .string()
  .min(1)
  .refine((value) => [...value.matchAll(ANY_BRACE)].every((m) => PLACEHOLDER.test(m[0])), {
    message: 'may only use the placeholders {address}, {localpart} and {domain}',
  })
  // A placeholder in the host would let a mailbox address choose the server the credentials go to.
  .refine((value) => !/^[a-z][a-z0-9+.-]*:\/\/[^/]*\{/i.test(value), { message: 'may use placeholders only in the path, not in the server name' })
  .refine((value) => !/[?#]/.test(value), { message: 'must not have a query or fragment: it names a collection' });

const accountSchema = z
  .object({
    /** Glob on the mailbox address, case-insensitive: "*@example.edu", "alice@example.edu", "*". */
    match: z.string().min(1, 'is required: a glob on the mailbox address, like *@example.edu'),
    auth: authSchema,
    calendarUrlTemplate: template.optional(),
  })
  .strict();

export const caldavTargetSchema = z
  .object({
    kind: z.literal('caldav'),
    /** The server's root URL; relative calendarUrlTemplates are resolved against it. */
    baseUrl: z.url({ protocol: /^https?$/, error: 'must be an http(s) URL' }),
    /** The collection of each calendar; without it, baseUrl is the template. */
    calendarUrlTemplate: template.optional(),
    /** Default credentials, e.g. one service account with write rights on every user's calendar. */
    auth: authSchema.optional(),
    /** Credentials per group of calendars; the first match wins, `auth` is the fallback. */
    accounts: z.array(accountSchema).max(10_000).optional(),
    /** Extra CA to trust (PEM), e.g. an on-premises CA. */
    caFile: z.string().optional(),
    multigetChunk: z.number().int().min(1).max(1000).default(100),
    /** The whole exchange of one request, connection to last byte (src/targets/http.ts). */
    requestTimeoutMs: z.number().int().positive().default(60_000),
    /** Largest answer body accepted from the server (a multiget chunk, the listing of our objects). */
    maxResponseBytes: maxResponseBytesSchema,
    /** The outbound proxy; default the config's top-level `proxy`, else the environment's. */
    proxy: proxyConfigSchema.optional(),
  })
  .strict()
  .superRefine((target, ctx) => {
    if (!target.auth && !target.accounts?.length) {
      ctx.addIssue({ code: 'custom', path: ['auth'], message: 'is required unless "accounts" gives the credentials' });
    }
    // A template without a placeholder names one collection: fine for an account that matches one address, wrong
    // for everything else (all calendars would land in the same collection).
    const defaultTemplate = target.calendarUrlTemplate ?? target.baseUrl;
    const fixed = (value: string) => !PLACEHOLDER.test(value);
    if (target.auth && fixed(defaultTemplate)) {
      ctx.addIssue({
        code: 'custom',
        path: [target.calendarUrlTemplate ? 'calendarUrlTemplate' : 'baseUrl'],
        message: 'needs {address} or {localpart} (or a calendarUrlTemplate with them): every calendar needs its own collection',
      });
    }
    target.accounts?.forEach((account, index) => {
      const effective = account.calendarUrlTemplate ?? defaultTemplate;
      if (fixed(effective) && /[*?]/.test(account.match)) {
        ctx.addIssue({
          code: 'custom',
          path: ['accounts', index, 'calendarUrlTemplate'],
          message: `needs {address} or {localpart}: "${account.match}" matches several calendars, each needs its own collection`,
        });
      }
    });
  });

export type CalDavTargetConfig = z.infer<typeof caldavTargetSchema>;
export type CalDavAuthConfig = z.infer<typeof authSchema>;
