// `calpush demo --hybrid --json`: one deployment and one store over the sandbox's hybrid organisation and Radicale;
// events through serve's API and an import reach the on-premises (EWS), online (Graph) and CalDAV mailboxes, one
// mailbox moves on-premises → online and is adopted, and every count adds up with no duplicate.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { HybridDemoReport } from '../../src/cli/commands/demo-hybrid.ts';
import { runCli } from './harness.ts';

describe('calpush demo --hybrid', () => {
  it('--json lists per mailbox its target and the counts, and the move', async () => {
    const dir = join(mkdtempSync(join(tmpdir(), 'calpush-demo-hybrid-')), 'demo');
    const result = await runCli(['demo', '--hybrid', '--json', '--students', '4', '--rooms', '1', '--dir', dir]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as HybridDemoReport;
    expect(report.ok).toBe(true);
    expect(report.caldav).toMatch(/^Radicale at http:\/\/127\.0\.0\.1:\d+\/$/);
    const byTarget = (target: string) => report.mailboxes.filter((m) => m.target === target);
    // Every kind of target got mailboxes, and the API and the import each reached Graph and EWS.
    expect(byTarget('onprem').map((m) => m.source).sort()).toEqual(['api', 'import']);
    expect(byTarget('online').map((m) => m.source).sort()).toEqual(['api', 'api', 'import']);
    expect(byTarget('dav').map((m) => m.calendar)).toEqual(['lab-1@lab.contoso.edu', 'lab-2@lab.contoso.edu']);
    for (const mailbox of report.mailboxes) {
      expect(mailbox.desired, mailbox.calendar).toBeGreaterThan(0);
      expect([mailbox.delivered, mailbox.inCalendar, mailbox.duplicates], mailbox.calendar).toEqual([mailbox.desired, mailbox.desired, 0]);
    }
    expect(report.move).toMatchObject({ from: 'onprem', to: 'online', created: 1, updated: 1, duplicates: 0 });
    const moved = report.mailboxes.find((m) => m.calendar === report.move!.calendar)!;
    expect(moved.target).toBe('online');
    // Everything it had on-premises was found online and adopted; the new event was the only create.
    expect(report.move!.adopted).toBe(moved.desired - 1);
  }, 180_000);

  it('--hybrid with --serve is refused with exit 2', async () => {
    const result = await runCli(['demo', '--hybrid', '--serve', '--dir', join(mkdtempSync(join(tmpdir(), 'calpush-demo-hybrid-')), 'demo')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('calpush demo: --hybrid and --serve are separate demos: run one at a time\n');
  });
});
