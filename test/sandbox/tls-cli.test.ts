// The sandbox TLS certificate (SANs, reuse from the state directory) and the `calpush sandbox` command.
import { spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runSandboxCommand } from '../../src/cli/commands/sandbox.ts';
import { startSandbox } from '../../src/sandbox/index.ts';
import { generateServerCertificate, loadOrCreateServerCertificate } from '../../src/sandbox/tls.ts';
import { demoToken, httpsRequest } from './helpers.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'calpush-sandbox-test-'));

describe('TLS certificate', () => {
  it('is self-signed RSA 2048 / SHA-256 for localhost, 127.0.0.1 and ::1, and serves HTTPS by name and address', async () => {
    const pair = generateServerCertificate();
    const cert = new X509Certificate(pair.certPem);
    expect(cert.subjectAltName).toContain('DNS:localhost');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.subjectAltName).toMatch(/IP Address:(0:0:0:0:0:0:0:1|::1)/);
    expect(cert.publicKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(cert.ca).toBe(true);
    const sandbox = await startSandbox({ tls: pair });
    try {
      const port = new URL(sandbox.url).port;
      for (const host of ['localhost', '127.0.0.1']) {
        const r = await httpsRequest(`https://${host}:${port}/${sandbox.tenantId}/v2.0/.well-known/openid-configuration`, { ca: sandbox.caPem });
        expect(r.status).toBe(200);
      }
      await expect(httpsRequest(`https://127.0.0.1:${port}/`, { ca: generateServerCertificate().certPem })).rejects.toThrow(/self-signed|certificate/i);
    } finally {
      await sandbox.close();
    }
  });

  it('is reused from the state directory, and replaced when the stored pair is unusable', () => {
    const dir = tempDir();
    const first = loadOrCreateServerCertificate(dir);
    expect(first.created).toBe(true);
    expect(statSync(join(dir, 'tls-key.pem')).mode & 0o777).toBe(0o600);
    const second = loadOrCreateServerCertificate(dir);
    expect(second.created).toBe(false);
    expect(second.pair.certPem).toBe(first.pair.certPem);
    writeFileSync(join(dir, 'tls-key.pem'), generateServerCertificate().keyPem);
    const third = loadOrCreateServerCertificate(dir);
    expect(third.created).toBe(true);
    expect(third.pair.certPem).not.toBe(first.pair.certPem);
  });
});

describe('calpush sandbox', () => {
  it('writes its state files (private ones 0600), prints where they are but never the secret, and reuses them', async () => {
    const dir = tempDir();
    const lines: string[] = [];
    const options = { host: '127.0.0.1', port: 0, stateDir: dir, throttling: true, latencyMs: 0, students: 5, rooms: 2 };
    const stop = await runSandboxCommand(options, (l) => lines.push(l));
    let firstThumbprint: string;
    try {
      const output = lines.join('\n');
      const secret = readFileSync(join(dir, 'demo-app-secret.txt'), 'utf8');
      expect(secret.length).toBeGreaterThan(10);
      expect(output).not.toContain(secret);
      expect(output).toContain('NODE_EXTRA_CA_CERTS=');
      expect(output).toContain('update-ca-certificates');
      expect(output).toContain('caFile');
      const graphUrl = /Graph base URL\s+(\S+)/.exec(output)![1]!;
      const tenantId = /Tenant id\s+(\S+)/.exec(output)![1]!;
      const clientId = /Demo client id\s+(\S+)/.exec(output)![1]!;
      for (const [name, mode] of [['tls-cert.pem', 0o644], ['tls-key.pem', 0o600], ['demo-app-cert.pem', 0o644], ['demo-app-key.pem', 0o600], ['demo-app-secret.txt', 0o600], ['tenant.json', 0o644]] as const) {
        expect(statSync(join(dir, name)).mode & 0o777, name).toBe(mode);
      }
      const tenant = JSON.parse(readFileSync(join(dir, 'tenant.json'), 'utf8'));
      expect(tenant.tenantId).toBe(tenantId);
      expect(JSON.stringify(tenant)).not.toContain(secret);
      expect(tenant.mailboxes.filter((m: { kind: string }) => m.kind === 'room')).toHaveLength(2);
      // The written credentials work against the running sandbox.
      const base = graphUrl.replace(/\/v1\.0$/, '');
      const ca = readFileSync(join(dir, 'tls-cert.pem'), 'utf8');
      const fake = { url: base, tenantId, caPem: ca, graphBaseUrl: graphUrl } as never;
      const token = await demoToken(fake, clientId, secret);
      const r = await httpsRequest(`${graphUrl}/users/s0001%40contoso.edu/events`, { ca, headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
      firstThumbprint = /SHA-256 thumbprint ([0-9A-F]{64})/.exec(output)![1]!;
    } finally {
      await stop();
    }
    const again: string[] = [];
    const stop2 = await runSandboxCommand(options, (l) => again.push(l));
    await stop2();
    expect(again.join('\n')).toContain('(reused)');
    expect(again.join('\n')).toContain(firstThumbprint);
  });

  it('runs as a CLI command until SIGTERM and then exits cleanly', async () => {
    const dir = tempDir();
    const child = spawn(process.execPath, [resolve(import.meta.dirname, '../../src/cli/main.ts'), 'sandbox', '--port', '0', '--state-dir', dir, '--students', '2', '--rooms', '1', '--no-throttling'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((res) => child.on('close', (code) => res(code)));
    const deadline = Date.now() + 30_000;
    while (!stdout.includes('Press Ctrl+C') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
    expect(stdout, stderr).toContain('Press Ctrl+C');
    expect(stdout).toContain('Throttling       off');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(stdout).toContain('sandbox stopped');
  });
});
