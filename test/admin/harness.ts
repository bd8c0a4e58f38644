// Helpers for the admin tests: the admin commands as a child process, and configs that point at a sandbox.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Sandbox } from '../../src/sandbox/index.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');
const entry = join(repoRoot, 'test/admin/cli-entry.ts');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runAdminCli(args: string[], options: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [entry, ...args], {
      cwd: options.cwd ?? repoRoot,
      env: { ...process.env, NO_COLOR: '1', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

export function tempDir(prefix = 'calpush-admin-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export type CredentialSpec =
  | { kind: 'secret'; secret: string }
  | { kind: 'certificate'; keyPem: string; certPem: string };

/** A config for the sandbox in its own directory; secrets in 0600 files next to it. */
export function sandboxConfig(sandbox: Sandbox, options: { clientId?: string; credential?: CredentialSpec; caFile?: boolean; extra?: Record<string, unknown>; target?: Record<string, unknown> } = {}): { dir: string; path: string } {
  const dir = tempDir();
  const credential = options.credential ?? { kind: 'secret', secret: sandbox.demoCredentials.clientSecret };
  writeFileSync(join(dir, 'ca.pem'), sandbox.caPem);
  let credentialConfig: Record<string, unknown>;
  if (credential.kind === 'secret') {
    writeFileSync(join(dir, 'secret.txt'), credential.secret, { mode: 0o600 });
    credentialConfig = { kind: 'secret', secret: { file: 'secret.txt' } };
  } else {
    writeFileSync(join(dir, 'key.pem'), credential.keyPem, { mode: 0o600 });
    writeFileSync(join(dir, 'cert.pem'), credential.certPem);
    credentialConfig = { kind: 'certificate', privateKey: { file: 'key.pem' }, certificate: { file: 'cert.pem' } };
  }
  const config = {
    instance: 'doctor-test',
    target: {
      kind: 'graph',
      tenantId: sandbox.tenantId,
      clientId: options.clientId ?? sandbox.demoCredentials.clientId,
      credential: credentialConfig,
      authorityHost: sandbox.url,
      graphBaseUrl: sandbox.graphBaseUrl,
      ...(options.caFile === false ? {} : { caFile: 'ca.pem' }),
      ...options.target,
    },
    ...options.extra,
  };
  const path = join(dir, 'calpush.config.json');
  writeFileSync(path, JSON.stringify(config, null, 2));
  return { dir, path };
}
