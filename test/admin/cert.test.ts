// calpush cert create: the files, the certificate's properties, the PFX, what it prints — and that msal-node
// authenticates against the sandbox with the certificate once it is registered on the app.
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateRequestError, certificatePaths, createSelfSignedCertificate, parseSubject, writeCertificateFiles } from '../../src/admin/certificate.ts';
import { graphTarget, parseConfig, type Config } from '../../src/app/config.ts';
import { readCa as readCaFile, resolveGraphCredential as resolveCredential } from '../../src/targets/graph/config.ts';
import { defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { certificateThumbprints, GraphTokenProvider } from '../../src/targets/graph/auth.ts';
import { HttpClient } from '../../src/targets/http.ts';
import { TargetError } from '../../src/targets/target.ts';
import { decodeJwtPayload } from '../../src/admin/doctor/jwt.ts';
import { runAdminCli, tempDir } from './harness.ts';

const readCa = (config: Config, dir: string) => readCaFile(graphTarget(config), dir);
const resolveGraphCredential = (config: Config, dir: string) => resolveCredential(graphTarget(config), dir);

const CERT_APP = '3e7c9a10-5b2d-4f6e-8a1c-0d9e8f7a6b5c';
const OTHER_APP = '4f8d0b21-6c3e-4a7f-9b2d-1e0f9a8b7c6d';
const PASSPHRASE = 'correct horse battery staple';

interface CertJson {
  files: { privateKey: string; certificate: string; pfx?: string };
  subject: string;
  keySize: number;
  notBefore: string;
  notAfter: string;
  thumbprints: { sha1: string; sha256: string };
  credential: { kind: 'certificate'; privateKey: { file: string }; certificate: { file: string } };
  upload: { portal: string; powershell: string[]; azureCli: string };
}

describe('calpush cert create', () => {
  let dir: string;
  let made: CertJson;
  let stdout: string;
  let stderr: string;

  beforeAll(async () => {
    dir = tempDir();
    const result = await runAdminCli(
      ['cert', 'create', '--out-dir', dir, '--name', 'app', '--subject', 'CN=calpush test, O=Contoso University, C=NL', '--key-size', '3072', '--days', '30', '--passphrase-env', 'CALPUSH_TEST_PFX', '--client-id', CERT_APP, '--json'],
      { env: { CALPUSH_TEST_PFX: PASSPHRASE } },
    );
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    stdout = result.stdout;
    stderr = result.stderr;
    made = JSON.parse(result.stdout) as CertJson;
  });

  it('writes the private key (0600), the certificate and the PFX (0600)', () => {
    expect(made.files).toEqual({ privateKey: join(dir, 'app-key.pem'), certificate: join(dir, 'app-cert.pem'), pfx: join(dir, 'app.pfx') });
    expect(statSync(made.files.privateKey).mode & 0o777).toBe(0o600);
    expect(statSync(made.files.pfx!).mode & 0o777).toBe(0o600);
    expect(readFileSync(made.files.privateKey, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    expect(readFileSync(made.files.certificate, 'utf8')).toMatch(/^-----BEGIN CERTIFICATE-----\n/);
  });

  it('makes a self-signed RSA certificate with the subject, key size, SHA-256 signature and validity asked for', () => {
    const pem = readFileSync(made.files.certificate, 'utf8');
    const x509 = new X509Certificate(pem);
    expect(x509.subject).toBe('CN=calpush test\nO=Contoso University\nC=NL');
    expect(x509.issuer).toBe(x509.subject);
    expect(x509.verify(x509.publicKey)).toBe(true);
    expect(x509.checkPrivateKey(createPrivateKey(readFileSync(made.files.privateKey, 'utf8')))).toBe(true);
    expect(x509.ca).toBe(false);
    expect(createPublicKey(pem).asymmetricKeyDetails?.modulusLength).toBe(3072);
    const forgeCert = forge.pki.certificateFromPem(pem);
    expect(forgeCert.siginfo.algorithmOid).toBe(forge.pki.oids['sha256WithRSAEncryption']);
    const days = (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 86_400_000;
    expect(days).toBeCloseTo(30, 0);
    expect(Date.parse(x509.validFrom)).toBeLessThanOrEqual(Date.now());
    expect(made.thumbprints).toEqual(certificateThumbprints(pem));
    expect(made.thumbprints.sha1).toMatch(/^[0-9A-F]{40}$/);
    expect(made.thumbprints.sha256).toMatch(/^[0-9A-F]{64}$/);
  });

  it('protects the PFX with the passphrase, which it never prints', () => {
    const pfx = readFileSync(made.files.pfx!);
    expect(() => createSecureContext({ pfx, passphrase: PASSPHRASE })).not.toThrow();
    expect(() => createSecureContext({ pfx, passphrase: 'wrong passphrase' })).toThrow();
    const p12 = forge.pkcs12.pkcs12FromAsn1(forge.asn1.fromDer(pfx.toString('binary')), PASSPHRASE);
    const bags = p12.getBags({ bagType: forge.pki.oids['certBag']! })[forge.pki.oids['certBag']!]!;
    expect(forge.pki.certificateToPem(bags[0]!.cert!).replace(/\r\n/g, '\n')).toBe(readFileSync(made.files.certificate, 'utf8'));
    expect(stdout + stderr).not.toContain(PASSPHRASE);
    expect(stdout).not.toContain('PRIVATE KEY');
  });

  it('gives the upload commands and the config block', () => {
    expect(made.upload.powershell.join('\n')).toContain('Update-MgApplication -ApplicationId $app.Id -KeyCredentials');
    expect(made.upload.powershell.join('\n')).toContain(`'${CERT_APP}'`);
    expect(made.upload.azureCli).toBe(`az ad app credential reset --id ${CERT_APP} --cert "@${made.files.certificate}" --append`);
    expect(made.upload.portal).toContain('Certificates & secrets');
    expect(made.credential).toEqual({ kind: 'certificate', privateKey: { file: made.files.privateKey }, certificate: { file: made.files.certificate } });
  });

  describe('against the sandbox', () => {
    let sandbox: SandboxInternals;
    beforeAll(async () => {
      const seed = defaultTenantSeed({ students: 3, staff: 1, rooms: 1 });
      const other = createSelfSignedCertificate({ subject: 'CN=another app', keySize: 2048, days: 30 });
      sandbox = await startSandbox({
        tenant: {
          ...seed,
          apps: [
            ...seed.apps,
            { clientId: CERT_APP, displayName: 'calpush cert test', certificates: [readFileSync(made.files.certificate, 'utf8')], roles: ['Calendars.ReadWrite'], scope: { kind: 'all' } },
            { clientId: OTHER_APP, displayName: 'app with another certificate', certificates: [other.certificatePem], roles: ['Calendars.ReadWrite'], scope: { kind: 'all' } },
          ],
        },
      });
    });
    afterAll(async () => {
      await sandbox?.close();
    });

    function configFor(clientId: string) {
      writeFileSync(join(dir, 'ca.pem'), sandbox.caPem);
      const raw = {
        instance: 'cert-test',
        target: { kind: 'graph', tenantId: sandbox.tenantId, clientId, credential: made.credential, authorityHost: sandbox.url, graphBaseUrl: sandbox.graphBaseUrl, caFile: join(dir, 'ca.pem') },
      };
      const path = join(dir, `config-${clientId}.json`);
      writeFileSync(path, JSON.stringify(raw));
      return { raw, path, config: parseConfig(raw) };
    }

    it('msal-node gets a token with the certificate once it is registered on the app', async () => {
      const { config } = configFor(CERT_APP);
      const http = new HttpClient({ caPem: readCa(config, dir)! });
      try {
        const provider = new GraphTokenProvider({ ...graphTarget(config), credential: resolveGraphCredential(config, dir) }, http);
        const claims = decodeJwtPayload(await provider.token())!;
        expect(claims['appid']).toBe(CERT_APP);
        expect(claims['appidacr']).toBe('2'); // certificate
        expect(claims['roles']).toEqual(['Calendars.ReadWrite']);
      } finally {
        http.close();
      }
    });

    it('is refused (AADSTS700027) by an app it is not registered on', async () => {
      const { config } = configFor(OTHER_APP);
      const http = new HttpClient({ caPem: readCa(config, dir)! });
      try {
        const provider = new GraphTokenProvider({ ...graphTarget(config), credential: resolveGraphCredential(config, dir) }, http);
        const error = await provider.token().then(() => undefined, (e: unknown) => e);
        expect(error).toBeInstanceOf(TargetError);
        expect((error as TargetError).code).toBe('AADSTS700027');
      } finally {
        http.close();
      }
    });

    it('passes calpush doctor --write end to end', async () => {
      const { path } = configFor(CERT_APP);
      const result = await runAdminCli(['doctor', 's0001@contoso.edu', '-c', path, '--write']);
      expect(result.stdout.replace(/\s+/g, ' ')).toContain(`SHA-1 thumbprint ${made.thumbprints.sha1}`);
      expect(result.stdout).toContain('All checks passed');
      expect(result.code).toBe(0);
    });
  });
});

describe('calpush cert create, text output and refusals', () => {
  it('prints thumbprints, the upload commands and a config block relative to the config', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'calpush.config.json'), JSON.stringify({ target: { kind: 'graph', tenantId: 'contoso.onmicrosoft.com', clientId: CERT_APP, credential: { kind: 'secret', secret: { env: 'X' } } } }));
    const result = await runAdminCli(['cert', 'create', '--out-dir', join(dir, 'certs'), '--no-pfx', '-c', join(dir, 'calpush.config.json')]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/SHA-1 thumbprint\s+[0-9A-F]{40}/);
    expect(result.stdout).toMatch(/SHA-256 thumbprint\s+[0-9A-F]{64}/);
    expect(result.stdout).toContain('RSA 2048, SHA-256');
    expect(result.stdout).toContain(`Get-MgApplication -Filter ("appId eq '{0}'" -f '${CERT_APP}')`);
    expect(result.stdout).toContain('Update-MgApplication -ApplicationId $app.Id -KeyCredentials');
    expect(result.stdout).toContain(`az ad app credential reset --id ${CERT_APP} --cert "@`);
    expect(result.stdout).toContain('"credential": {"kind":"certificate","privateKey":{"file":"certs/calpush-app-key.pem"},"certificate":{"file":"certs/calpush-app-cert.pem"}}');
    expect(result.stdout).not.toContain('.pfx');
    // The config block works with the config it names.
    const config = parseConfig({ target: { kind: 'graph', tenantId: 't', clientId: CERT_APP, credential: { kind: 'certificate', privateKey: { file: 'certs/calpush-app-key.pem' }, certificate: { file: 'certs/calpush-app-cert.pem' } } } });
    expect(resolveGraphCredential(config, dir).kind).toBe('certificate');
  }, 120_000);

  it('asks for a passphrase it cannot get without a terminal, refuses to overwrite, and checks its flags', async () => {
    const dir = tempDir();
    const noTty = await runAdminCli(['cert', 'create', '--out-dir', dir]);
    expect(noTty.code).toBe(2);
    expect(noTty.stderr).toContain('--passphrase-env');
    const first = await runAdminCli(['cert', 'create', '--out-dir', dir, '--no-pfx']);
    expect(first.code).toBe(0);
    const again = await runAdminCli(['cert', 'create', '--out-dir', dir, '--no-pfx']);
    expect(again.code).toBe(2);
    expect(again.stderr).toContain('--force');
    // --force replaces (the same function the command calls).
    const files = certificatePaths(dir, 'calpush-app', false);
    const replacement = createSelfSignedCertificate({ subject: 'CN=replacement', keySize: 2048, days: 1 });
    expect(() => writeCertificateFiles(replacement, files, {})).toThrow(/--force/);
    writeCertificateFiles(replacement, files, { force: true });
    expect(new X509Certificate(readFileSync(files.certificate, 'utf8')).subject).toBe('CN=replacement');
    expect(() => createSelfSignedCertificate({ subject: 'CN=x', keySize: 1024 as 2048, days: 1 })).toThrow('--key-size must be one of 2048, 3072, 4096');
    expect(() => createSelfSignedCertificate({ subject: 'CN=x', keySize: 2048, days: 0 })).toThrow(CertificateRequestError);
    expect(() => createSelfSignedCertificate({ subject: 'XX=nope', keySize: 2048, days: 1 })).toThrow(/--subject/);
    expect((await runAdminCli(['cert', 'create', '--out-dir', dir, '--name', 'w', '--passphrase-env', 'CALPUSH_UNSET_VARIABLE'])).stderr).toContain('not set');
  }, 180_000);
});

describe('createSelfSignedCertificate', () => {
  it('makes 4096-bit keys', () => {
    const created = createSelfSignedCertificate({ subject: 'calpush', keySize: 4096, days: 1 });
    expect(createPublicKey(created.certificatePem).asymmetricKeyDetails?.modulusLength).toBe(4096);
    expect(new X509Certificate(created.certificatePem).subject).toBe('CN=calpush');
  });

  it('parses subjects, with escaped commas', () => {
    expect(parseSubject('CN=Timetable\\, push, O=Contoso, OU=IT, L=Utrecht, ST=Utrecht, C=NL')).toEqual([
      { shortName: 'CN', value: 'Timetable, push' },
      { shortName: 'O', value: 'Contoso' },
      { shortName: 'OU', value: 'IT' },
      { shortName: 'L', value: 'Utrecht' },
      { shortName: 'ST', value: 'Utrecht' },
      { shortName: 'C', value: 'NL' },
    ]);
    expect(() => parseSubject('C=Netherlands')).toThrow(/two-letter/);
    expect(() => parseSubject('CN=a\nb')).toThrow(/control/);
  });
});
