// The `watch` config section (docs/drift.md): how often calpush serve reads what changed in the mailboxes it delivers,
// how often every mailbox is listed in full anyway (the backstop), the window Graph's delta reads, and the drift
// policy — one for every calendar, or per calendar by address or glob (the first rule that matches wins). Validated
// with zod; every problem names the field (`watch.rules.0.drift.edited: …`).
import { z } from 'zod';
import type { DriftPolicies } from '../planner/drift.ts';
import { globMatches } from './routing.ts';

const policy = z.enum(['restore', 'respect', 'detach']);

/** "restore" for both kinds, or each kind on its own ({"edited": "respect", "deleted": "restore"}). */
const driftSchema = z.union([policy, z.object({ edited: policy.default('restore'), deleted: policy.default('restore') }).strict()]);

export const watchConfigSchema = z
  .object({
    /** false: calpush serve does not watch (calpush watch --once still does). */
    enabled: z.boolean().default(true),
    /** How often calpush serve reads what changed in each mailbox it delivers. */
    intervalSeconds: z.number().int().min(30, 'must be at least 30 (each round costs every mailbox a request)').max(86_400).default(300),
    /** How often every mailbox is listed in full and re-planned anyway: the backstop for what a watch cannot see. */
    reconcileHours: z.number().min(1).max(24 * 90).default(24),
    /** The window of Graph's calendarView/delta, in days before and after now. */
    pastDays: z.number().int().min(0).max(366).default(1),
    futureDays: z.number().int().min(1).max(1830).default(400),
    /**
     * With server.publicUrl (https): Graph mailboxes are also watched by change notifications (webhooks), so a
     * person's change is answered within seconds; polling stays as the backstop. false: polling only.
     */
    notifications: z.boolean().default(true),
    /** What calpush does when a person edits or deletes one of its events. */
    drift: driftSchema.default('restore'),
    /** Per calendar: addresses or globs ("*@staff.example.edu", or a domain), the first rule that matches wins. */
    rules: z.array(z.object({ match: z.array(z.string().min(1).max(320)).min(1).max(10_000), drift: driftSchema }).strict()).max(1_000).default([]),
  })
  .strict()
  .prefault({});

export type WatchConfig = z.infer<typeof watchConfigSchema>;
type DriftSetting = z.infer<typeof driftSchema>;

function policiesOf(setting: DriftSetting): DriftPolicies {
  return typeof setting === 'string' ? { edited: setting, deleted: setting } : setting;
}

/** The drift policy of a calendar: the first rule whose pattern matches it, else the section's default. */
export function driftPolicyOf(config: WatchConfig): (calendar: string) => DriftPolicies {
  const fallback = policiesOf(config.drift);
  const rules = config.rules.map((rule) => ({ match: rule.match.map((pattern) => pattern.toLowerCase()), policies: policiesOf(rule.drift) }));
  return (calendar) => {
    const address = calendar.toLowerCase();
    return rules.find((rule) => rule.match.some((pattern) => globMatches(pattern, address)))?.policies ?? fallback;
  };
}
