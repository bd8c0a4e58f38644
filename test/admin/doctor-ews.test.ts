// calpush doctor with an EWS target, against the sandbox's EWS endpoint: delegate and impersonation rights per
// service account, a wrong password, and the probe item with --write.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor, type DoctorReport } from '../../src/admin/doctor/index.ts';
import { EWS_DELEGATE_ACCOUNTS, EWS_IMPERSONATION_ACCOUNT, EWS_NO_RIGHTS_ACCOUNT, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { TAG_PROPERTY_ID } from '../../src/model/tag.ts';
import { runAdminCli, tempDir } from './harness.ts';

let sandbox: SandboxInternals;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox?.close();
});

function ewsConfig(access: 'delegate' | 'impersonation', accounts: string[], password = EWS_PASSWORD): string {
  const dir = tempDir();
  writeFileSync(join(dir, 'ca.pem'), sandbox.caPem);
  writeFileSync(join(dir, 'ews.pw'), password, { mode: 0o600 });
  const path = join(dir, 'calpush.config.json');
  writeFileSync(
    path,
    JSON.stringify({
      instance: 'doctor-ews',
      timeZone: 'Europe/Amsterdam',
      target: { kind: 'ews', url: sandbox.ews.url, serverVersion: 'Exchange2016', access, auth: 'ntlm', accounts: accounts.map((username) => ({ username, password: { file: 'ews.pw' } })), caFile: 'ca.pem' },
    }),
  );
  return path;
}

const byId = (report: DoctorReport) => Object.fromEntries(report.checks.map((c) => [c.id, c]));
const tagged = (mailbox: string) => sandbox.listEvents(mailbox).filter((e) => (e.singleValueExtendedProperties ?? []).some((p) => p.id.toLowerCase() === TAG_PROPERTY_ID.toLowerCase()));

describe('calpush doctor, EWS target', () => {
  it('delegate, --write: every service account may open the calendar; the probe item is created and gone again', async () => {
    const mailbox = 's0001@contoso.edu';
    const before = JSON.stringify(sandbox.listEvents(mailbox));
    const result = await runAdminCli(['doctor', mailbox, '-c', ewsConfig('delegate', EWS_DELEGATE_ACCOUNTS), '--write', '--json']);
    const report = JSON.parse(result.stdout) as DoctorReport;
    expect(report.target).toBe('Exchange Web Services');
    expect(report.checks.filter((c) => c.status !== 'pass')).toEqual([]);
    expect(report.checks.filter((c) => c.id.startsWith('ews.access.')).length).toBe(EWS_DELEGATE_ACCOUNTS.length);
    expect(byId(report)['ews.write']!.detail).toContain('created a probe item (tagged)');
    expect(byId(report)['ews.cleanup']!.detail).toBe('deleted the probe item; it is gone');
    expect(result.code).toBe(0);
    expect(JSON.stringify(sandbox.listEvents(mailbox))).toBe(before);
    expect(tagged(mailbox)).toEqual([]);
    expect(result.stdout).not.toContain(EWS_PASSWORD);
  });

  it('delegate without a folder permission: ErrorAccessDenied with Add-MailboxFolderPermission', async () => {
    const report = await runDoctor({ configPath: ewsConfig('delegate', [EWS_DELEGATE_ACCOUNTS[0]!, EWS_NO_RIGHTS_ACCOUNT]), mailbox: 's0002@contoso.edu', write: true });
    const checks = byId(report);
    expect(checks['ews.access.0']!.status).toBe('pass');
    expect(checks['ews.access.1']!.status).toBe('fail');
    expect(checks['ews.access.1']!.code).toBe('ErrorAccessDenied');
    expect(checks['ews.access.1']!.remedy).toMatch(/Add-MailboxFolderPermission/);
    expect(report.ok).toBe(false);
  });

  it('impersonation outside the scope: ErrorImpersonateUserDenied with the ApplicationImpersonation fix; a room in scope passes', async () => {
    const path = ewsConfig('impersonation', [EWS_IMPERSONATION_ACCOUNT]);
    const student = await runDoctor({ configPath: path, mailbox: 's0003@contoso.edu', write: false });
    const denied = byId(student)['ews.access.0']!;
    expect(denied.status).toBe('fail');
    expect(denied.code).toBe('ErrorImpersonateUserDenied');
    expect(denied.remedy).toMatch(/New-ManagementRoleAssignment.*ApplicationImpersonation/);
    const room = sandbox.listMailboxes().find((m) => m.kind === 'room')!.address;
    const inScope = await runDoctor({ configPath: path, mailbox: room, write: false });
    expect(inScope.ok).toBe(true);
    expect(byId(inScope)['ews.write']!.status).toBe('skip');
  });

  it('a wrong password: HTTP 401 with what to check, and the password is never shown', async () => {
    const wrong = 'Not-The-Password-2026';
    const report = await runDoctor({ configPath: ewsConfig('delegate', [EWS_DELEGATE_ACCOUNTS[0]!], wrong), mailbox: 's0001@contoso.edu', write: false });
    const access = byId(report)['ews.access.0']!;
    expect(access.status).toBe('fail');
    expect(access.code).toBe('HTTP401');
    expect(access.remedy).toContain('password');
    expect(JSON.stringify(report)).not.toContain(wrong);
  });

  it('an invalid EWS section is reported by field', async () => {
    const dir = tempDir();
    const path = join(dir, 'c.json');
    writeFileSync(path, JSON.stringify({ target: { kind: 'ews', url: 'https://mail.contoso.edu/owa', access: 'delegate', auth: 'ntlm', accounts: [] } }));
    const report = await runDoctor({ configPath: path, mailbox: 's0001@contoso.edu', write: false });
    expect(report.checks[0]!.status).toBe('fail');
    expect(report.checks[0]!.detail).toContain('target.url');
  });
});
