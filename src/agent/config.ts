// The `agent` config section: which target reads and answers the meeting requests, and per room or equipment
// mailbox its policy (policy.ts) and, for a VMR mailbox, its joining instructions (instructions.ts). Validated with
// zod; every problem names the mailbox and the field (`agent.mailboxes.<address>.<field>: …`).
import { z } from 'zod';
import { secretReferenceSchema } from '../config/secrets.ts';
import { canonicalTimeZone } from '../model/time.ts';
import { unknownPlaceholders } from './instructions.ts';
import { ROOM_DEFAULTS, VMR_DEFAULTS, WEEKDAYS, type AgentPolicy, type Weekday } from './policy.ts';

const HH_MM = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;

const workingHoursSchema = z
  .object({
    timeZone: z.string().refine((zone) => canonicalTimeZone(zone) !== null, 'is not a known IANA time zone'),
    days: z.array(z.enum(WEEKDAYS as unknown as [string, ...string[]])).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri']),
    start: z.string().regex(HH_MM, 'must be HH:MM'),
    end: z.string().regex(HH_MM, 'must be HH:MM'),
  })
  .strict()
  .refine((hours) => hours.start < hours.end, { message: 'start must be before end', path: ['end'] });

const templateText = z
  .string()
  .max(20_000)
  .superRefine((text, ctx) => {
    const unknown = unknownPlaceholders(text);
    if (unknown.length) ctx.addIssue({ code: 'custom', message: `unknown placeholder ${unknown.map((n) => `{${n}}`).join(', ')} (known: {alias} {number} {dialIn} {webLink} {subject} {organizer})` });
  });

/**
 * The conference provider (provider.ts): a webhook that gives each accepted meeting its joining instructions instead
 * of the template. One attempt within timeoutMs; whatever goes wrong falls back on the template, or on a tentative
 * answer a person confirms.
 */
const providerSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    /** The shared secret the HMAC-SHA256 signature is made with: a reference ({"env"} or {"file"}), at least 32 characters. */
    secret: secretReferenceSchema,
    timeoutMs: z.number().int().min(100).max(30_000).default(5_000),
    fallback: z.enum(['template', 'tentative']).default('template'),
  })
  .strict();

const vmrSchema = z
  .object({
    /** full: the instructions go into the organiser's meeting (calpush may write to organisers' mailboxes); limited: into the acceptance's comment. */
    mode: z.enum(['full', 'limited']).default('limited'),
    /** One alias for every meeting, or a number per meeting from a range (kept until the meeting is cancelled). */
    alias: z.union([
      z.object({ fixed: z.string().min(1).max(200) }).strict(),
      z
        .object({ range: z.object({ from: z.number().int().min(0), to: z.number().int().max(2_147_483_647) }).strict().refine((r) => r.from <= r.to, { message: 'from must not be above to', path: ['to'] }), prefix: z.string().max(100).default('') })
        .strict(),
    ]),
    dialIn: z.string().max(200).default(''),
    /** The web link, with {alias} / {number}: https://vmr.example.edu/webapp/#/?conference={alias} */
    webLink: templateText.default(''),
    template: z.object({ html: templateText, text: templateText }).strict(),
    /** The instructions from the organisation's conference platform; the template is the fallback. */
    provider: providerSchema.optional(),
  })
  .strict();

const mailboxSchema = z
  .object({
    /** vmr: Pexip's equipment mailbox (conflicts allowed, 1080 days, no maximum); room and equipment: Exchange's resource defaults. */
    kind: z.enum(['vmr', 'room', 'equipment']),
    bookingWindowDays: z.number().int().min(0).max(1080).optional(),
    maximumDurationMinutes: z.number().int().min(0).max(2_147_483_647).optional(),
    workingHours: workingHoursSchema.optional(),
    recurring: z.object({ allowed: z.boolean().default(true), maxOccurrences: z.number().int().min(1).nullable().default(null) }).strict().optional(),
    organizers: z
      .object({
        addresses: z.array(z.string().email()).default([]),
        domains: z.array(z.string().regex(/^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$/, 'must be a domain like contoso.edu')).default([]),
        /** Mail-enabled groups (distribution groups) by address: their members, nested groups included, may book. */
        groups: z.array(z.string().email()).max(50).default([]),
      })
      .strict()
      .optional(),
    conflicts: z.enum(['decline', 'allow']).optional(),
    capacity: z.object({ seats: z.number().int().min(1), over: z.enum(['decline', 'tentative']).default('decline') }).strict().optional(),
    vmr: vmrSchema.optional(),
  })
  .strict()
  .superRefine((mailbox, ctx) => {
    if (mailbox.kind === 'vmr' && !mailbox.vmr) ctx.addIssue({ code: 'custom', path: ['vmr'], message: 'is required for a mailbox of kind "vmr": the joining instructions' });
    if (mailbox.kind !== 'vmr' && mailbox.vmr) ctx.addIssue({ code: 'custom', path: ['vmr'], message: 'is for mailboxes of kind "vmr" only' });
  });

export const agentConfigSchema = z
  .object({
    /** The target that reads and answers (a name in `targets`, or "default" for `target`): Graph or EWS. */
    target: z.string().default('default'),
    /** How far back the first round of reading looks, in days (meetings that already ended are not answered). */
    lookBackDays: z.number().int().min(0).max(31).default(1),
    mailboxes: z.record(z.string().email(), mailboxSchema).default({}),
    /**
     * Room lists (their email addresses): every room the list holds gets the policy given, unless `mailboxes` names
     * it (that wins). Read through the target when the agent runs (Graph place-list, EWS GetRooms).
     */
    roomLists: z
      .record(
        z.string().email(),
        mailboxSchema.refine((m) => m.kind !== 'vmr', { message: 'a room list holds rooms: its kind is "room" or "equipment" (a VMR mailbox is named in mailboxes)', path: ['kind'] }),
      )
      .default({}),
    /** How often `calpush agent --watch` and `calpush serve` read the room lists again, in minutes. */
    roomListRefreshMinutes: z.number().int().min(1).max(10_080).default(60),
    /** How often `calpush agent --watch` and `calpush serve` run a pass, in seconds. */
    intervalSeconds: z.number().int().min(5).max(3_600).default(60),
  })
  .strict()
  .refine((agent) => Object.keys(agent.mailboxes).length + Object.keys(agent.roomLists).length > 0, { message: 'names no mailbox and no room list', path: ['mailboxes'] });

export type AgentConfig = z.infer<typeof agentConfigSchema>;
export type AgentMailboxConfig = z.infer<typeof mailboxSchema>;
export type VmrConfig = z.infer<typeof vmrSchema>;
export type ProviderConfig = z.infer<typeof providerSchema>;

/** The mailbox's policy: its kind's defaults with what the config says. */
export function policyOf(mailbox: AgentMailboxConfig): AgentPolicy {
  const defaults = mailbox.kind === 'vmr' ? VMR_DEFAULTS : ROOM_DEFAULTS;
  return {
    bookingWindowDays: mailbox.bookingWindowDays ?? defaults.bookingWindowDays,
    maximumDurationMinutes: mailbox.maximumDurationMinutes ?? defaults.maximumDurationMinutes,
    workingHours: mailbox.workingHours ? { ...mailbox.workingHours, timeZone: canonicalTimeZone(mailbox.workingHours.timeZone)!, days: mailbox.workingHours.days as Weekday[] } : null,
    recurring: mailbox.recurring ?? defaults.recurring,
    organizers: mailbox.organizers
      ? { addresses: mailbox.organizers.addresses.map((a) => a.toLowerCase()), domains: mailbox.organizers.domains.map((d) => d.toLowerCase()), groups: mailbox.organizers.groups.map((g) => g.toLowerCase()) }
      : null,
    conflicts: mailbox.conflicts ?? defaults.conflicts,
    capacity: mailbox.capacity ?? null,
  };
}
