// What a person sees after a sync: input problems, one line per mailbox, totals. And a progress bar on a terminal.
import cliProgress from 'cli-progress';
import { formatRecordError } from '../sources/records.ts';
import type { MailboxSummary } from '../engine/summary.ts';
import type { InputReport, SyncPreview, SyncResult } from '../app/sync.ts';
import type { MailboxPreview } from '../planner/preview.ts';

const useColor = (stream: NodeJS.WriteStream) => stream.isTTY && !process.env.NO_COLOR;
const paint = (stream: NodeJS.WriteStream, code: number, text: string) => (useColor(stream) ? `\u001b[${code}m${text}\u001b[0m` : text);

/** Rejected records, warnings and the input counts: the same in a summary and a dry run. */
function formatInput(input: InputReport, stream: NodeJS.WriteStream): string[] {
  const lines: string[] = [];
  if (input.errors.length) {
    lines.push(paint(stream, 31, `${input.rejected} input record(s) rejected:`));
    for (const error of input.errors) lines.push(`  ${formatRecordError(error)}`);
    lines.push('');
  }
  if (input.warnings.length) {
    lines.push(paint(stream, 33, `${input.warnings.length + (input.unreportedWarnings ?? 0)} warning(s) (the records went through):`));
    for (const warning of input.warnings) lines.push(`  ${formatRecordError(warning)}`);
    lines.push('');
  }
  lines.push(`Input: ${input.records} record(s) read, ${input.accepted} accepted, ${input.rejected} rejected.`);
  return lines;
}

/** A table with the first column and the last left-aligned, numbers right-aligned. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (row: string[]) => row.map((cell, i) => (i === 0 || i === row.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  return [header, ...rows].map(format);
}

export function formatSummary(result: SyncResult, stream: NodeJS.WriteStream = process.stdout): string {
  const { input, delivery } = result;
  const lines = formatInput(input, stream);
  if (result.desired.kept) lines.push(`Kept ${result.desired.kept} ended event(s) that are no longer in the input (retention).`);
  // A run-wide failure (credentials, the endpoint, the store) stopped every mailbox with the same error: it is
  // told once, under "Stopped", not once per mailbox.
  const fatal = delivery.fatal;
  const stoppedByFatal = (m: MailboxSummary) => Boolean(fatal && m.error && m.error.code === fatal.code && m.error.message === fatal.message);
  const ownError = (m: MailboxSummary) => (stoppedByFatal(m) ? undefined : m.error);
  // With named targets, which one delivered each mailbox (a single target, "default", needs no column).
  const named = namedTargetsShown(delivery.mailboxes);
  const header = ['mailbox', ...(named ? ['target'] : []), 'created', 'updated', 'deleted', 'unchanged', 'failed', 'requests', 'status'];
  const rows = delivery.mailboxes.map((m) => [
    m.calendar,
    ...(named ? [m.target ?? '-'] : []),
    String(m.created),
    String(m.updated),
    String(m.deleted),
    String(m.unchanged),
    String(m.failed),
    String(m.requests),
    stoppedByFatal(m) ? 'stopped' : m.status === 'failed' ? `FAILED ${m.error?.code ?? ''}` : m.status,
  ]);
  const t = delivery.totals;
  rows.push(['TOTAL', ...(named ? [''] : []), String(t.created), String(t.updated), String(t.deleted), String(t.unchanged), String(t.failed), String(t.requests), fatal ? `STOPPED ${fatal.code}` : t.failedMailboxes ? `${t.failedMailboxes} mailbox(es) failed` : 'ok']);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const format = (row: string[]) => row.map((cell, i) => (i === 0 || (named && i === 1) || i === row.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ').trimEnd();
  lines.push(format(header));
  for (const row of rows) {
    const line = format(row);
    lines.push(/^(FAILED|STOPPED)/.test(row[row.length - 1]!) ? paint(stream, 31, line) : line);
  }
  const moved = delivery.mailboxes.filter((m) => m.movedFrom);
  if (moved.length) lines.push('');
  for (const m of moved) lines.push(`${m.calendar} moved from target ${m.movedFrom} to ${m.target}: ${m.listed ?? 0} of our tagged events found there and adopted, nothing created twice.`);
  const busy = delivery.mailboxes.filter((m) => m.status === 'busy');
  if (busy.length) {
    lines.push('', `${busy.length} mailbox(es) were still being delivered by another calpush process when --busy-wait ran out (exit status 4); it picks up this change: ${busy.slice(0, 5).map((m) => m.calendar).join(', ')}${busy.length > 5 ? ', …' : ''}`);
  }
  const problems = delivery.mailboxes.filter((m) => ownError(m) || m.failures.length);
  if (problems.length) lines.push('');
  for (const m of problems) {
    if (ownError(m)) {
      lines.push(paint(stream, 31, `${m.calendar}: ${m.error!.message}`));
      if (m.error!.remedy) lines.push(`  fix: ${m.error!.remedy}`);
    }
    for (const failure of m.failures.slice(0, 20)) lines.push(`  ${m.calendar} event "${failure.id}" (${failure.operation}): ${failure.code}: ${failure.message}`);
    if (m.failures.length > 20) lines.push(`  … and ${m.failures.length - 20} more failed events in ${m.calendar}`);
  }
  if (fatal) {
    lines.push('', paint(stream, 31, `Stopped: ${fatal.message}`));
    if (fatal.remedy) lines.push(`  fix: ${fatal.remedy}`);
  }
  return lines.join('\n');
}

/** sync/import --dry-run: the desired-state change and, per mailbox, what a delivery would do. */
export function formatPreview(preview: SyncPreview, stream: NodeJS.WriteStream = process.stdout): string {
  const { input, desired, plan } = preview;
  const lines = formatInput(input, stream);
  lines.push(
    `Desired state: ${desired.added} added, ${desired.changed} changed, ${desired.removed} removed, ${desired.unchanged} unchanged` +
      `${desired.kept ? `, ${desired.kept} ended event(s) kept (retention)` : ''}.`,
    'Dry run: nothing was sent to any calendar and nothing was recorded.',
    '',
  );
  const named = namedTargetsShown(plan.mailboxes);
  const rows = plan.mailboxes.map((m) => [m.calendar, String(m.create.count), String(m.update.count), String(m.delete.count), String(m.unchanged), ...(named ? [m.target ?? '-'] : []), m.error ? `FAILED ${m.error.code}` : m.basis]);
  const t = plan.totals;
  rows.push(['TOTAL', String(t.create), String(t.update), String(t.delete), String(t.unchanged), ...(named ? [''] : []), '']);
  lines.push(...table(['mailbox', 'create', 'update', 'delete', 'unchanged', ...(named ? ['target'] : []), 'compared with'], rows));
  if (plan.unchangedMailboxes) lines.push(`${plan.unchangedMailboxes} more mailbox(es) in scope: delivered and unchanged, nothing to do.`);
  const ids = (label: string, op: { count: number; ids: string[] }) => (op.count ? [`  ${label} ${op.ids.map((id) => JSON.stringify(id)).join(', ')}${op.count > op.ids.length ? `, … (${op.count - op.ids.length} more)` : ''}`] : []);
  for (const m of plan.mailboxes) {
    const details = [...ids('create', m.create), ...ids('update', m.update), ...ids('delete', m.delete)];
    if (m.drift) details.push(`  drift the watch recorded: ${driftWords(m.drift)}`);
    if (m.movedFrom) details.unshift(`  moves from target ${m.movedFrom} to ${m.target}: the tagged events ${m.target} holds are adopted`);
    if (!details.length && !m.note && !m.error) continue;
    lines.push('', `${m.calendar}:`, ...details);
    if (m.error) {
      lines.push(paint(stream, 31, `  could not be listed: ${m.error.message}`));
      if (m.error.remedy) lines.push(`  fix: ${m.error.remedy}`);
    }
    if (m.note) lines.push(`  ${m.note}`);
  }
  if (plan.fatal) {
    lines.push('', paint(stream, 31, `Listing stopped: ${plan.fatal.message}`));
    if (plan.fatal.remedy) lines.push(`  fix: ${plan.fatal.remedy}`);
  }
  return lines.join('\n');
}

/** The drift a dry run applied, by policy (docs/drift.md): what each does to the events. */
function driftWords(drift: NonNullable<MailboxPreview['drift']>): string {
  const words = { restore: 'restored as desired', respect: 'left as the person made it (respect)', detach: 'no longer managed (detach)' } as const;
  return (['restore', 'respect', 'detach'] as const)
    .filter((policy) => drift[policy].count)
    .map((policy) => `${drift[policy].count} ${words[policy]} (${drift[policy].ids.map((id) => JSON.stringify(id)).join(', ')}${drift[policy].count > drift[policy].ids.length ? ', …' : ''})`)
    .join('; ');
}

/** Whether the mailboxes were routed to named targets (anything but the single target "default"). */
function namedTargetsShown(mailboxes: Array<{ target?: string }>): boolean {
  return mailboxes.some((m) => m.target !== undefined && m.target !== 'default');
}

/** A progress bar on a terminal (stderr); silent when output is piped or --json is used. */
export function progressBar(enabled: boolean): { update: (p: { done: number; total: number }) => void; stop: () => void } {
  if (!enabled || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar(
    { stream: process.stderr, format: 'delivering [{bar}] {value}/{total} operations  {percentage}%  eta {eta_formatted}', hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update: ({ done, total }) => {
      if (!started) {
        bar.start(total, done);
        started = true;
      } else {
        bar.setTotal(total);
        bar.update(done);
      }
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
