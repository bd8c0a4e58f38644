// The EWS `target` section: defaults, every refusal with a clear message, secret references only.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createEwsTarget, ewsTargetSchema, EwsConfigError } from '../../src/targets/ews/config.ts';

const base = {
  kind: 'ews',
  url: 'https://mail.contoso.edu/EWS/Exchange.asmx',
  access: 'delegate',
  auth: 'ntlm',
  accounts: [{ username: 'CONTOSO\\svc-calpush1', password: { env: 'EWS_PW_1' } }],
};

function problems(raw: Record<string, unknown>): string[] {
  const parsed = ewsTargetSchema.safeParse(raw);
  if (parsed.success) return [];
  return parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('ewsTargetSchema', () => {
  it('accepts a minimal section and fills the defaults', () => {
    const parsed = ewsTargetSchema.parse(base);
    expect(parsed).toMatchObject({ serverVersion: 'Exchange2013', batchSize: 20, deleteType: 'HardDelete', accountConcurrency: 8, allowInsecureHttp: false, requestTimeoutMs: 60_000 });
    // No page size: the target asks for what the server gives (250 from Exchange 2013, 1000 for 2010).
    expect(parsed.pageSize).toBeUndefined();
  });

  it.each([
    [{ url: 'mail.contoso.edu' }, /url: .*not a URL/],
    [{ url: 'https://mail.contoso.edu/owa/' }, /url: must be the EWS endpoint ending in \/EWS\/Exchange.asmx/],
    [{ url: 'ftp://mail.contoso.edu/EWS/Exchange.asmx' }, /url: must be an https:\/\/ URL/],
    [{ url: 'http://mail.contoso.edu/EWS/Exchange.asmx' }, /url: is plain http.*allowInsecureHttp/],
    [{ url: 'http://mail.contoso.edu/EWS/Exchange.asmx', auth: 'basic' }, /url: is plain http: Basic authentication would send the password unencrypted/],
    [{ url: 'https://svc:pw@mail.contoso.edu/EWS/Exchange.asmx' }, /url: must not carry a user name or password/],
    [{ url: 'https://mail.contoso.edu/EWS/Exchange.asmx?x=1' }, /url: must not have a query/],
    [{ accounts: [] }, /accounts: needs at least one service account/],
    [{ accounts: undefined }, /accounts: needs at least one service account/],
    [{ accounts: [{ username: 'svc', password: 'plain-text' }] }, /accounts.0.password: must be \{"env": "VARIABLE"\} or \{"file": "path"\}/],
    [{ accounts: [{ username: '', password: { env: 'X' } }] }, /accounts.0.username: is required/],
    [{ accounts: [{ username: 'CONTOSO\\a', password: { env: 'X' } }, { username: 'contoso\\A', password: { env: 'Y' } }] }, /accounts.1.username: repeats accounts.0/],
    [{ accounts: [{ username: 'CONTOSO\\a', domain: 'CONTOSO', password: { env: 'X' } }] }, /accounts.0.domain: is given twice/],
    [{ serverVersion: 'Exchange2007' }, /serverVersion: must be one of Exchange2010_SP2, Exchange2013, Exchange2013_SP1, Exchange2016/],
    [{ access: 'owner' }, /access: must be "delegate".*or "impersonation"/],
    [{ auth: 'kerberos' }, /auth: must be "ntlm", "basic" or "oauth"/],
    [{ deleteType: 'MoveToDeletedItems' }, /deleteType: MoveToDeletedItems does not work for a delegate/],
    [{ auth: 'oauth' }, /oauth: is required with auth "oauth"/],
    [{ auth: 'oauth', accounts: undefined, oauth: { tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'S' } } } }, /access: must be "impersonation" with app-only OAuth/],
    [{ batchSize: 0 }, /batchSize/],
    [{ pageSize: 5000 }, /pageSize/],
    [{ extra: true }, /Unrecognized key/],
  ])('refuses %j', (override, message) => {
    const found = problems({ ...base, ...override });
    expect(found.join('\n')).toMatch(message);
  });

  it('accepts impersonation with a token file, and app-only OAuth with impersonation', () => {
    expect(problems({ ...base, access: 'impersonation', auth: 'oauth', accounts: undefined, oauth: { token: { file: 'token.txt' } } })).toEqual([]);
    expect(problems({ ...base, access: 'impersonation', auth: 'oauth', accounts: undefined, oauth: { tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'S' } } } })).toEqual([]);
    expect(problems({ ...base, url: 'http://127.0.0.1:8080/EWS/Exchange.asmx', allowInsecureHttp: true })).toEqual([]);
  });
});

describe('createEwsTarget', () => {
  it('resolves the secret references and builds the target', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'calpush-ews-config-'));
    writeFileSync(join(dir, 'pw2'), 'secret-two\n', { mode: 0o600 });
    writeFileSync(join(dir, 'ca.pem'), '-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n');
    process.env['CALPUSH_TEST_EWS_PW'] = 'secret-one';
    const parsed = ewsTargetSchema.parse({
      ...base,
      accounts: [
        { username: 'CONTOSO\\svc1', password: { env: 'CALPUSH_TEST_EWS_PW' } },
        { username: 'CONTOSO\\svc2', password: { file: 'pw2' }, weight: 2 },
      ],
    });
    const target = createEwsTarget(parsed, { instance: 'x', baseDir: dir, allDayTimeZone: 'Europe/Amsterdam' });
    expect(target.kind).toBe('ews');
    expect(target.batch?.maxOps).toBe(20);
    const account = target.serviceAccount('s0001@contoso.edu');
    expect(['CONTOSO\\svc1', 'CONTOSO\\svc2']).toContain(account);
    // Its lane in the scheduler: the account, with the pool's limits.
    expect(target.laneFor('s0001@contoso.edu')).toEqual({ key: `ews:${new URL(base.url).host}:${account.toLowerCase()}`, concurrency: 8, throttledRetries: 3 });
    await target.close();
  });

  it('names the reference that cannot be read', () => {
    const parsed = ewsTargetSchema.parse({ ...base, accounts: [{ username: 'CONTOSO\\svc1', password: { env: 'CALPUSH_TEST_EWS_UNSET' } }] });
    expect(() => createEwsTarget(parsed, { instance: 'x', baseDir: '/', allDayTimeZone: 'UTC' })).toThrow(EwsConfigError);
    expect(() => createEwsTarget(parsed, { instance: 'x', baseDir: '/', allDayTimeZone: 'UTC' })).toThrow(/target.accounts.0.password: environment variable CALPUSH_TEST_EWS_UNSET is not set/);
    const withCa = ewsTargetSchema.parse({ ...base, caFile: 'missing.pem' });
    process.env['EWS_PW_1'] = 'x';
    // A folder that does not exist, inside the temporary directory (the suite refuses reads outside the repository and it).
    const nowhere = join(tmpdir(), 'calpush-no-such-folder');
    expect(() => createEwsTarget(withCa, { instance: 'x', baseDir: nowhere, allDayTimeZone: 'UTC' })).toThrow(/target.caFile: cannot read/);
  });
});
