// The doctor's report: one line per check, green or red (or a warning, or skipped), each red line with what to
// do about it. Rendered as text (colour only on a terminal) or JSON.

export type CheckStatus = 'pass' | 'warn' | 'fail' | 'skip';

export interface CheckResult {
  /** Stable id, e.g. "graph.token" */
  id: string;
  /** Short label shown in the left column, e.g. "token" */
  title: string;
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** What to do about it (for warn and fail). */
  remedy?: string;
  /** Error code (AADSTS…, Graph error code, TLS error code) when there is one. */
  code?: string;
}

export interface DoctorReport {
  ok: boolean;
  mailbox: string;
  target: string;
  config: string;
  /** Lines about the setup under test (tenant, app, credential kind): no secrets. */
  context: string[];
  checks: CheckResult[];
}

export function reportOk(checks: CheckResult[]): boolean {
  return !checks.some((c) => c.status === 'fail');
}

const SYMBOL: Record<CheckStatus, string> = { pass: '✔', fail: '✘', warn: '!', skip: '-' };
const COLOUR: Record<CheckStatus, string> = { pass: '\u001b[32m', fail: '\u001b[31m', warn: '\u001b[33m', skip: '\u001b[2m' };
const RESET = '\u001b[0m';

function indentLines(text: string, indent: string, width: number): string[] {
  const out: string[] = [];
  for (const paragraph of text.split('\n')) {
    let line = '';
    for (const word of paragraph.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width - indent.length) {
        out.push(indent + line);
        line = word;
      } else line = line ? `${line} ${word}` : word;
    }
    out.push(indent + line);
  }
  return out;
}

export function renderText(report: DoctorReport, options: { color: boolean; width?: number }): string {
  const width = Math.max(80, Math.min(options.width ?? 110, 140));
  const paint = (status: CheckStatus, text: string) => (options.color ? `${COLOUR[status]}${text}${RESET}` : text);
  const labelWidth = Math.max(...report.checks.map((c) => c.title.length), 8) + 2;
  const lines: string[] = [`calpush doctor: ${report.mailbox} through ${report.target}`, ...report.context.map((c) => `  ${c}`), ''];
  for (const check of report.checks) {
    const head = `${paint(check.status, SYMBOL[check.status])} ${paint(check.status, check.title.padEnd(labelWidth))}`;
    const [first, ...rest] = indentLines(check.detail, '', width - labelWidth - 2);
    lines.push(`${head}${first ?? ''}`);
    for (const line of rest) lines.push(`${' '.repeat(labelWidth + 2)}${line}`);
    if (check.remedy && (check.status === 'fail' || check.status === 'warn')) {
      const remedyLines = indentLines(`fix: ${check.remedy}`, ' '.repeat(labelWidth + 2), width);
      lines.push(...remedyLines.map((l) => (options.color ? `${l.slice(0, labelWidth + 2)}${COLOUR[check.status]}${l.slice(labelWidth + 2)}${RESET}` : l)));
    }
  }
  const failed = report.checks.filter((c) => c.status === 'fail').length;
  const warned = report.checks.filter((c) => c.status === 'warn').length;
  lines.push('');
  if (failed) lines.push(paint('fail', `${failed} check${failed === 1 ? '' : 's'} failed${warned ? `, ${warned} warning${warned === 1 ? '' : 's'}` : ''}.`));
  else lines.push(paint('pass', `All checks passed${warned ? ` (${warned} warning${warned === 1 ? '' : 's'})` : ''}.`));
  return `${lines.join('\n')}\n`;
}

/**
 * Removes secrets from anything the doctor prints: the configured secret or key material, and anything that looks
 * like a JWT (an access token or a client assertion), whatever path it took into a message.
 */
export function redact(text: string, secrets: string[]): string {
  let out = text;
  for (const secret of secrets) {
    if (secret && secret.length >= 6) out = out.split(secret).join('[redacted]');
  }
  return out.replace(/eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g, '[token redacted]');
}

export function redactReport(report: DoctorReport, secrets: string[]): DoctorReport {
  const clean = (s: string) => redact(s, secrets);
  return {
    ...report,
    context: report.context.map(clean),
    checks: report.checks.map((c) => ({ ...c, detail: clean(c.detail), ...(c.remedy ? { remedy: clean(c.remedy) } : {}) })),
  };
}
