// calpush doctor against the sandbox, in each way a setup goes wrong — and the happy path with --write, which
// leaves the mailbox exactly as it found it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../src/admin/certificate.ts';
import { runDoctor, renderText, type DoctorReport } from '../../src/admin/doctor/index.ts';
import { redact } from '../../src/admin/doctor/report.ts';
import { NO_PERMISSION_CLIENT_ID, NO_PERMISSION_CLIENT_SECRET, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { TAG_PROPERTY_ID } from '../../src/model/tag.ts';
import { runAdminCli, sandboxConfig } from './harness.ts';

let sandbox: SandboxInternals;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox?.close();
});

function check(report: DoctorReport, id: string) {
  const found = report.checks.find((c) => c.id === id);
  if (!found) throw new Error(`no check ${id} in ${report.checks.map((c) => c.id).join(', ')}`);
  return found;
}

function statuses(report: DoctorReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.id, c.status]));
}

/** Nothing secret in anything the doctor says. */
function expectNoSecrets(output: string, ...secrets: string[]) {
  expect(output).not.toMatch(/eyJ[A-Za-z0-9_-]{8,}\./);
  expect(output).not.toContain('PRIVATE KEY');
  for (const secret of secrets) expect(output).not.toContain(secret);
}

const tagged = (mailbox: string) => sandbox.listEvents(mailbox).filter((e) => (e.singleValueExtendedProperties ?? []).some((p) => p.id.toLowerCase() === TAG_PROPERTY_ID.toLowerCase()));

describe('calpush doctor', () => {
  it('happy path with --write: every check passes, the probe event is gone and no other event changed', async () => {
    const mailbox = 's0001@contoso.edu';
    const before = JSON.stringify(sandbox.listEvents(mailbox));
    expect(sandbox.listEvents(mailbox).length).toBeGreaterThan(0); // a foreign appointment is there
    sandbox.resetStats();
    const { path } = sandboxConfig(sandbox);
    const result = await runAdminCli(['doctor', mailbox, '-c', path, '--write']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('✔ config');
    expect(result.stdout).toContain('All checks passed.');
    expect(result.stdout).not.toContain('✘');
    expect(result.stdout).not.toContain('\u001b['); // no colour when not on a terminal
    const out = result.stdout.replace(/\s+/g, ' ');
    expect(out).toMatch(/✔ write created a probe event \(tagged, transactionId [0-9a-f-]{36}\)/);
    expect(out).toMatch(/✔ cleanup deleted the probe event; it is gone/);
    expectNoSecrets(result.stdout + result.stderr, sandbox.demoCredentials.clientSecret);
    expect(JSON.stringify(sandbox.listEvents(mailbox))).toBe(before);
    expect(tagged(mailbox)).toEqual([]);
    const stats = sandbox.stats();
    expect(stats.byMethod['POST']).toBe(1);
    expect(stats.byMethod['DELETE']).toBe(1);
  });

  it('--json gives the same checks as data', async () => {
    const { path } = sandboxConfig(sandbox, { credential: { kind: 'certificate', keyPem: sandbox.demoCredentials.privateKeyPem, certPem: sandbox.demoCredentials.certificatePem } });
    const result = await runAdminCli(['doctor', 't0001@contoso.edu', '-c', path, '--json']);
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as DoctorReport;
    expect(report.ok).toBe(true);
    expect(report.target).toBe('Microsoft Graph');
    expect(statuses(report)).toEqual({
      'graph.config': 'pass',
      'graph.credential': 'pass',
      'graph.dns.0': 'pass',
      'graph.tls.0': 'pass',
      'graph.token': 'pass',
      'graph.roles': 'pass',
      'graph.mailbox': 'pass',
      'graph.calendar': 'pass',
      'graph.write': 'skip',
    });
    expect(check(report, 'graph.credential').detail).toContain(`SHA-1 thumbprint ${sandbox.demoCredentials.thumbprintSha1}`);
    expectNoSecrets(result.stdout, sandbox.demoCredentials.privateKeyPem.split('\n')[1]!);
  });

  it('wrong secret: AADSTS7000215 with the fix, and nothing after the token is tried', async () => {
    const wrong = 'cpS8Q~wrong.secret_value.for-this-test';
    const { path } = sandboxConfig(sandbox, { credential: { kind: 'secret', secret: wrong } });
    const report = await runDoctor({ configPath: path, mailbox: 's0002@contoso.edu', write: true });
    expect(report.ok).toBe(false);
    const token = check(report, 'graph.token');
    expect(token.status).toBe('fail');
    expect(token.code).toBe('AADSTS7000215');
    expect(token.remedy).toContain('the client secret is wrong');
    expect(check(report, 'graph.mailbox').status).toBe('skip');
    expect(check(report, 'graph.write').status).toBe('skip');
    expectNoSecrets(JSON.stringify(report), wrong);
  });

  it('a secret ID instead of its value is pointed out', async () => {
    const { path } = sandboxConfig(sandbox, { credential: { kind: 'secret', secret: '0b2a4c6e-8f10-4a3b-9c5d-7e6f8a9b0c1d' } });
    const report = await runDoctor({ configPath: path, mailbox: 's0002@contoso.edu', write: false });
    expect(check(report, 'graph.credential').status).toBe('warn');
    expect(check(report, 'graph.token').remedy).toContain('looks like the Secret ID');
  });

  it('wrong certificate: AADSTS700027, with the thumbprint to look for in the portal', async () => {
    const other = createSelfSignedCertificate({ subject: 'CN=not registered', keySize: 2048, days: 90 });
    const { path } = sandboxConfig(sandbox, { credential: { kind: 'certificate', keyPem: other.privateKeyPem, certPem: other.certificatePem } });
    const report = await runDoctor({ configPath: path, mailbox: 's0002@contoso.edu', write: false });
    expect(check(report, 'graph.credential').status).toBe('pass');
    const token = check(report, 'graph.token');
    expect(token.status).toBe('fail');
    expect(token.code).toBe('AADSTS700027');
    expect(token.remedy).toContain('the certificate is not registered on the app');
    expect(token.remedy).toContain(other.sha1);
    expectNoSecrets(JSON.stringify(report), other.privateKeyPem.split('\n')[1]!);
  });

  it('a key that does not belong to the certificate is caught before any request', async () => {
    const a = createSelfSignedCertificate({ subject: 'CN=a', keySize: 2048, days: 30 });
    const { path } = sandboxConfig(sandbox, { credential: { kind: 'certificate', keyPem: a.privateKeyPem, certPem: sandbox.demoCredentials.certificatePem } });
    const report = await runDoctor({ configPath: path, mailbox: 's0002@contoso.edu', write: false });
    expect(check(report, 'graph.credential').status).toBe('fail');
    expect(check(report, 'graph.credential').detail).toContain('the private key does not belong to this certificate');
    expect(check(report, 'graph.token').status).toBe('skip');
  });

  it('missing role (an app without permissions): the token has no Calendars role, the mailbox answers 403 with both ways out', async () => {
    const { path } = sandboxConfig(sandbox, { clientId: NO_PERMISSION_CLIENT_ID, credential: { kind: 'secret', secret: NO_PERMISSION_CLIENT_SECRET } });
    const report = await runDoctor({ configPath: path, mailbox: 's0003@contoso.edu', write: true });
    expect(report.ok).toBe(false);
    expect(check(report, 'graph.token').status).toBe('pass');
    const roles = check(report, 'graph.roles');
    expect(roles.status).toBe('warn');
    expect(roles.detail).toContain('no Calendars application permission in the token');
    const mailbox = check(report, 'graph.mailbox');
    expect(mailbox.status).toBe('fail');
    expect(mailbox.code).toBe('ErrorAccessDenied');
    expect(mailbox.remedy).toContain('the token carries no Calendars.ReadWrite application permission');
    expect(mailbox.remedy).toContain(`Test-ServicePrincipalAuthorization -Identity ${NO_PERMISSION_CLIENT_ID} -Resource s0003@contoso.edu`);
    expect(mailbox.remedy).toContain('grant admin consent for the Microsoft Graph application permission Calendars.ReadWrite');
    expect(check(report, 'graph.write').status).toBe('skip');
  });

  it('mailbox out of scope: 403 "Access to OData is disabled." with Test-ServicePrincipalAuthorization / Test-ApplicationAccessPolicy', async () => {
    const { path } = sandboxConfig(sandbox);
    const report = await runDoctor({ configPath: path, mailbox: 'outofscope@contoso.edu', write: true });
    expect(statuses(report)['graph.roles']).toBe('pass');
    const mailbox = check(report, 'graph.mailbox');
    expect(mailbox.status).toBe('fail');
    expect(mailbox.detail).toBe('ErrorAccessDenied: Access to OData is disabled.');
    expect(mailbox.remedy).toContain('outside its mailbox scope');
    expect(mailbox.remedy).toContain(`Test-ServicePrincipalAuthorization -Identity ${sandbox.demoCredentials.clientId} -Resource outofscope@contoso.edu`);
    expect(mailbox.remedy).toContain(`Test-ApplicationAccessPolicy -Identity outofscope@contoso.edu -AppId ${sandbox.demoCredentials.clientId}`);
    expect(sandbox.listEvents('outofscope@contoso.edu')).toEqual([]);
  });

  it('unknown mailbox: 404 ErrorInvalidUser', async () => {
    const { path } = sandboxConfig(sandbox);
    const report = await runDoctor({ configPath: path, mailbox: 'nomailbox@contoso.edu', write: false });
    const mailbox = check(report, 'graph.mailbox');
    expect(mailbox.status).toBe('fail');
    expect(mailbox.code).toBe('ErrorInvalidUser');
    expect(mailbox.remedy).toContain('no such user or mailbox');
  });

  it('unlicensed mailbox: 404 MailboxNotEnabledForRESTAPI with the licence fix', async () => {
    const { path } = sandboxConfig(sandbox);
    const report = await runDoctor({ configPath: path, mailbox: 'unlicensed@contoso.edu', write: false });
    const mailbox = check(report, 'graph.mailbox');
    expect(mailbox.status).toBe('fail');
    expect(mailbox.code).toBe('MailboxNotEnabledForRESTAPI');
    expect(mailbox.remedy).toContain('no Exchange Online licence');
  });

  it('TLS not trusted (no caFile): the TLS line fails with the caFile fix, and so does the token, in sync’s words', async () => {
    const { path } = sandboxConfig(sandbox, { caFile: false });
    sandbox.resetStats();
    const result = await runAdminCli(['doctor', 's0004@contoso.edu', '-c', path], { env: { NODE_EXTRA_CA_CERTS: '' } });
    expect(result.code).toBe(1);
    const out = result.stdout.replace(/\s+/g, ' ');
    expect(out).toMatch(/✘ TLS 127\.0\.0\.1:\d+: the certificate \(calpush sandbox, issued by calpush sandbox, valid until [\d-]+\) is not trusted: DEPTH_ZERO_SELF_SIGNED_CERT/);
    expect(out).toContain('fix: point the config at the CA that signed it: "caFile"');
    expect(out).toMatch(/✘ token could not get a token: the TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)/);
    expect(out).toMatch(/fix: set target\.caFile to the PEM file of the CA that signs 127\.0\.0\.1:\d+'s certificate/);
    expect(result.stdout).toContain('2 checks failed.');
    expect(sandbox.stats().tokenRequests).toBe(0);
  });

  it('a caFile that does not sign the server certificate is named as the culprit', async () => {
    const { path } = sandboxConfig(sandbox, { target: { caFile: 'cert.pem' }, credential: { kind: 'certificate', keyPem: sandbox.demoCredentials.privateKeyPem, certPem: sandbox.demoCredentials.certificatePem } });
    const report = await runDoctor({ configPath: path, mailbox: 's0004@contoso.edu', write: false });
    const tls = check(report, 'graph.tls.0');
    expect(tls.status).toBe('fail');
    expect(tls.remedy).toContain('the configured caFile does not sign this certificate');
  });

  it('an endpoint where nothing listens: connection refused', async () => {
    const closed = await startSandbox();
    const url = closed.url;
    await closed.close();
    const { path } = sandboxConfig(sandbox, { target: { authorityHost: url, graphBaseUrl: `${url}/v1.0` } });
    const report = await runDoctor({ configPath: path, mailbox: 's0004@contoso.edu', write: false });
    const tls = check(report, 'graph.tls.0');
    expect(tls.status).toBe('fail');
    expect(tls.code).toBe('ECONNREFUSED');
    expect(check(report, 'graph.token')).toMatchObject({ status: 'fail', code: 'ECONNREFUSED' });
    expect(check(report, 'graph.roles').status).toBe('skip');
  });

  it('an invalid config or mailbox address fails the first line', async () => {
    const { dir } = sandboxConfig(sandbox);
    const missing = await runDoctor({ configPath: `${dir}/nope.json`, mailbox: 's0001@contoso.edu', write: false });
    expect(missing.ok).toBe(false);
    expect(missing.checks[0]!.detail).toContain('cannot read config');
    const { path } = sandboxConfig(sandbox, { extra: { mailboxes: ['s0001@contoso.edu'] } });
    const notAddress = await runDoctor({ configPath: path, mailbox: 'not-an-address', write: false });
    expect(check(notAddress, 'graph.mailbox-address').status).toBe('fail');
    const notListed = await runDoctor({ configPath: path, mailbox: 's0005@contoso.edu', write: false });
    expect(check(notListed, 'graph.mailboxes').status).toBe('warn');
    expect(notListed.ok).toBe(true);
  });
});

describe('doctor output', () => {
  const report: DoctorReport = {
    ok: false,
    mailbox: 'a@b',
    target: 'Microsoft Graph',
    config: 'c.json',
    context: [],
    checks: [
      { id: 'x', title: 'token', status: 'pass', detail: 'fine' },
      { id: 'y', title: 'mailbox', status: 'fail', detail: 'ErrorAccessDenied', remedy: 'do this' },
    ],
  };

  it('colours green and red lines on a terminal only', () => {
    const coloured = renderText(report, { color: true });
    expect(coloured).toContain('\u001b[32m✔\u001b[0m');
    expect(coloured).toContain('\u001b[31m✘\u001b[0m');
    expect(renderText(report, { color: false })).not.toContain('\u001b[');
    expect(renderText(report, { color: false })).toContain('fix: do this');
  });

  it('redacts tokens and configured secrets from any text', () => {
    const jwt = 'eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJodHRwczovL2dyYXBoIn0.c2lnbmF0dXJlLXZhbHVl';
    expect(redact(`Bearer ${jwt} and s3cr3t-value`, ['s3cr3t-value'])).toBe('Bearer [token redacted] and [redacted]');
  });
});
