// The `routing` section: which named target serves which mailbox (docs/targets.md).
//
// Rules are tried in the order written and the first that matches wins; a mailbox no rule matches goes to
// `routing.default`, else to the target named "default" (the config's single `target`). Four kinds of rule:
//   {"mailboxes": ["a@x.edu", …], "target": "onprem"}         these addresses
//   {"match": ["*@staff.x.edu", "x.edu"], "target": "online"}  globs (* and ?) on the address; a bare domain is *@domain
//   {"csv": "routes.csv"}                                        a file of mailbox,target lines (exact addresses)
//   {"lookup": "exchange-hybrid", "onPremises": "onprem", "online": "online"}
//       asks where the mailbox lives: on-premises Autodiscover, then Microsoft Graph (app/router.ts), remembering
//       the answer in the store for `refreshMinutes`; `match` narrows the mailboxes it is asked for.
// The order is the administrator's: exceptions go first (a room that stays on-premises), broad rules after them.
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError, resolvePath } from '../config/secrets.ts';

/** A target's name: how rules, the store and the status name it. */
export const targetNameSchema = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'must be 1–32 lower-case letters, digits, dash or underscore, starting with a letter');

/** A glob on the lower-cased address: * any run of characters, ? one; without "@" it is a domain (*@domain). */
const patternSchema = z
  .string()
  .trim()
  .min(1)
  .max(320)
  .refine((value) => !/\s/.test(value), 'must not contain spaces')
  .transform((value) => value.toLowerCase());

const lookupServices = ['autodiscover', 'graph'] as const;

const ruleSchema = z.union(
  [
    z.object({ mailboxes: z.array(z.email().transform((m) => m.toLowerCase())).min(1).max(100_000), target: targetNameSchema }).strict(),
    z.object({ match: z.array(patternSchema).min(1).max(1000), target: targetNameSchema }).strict(),
    z.object({ csv: z.string().min(1) }).strict(),
    z
      .object({
        lookup: z.literal('exchange-hybrid'),
        /** The EWS target that reaches the on-premises Exchange organisation. */
        onPremises: targetNameSchema,
        /** The Graph target that reaches Exchange Online. */
        online: targetNameSchema,
        /** Who is asked, in this order, until one knows the mailbox. */
        ask: z.array(z.enum(lookupServices)).min(1).max(2).default(['autodiscover', 'graph']),
        /** Only these mailboxes are looked up (default: every mailbox that reaches this rule). */
        match: z.array(patternSchema).min(1).max(1000).optional(),
        /** How long an answer is used before the mailbox is looked up again (a refused delivery asks at once). */
        refreshMinutes: z.number().int().min(0).max(525_600).default(1440),
      })
      .strict(),
  ],
  {
    error:
      'each rule is {"mailboxes": [...], "target": …}, {"match": ["*@domain", …], "target": …}, {"csv": "file.csv"} or {"lookup": "exchange-hybrid", "onPremises": …, "online": …}',
  },
);

export const routingSchema = z
  .object({
    rules: z.array(ruleSchema).max(1000).default([]),
    /** Where a mailbox no rule matches goes (default: the target named "default", if there is one). */
    default: targetNameSchema.optional(),
  })
  .strict();

export type RoutingConfig = z.infer<typeof routingSchema>;
export type RoutingRule = z.infer<typeof ruleSchema>;
export type LookupRule = Extract<RoutingRule, { lookup: 'exchange-hybrid' }>;

/** The targets every rule names (checked against `targets` when the config is assembled; CSV files at load). */
export function namedTargets(routing: RoutingConfig): Array<{ name: string; path: string }> {
  const names: Array<{ name: string; path: string }> = [];
  routing.rules.forEach((rule, index) => {
    if ('target' in rule) names.push({ name: rule.target, path: `routing.rules.${index}.target` });
    if ('lookup' in rule) names.push({ name: rule.onPremises, path: `routing.rules.${index}.onPremises` }, { name: rule.online, path: `routing.rules.${index}.online` });
  });
  if (routing.default) names.push({ name: routing.default, path: 'routing.default' });
  return names;
}

// ---------------------------------------------------------------------------------------------------------------
// Matching

/**
 * Whether `address` matches the glob: * any run (also empty), ? one character. The classic two-pointer match,
 * O(address × pattern) at worst with no backtracking blow-up: a hostile pattern cannot stall the process.
 */
export function globMatches(pattern: string, address: string): boolean {
  const glob = pattern.includes('@') ? pattern : `*@${pattern.replace(/^\.+/, '')}`;
  let p = 0;
  let a = 0;
  let star = -1;
  let resume = 0;
  while (a < address.length) {
    if (p < glob.length && (glob[p] === '?' || glob[p] === address[a])) {
      p++;
      a++;
    } else if (p < glob.length && glob[p] === '*') {
      star = p++;
      resume = a;
    } else if (star >= 0) {
      p = star + 1;
      a = ++resume;
    } else return false;
  }
  while (glob[p] === '*') p++;
  return p === glob.length;
}

/** A compiled rule: what it says about one mailbox. */
export type CompiledRule =
  | { kind: 'exact'; targets: Map<string, string>; describe: string }
  | { kind: 'match'; patterns: string[]; target: string; describe: string }
  | { kind: 'lookup'; rule: LookupRule; describe: string };

export interface CompiledRouting {
  rules: CompiledRule[];
  /** The target of a mailbox no rule matches, if any. */
  fallback: string | null;
}

/** What the rules say about one mailbox, without asking anyone. */
export type StaticAnswer =
  | { kind: 'target'; target: string; reason: string }
  | { kind: 'lookup'; rule: LookupRule; reason: string }
  | { kind: 'none'; reason: string };

export function staticRoute(routing: CompiledRouting, address: string): StaticAnswer {
  const mailbox = address.toLowerCase();
  for (const [index, rule] of routing.rules.entries()) {
    const where = `rule ${index + 1} (${rule.describe})`;
    if (rule.kind === 'exact') {
      const target = rule.targets.get(mailbox);
      if (target) return { kind: 'target', target, reason: where };
    } else if (rule.kind === 'match') {
      const pattern = rule.patterns.find((p) => globMatches(p, mailbox));
      if (pattern) return { kind: 'target', target: rule.target, reason: `${where}: ${pattern}` };
    } else if (!rule.rule.match || rule.rule.match.some((p) => globMatches(p, mailbox))) {
      return { kind: 'lookup', rule: rule.rule, reason: where };
    }
  }
  if (routing.fallback) return { kind: 'target', target: routing.fallback, reason: routing.rules.length ? 'no rule matched: the default target' : 'the only target' };
  return { kind: 'none', reason: `no routing rule matches ${mailbox} and routing.default is not set` };
}

// ---------------------------------------------------------------------------------------------------------------
// Compiling: CSV files are read once, at start.

/** A routing CSV larger than this is refused (a million mailboxes fit in about 60 MB). */
const MAX_CSV_BYTES = 64 * 1024 * 1024;

/**
 * mailbox,target lines (RFC 4180 without quoting: neither an address nor a target name holds a comma); an optional
 * header line "mailbox,target", blank lines and lines starting with # are skipped. A bad line refuses the config,
 * naming the file, the line and the field: a routing table applied in part would send mailboxes to the wrong place.
 */
export function readRoutingCsv(path: string, known: Set<string>): Map<string, string> {
  let text: string;
  try {
    const size = statSync(path).size;
    if (size > MAX_CSV_BYTES) throw new ConfigError(`routing CSV ${path} is ${size} bytes; at most ${MAX_CSV_BYTES} are read`);
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`cannot read routing CSV ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const targets = new Map<string, string>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const problem = (line: number, message: string) => new ConfigError(`routing CSV ${path}, line ${line}: ${message}`, 'each line is mailbox,target (an address and the name of a configured target)');
  lines.forEach((raw, index) => {
    const line = raw.trim();
    if (!line || line.startsWith('#') || (index === 0 && /^mailbox\s*,\s*target$/i.test(line))) return;
    const fields = line.split(',').map((f) => f.trim());
    if (fields.length !== 2) throw problem(index + 1, `has ${fields.length} fields, expected 2 (mailbox,target)`);
    const [mailbox, target] = [fields[0]!.toLowerCase(), fields[1]!];
    if (!z.email().safeParse(mailbox).success) throw problem(index + 1, `mailbox "${mailbox.slice(0, 100)}" is not an email address`);
    if (!known.has(target)) throw problem(index + 1, `target "${target.slice(0, 40)}" is not a configured target (${[...known].join(', ')})`);
    const before = targets.get(mailbox);
    if (before && before !== target) throw problem(index + 1, `${mailbox} is routed to ${before} on an earlier line`);
    targets.set(mailbox, target);
  });
  return targets;
}

/** The rules ready to match, CSV files read (relative to the config's folder). */
export function compileRouting(routing: RoutingConfig | undefined, targetNames: string[], baseDir: string): CompiledRouting {
  const known = new Set(targetNames);
  const rules: CompiledRule[] = (routing?.rules ?? []).map((rule) => {
    if ('mailboxes' in rule) return { kind: 'exact', targets: new Map(rule.mailboxes.map((m) => [m, rule.target])), describe: `${rule.mailboxes.length} mailbox${rule.mailboxes.length === 1 ? '' : 'es'} → ${rule.target}` };
    if ('match' in rule && 'target' in rule) return { kind: 'match', patterns: rule.match, target: rule.target, describe: `match → ${rule.target}` };
    if ('csv' in rule) {
      const path = resolvePath(baseDir, rule.csv);
      return { kind: 'exact', targets: readRoutingCsv(path, known), describe: `CSV ${rule.csv}` };
    }
    return { kind: 'lookup', rule, describe: `exchange-hybrid lookup: ${rule.onPremises} or ${rule.online}` };
  });
  const fallback = routing?.default ?? (known.has('default') ? 'default' : known.size === 1 ? [...known][0]! : null);
  return { rules, fallback };
}
