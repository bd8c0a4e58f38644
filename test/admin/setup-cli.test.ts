// calpush setup on the command line: values from flags and the config, --out writing a file Windows PowerShell
// 5.1 reads as UTF-8, and mistakes refused before any script is written.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { psQuote } from '../../src/admin/powershell.ts';
import { parsePowerShell, syntaxErrors } from './powershell-ast.ts';
import { runAdminCli, tempDir } from './harness.ts';

describe('calpush setup', () => {
  it('fills a graph-app script from the config: tenant, client id, certificate file and the first mailbox to test', async () => {
    const dir = tempDir();
    const config = {
      target: { kind: 'graph', tenantId: '2f6d1e3a-7c4b-4e8f-9a15-0c3b5d7e9f21', clientId: '5a8e3c71-2d94-4b6f-8e0a-13c7f9d2b456', credential: { kind: 'certificate', privateKey: { file: 'app-key.pem' }, certificate: { file: 'app-cert.pem' } } },
      mailboxes: ['room-main-101@contoso.edu'],
    };
    writeFileSync(join(dir, 'calpush.config.json'), JSON.stringify(config));
    const result = await runAdminCli(['setup', 'graph-app', '-c', join(dir, 'calpush.config.json'), '--scope-group', 'calpush-rooms@contoso.edu', '--scope-group', 'calpush-rooms-2@contoso.edu']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const script = result.stdout;
    expect(script).toContain("[string] $TenantId = '2f6d1e3a-7c4b-4e8f-9a15-0c3b5d7e9f21'");
    expect(script).toContain("[string] $ClientId = '5a8e3c71-2d94-4b6f-8e0a-13c7f9d2b456'");
    expect(script).toContain(`[string] $CertificatePath = ${psQuote(join(dir, 'app-cert.pem'))}`);
    expect(script).toContain("[string] $TestMailbox = 'room-main-101@contoso.edu'");
    expect(script).toContain("[string[]] $ScopeGroup = @('calpush-rooms@contoso.edu', 'calpush-rooms-2@contoso.edu')");
    expect(syntaxErrors(await parsePowerShell(script))).toEqual([]);
  });

  it('graph-delegated: the redirect URI is calpush serve’s consent callback at server.publicUrl, and they must agree', async () => {
    const dir = tempDir();
    const config = {
      store: { encryptionKeys: [{ id: 'k1', key: { env: 'CALPUSH_STORE_KEY' } }] },
      server: { publicUrl: 'https://calpush.contoso.edu' },
      target: { kind: 'graph-delegated', tenantId: '2f6d1e3a-7c4b-4e8f-9a15-0c3b5d7e9f21', clientId: '3e7d9a12-6b4f-4c8e-a1d5-7f2b9c0e4d63', credential: { kind: 'secret', secret: { env: 'CALPUSH_SECRET' } } },
    };
    writeFileSync(join(dir, 'calpush.config.json'), JSON.stringify(config));
    const result = await runAdminCli(['setup', 'graph-delegated', '-c', join(dir, 'calpush.config.json')]);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain("[string] $RedirectUri = 'https://calpush.contoso.edu/connect/callback'");
    expect(result.stdout).toContain("[string] $ClientId = '3e7d9a12-6b4f-4c8e-a1d5-7f2b9c0e4d63'");
    const disagreeing = await runAdminCli(['setup', 'graph-delegated', '-c', join(dir, 'calpush.config.json'), '--redirect-uri', 'https://other.contoso.edu/connect/callback']);
    expect(disagreeing.code).toBe(2);
    expect(disagreeing.stderr).toContain('does not agree with the config’s server.publicUrl');
  });

  it('--out writes UTF-8 with a byte-order mark and CRLF line ends', async () => {
    const dir = tempDir();
    const out = join(dir, 'rooms.ps1');
    const result = await runAdminCli(['setup', 'rooms', '--rooms-csv', 'C:\\calpush\\Zoë’s rooms.csv', '--name', 'Gebäude A', '--out', out]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`wrote ${out}`);
    const bytes = readFileSync(out);
    expect([...bytes.subarray(0, 3)]).toEqual([0xef, 0xbb, 0xbf]);
    const text = bytes.subarray(3).toString('utf8');
    expect(text).toContain('\r\n');
    expect(text.replace(/\r\n/g, '')).not.toContain('\n');
    expect(text).toContain("[string] $RoomsCsv = 'C:\\calpush\\Zoë’’s rooms.csv'");
    expect(text).toContain("[string] $Name = 'Gebäude A'");
  });

  it('refuses mistakes with exit status 2 and writes no script', async () => {
    const missingGroup = await runAdminCli(['setup', 'graph-app']);
    expect(missingGroup.code).toBe(2);
    expect(missingGroup.stderr).toContain('--scope-group is required');
    expect(missingGroup.stdout).toBe('');
    const insecure = await runAdminCli(['setup', 'graph-delegated', '--redirect-uri', 'http://calpush.contoso.edu/consent']);
    expect(insecure.code).toBe(2);
    expect(insecure.stderr).toContain('https');
    // The redirect URI is calpush serve's consent callback, at server.publicUrl when a config names one.
    const elsewhere = await runAdminCli(['setup', 'graph-delegated', '--redirect-uri', 'https://calpush.contoso.edu/consent']);
    expect(elsewhere.code).toBe(2);
    expect(elsewhere.stderr).toContain('must end in /connect/callback');
    // An access policy names one group; Exchange Online room lists have no service account to manage them.
    const twoPolicyGroups = await runAdminCli(['setup', 'graph-app', '--scoping', 'access-policy', '--scope-group', 'a@contoso.edu', '--scope-group', 'b@contoso.edu']);
    expect(twoPolicyGroups.code).toBe(2);
    expect(twoPolicyGroups.stderr).toContain('--scoping access-policy takes one --scope-group');
    const onlineManager = await runAdminCli(['setup', 'rooms', '--rooms-csv', 'rooms.csv', '--manager', 'svc-calpush@contoso.edu']);
    expect(onlineManager.code).toBe(2);
    expect(onlineManager.stderr).toContain('--manager is for --exchange onprem');
    expect(onlineManager.stdout).toBe('');
    const lineBreak = await runAdminCli(['setup', 'equipment', '--name', 'VMR\nRemove-Item', '--alias', 'vmr']);
    expect(lineBreak.code).toBe(2);
    expect(lineBreak.stderr).toContain('control characters');
  }, 120_000);
});
