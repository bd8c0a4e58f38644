// `calpush sync` exit codes, as scripts rely on them: 4 when a mailbox was still being delivered by another
// process when --busy-wait ran out (recorded, not confirmed), below the codes for failures.
import { describe, expect, it } from 'vitest';
import { exitCodeFor } from '../../src/cli/commands/sync.ts';
import type { MailboxSummary } from '../../src/engine/summary.ts';
import type { SyncResult } from '../../src/app/sync.ts';

const mailbox = (status: MailboxSummary['status'], failed = 0): MailboxSummary => ({ calendar: `${status}@contoso.edu`, status, created: 0, updated: 0, deleted: 0, unchanged: 0, failed, requests: 0, failures: [] });
const result = (mailboxes: MailboxSummary[], extra: { rejected?: number; fatal?: boolean; storeFatal?: boolean } = {}): SyncResult => ({
  input: { files: 1, records: 1, accepted: 1, rejected: extra.rejected ?? 0, errors: [], warnings: [] },
  desired: { added: 0, changed: 0, removed: 0, unchanged: 0, kept: 0 },
  delivery: {
    mailboxes,
    totals: { created: 0, updated: 0, deleted: 0, unchanged: 0, failed: mailboxes.reduce((n, m) => n + m.failed, 0), requests: 0, failedMailboxes: mailboxes.filter((m) => m.status === 'failed').length },
    ...(extra.fatal ? { fatal: { code: 'InvalidClientSecret', message: 'bad secret' } } : {}),
    ...(extra.storeFatal ? { fatal: { code: 'StoreFull', message: 'the disk is full', source: 'store' as const } } : {}),
  },
});

describe('calpush sync exit codes', () => {
  it('0 delivered, 4 still busy elsewhere, 1 failed or rejected, 3 fatal, 5 the store failed', () => {
    expect(exitCodeFor(result([mailbox('ok')]))).toBe(0);
    expect(exitCodeFor(result([mailbox('ok'), mailbox('busy')]))).toBe(4);
    expect(exitCodeFor(result([mailbox('busy'), mailbox('failed')]))).toBe(1);
    expect(exitCodeFor(result([mailbox('busy')], { rejected: 1 }))).toBe(1);
    expect(exitCodeFor(result([mailbox('ok', 2)]))).toBe(1);
    expect(exitCodeFor(result([mailbox('busy')], { fatal: true }))).toBe(3);
    expect(exitCodeFor(result([mailbox('ok')], { storeFatal: true }))).toBe(5);
  });
});
