// The folder a demo runs in (calpush demo, calpush demo --hybrid): a fresh store each time, since the sandbox starts
// empty and an old store would describe calendars that are gone, and the sandbox's CA and app certificate written
// beside the config the demo writes (the private key and passwords readable by the owner only, as calpush wants).
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Sandbox } from '../../sandbox/index.ts';

export interface DemoFolder {
  /** Writes a file only its owner may read (a key or a password the config refers to). */
  secret(name: string, content: string): void;
}

/** Removes the old store `storeFile` (and its WAL files), writes sandbox-ca.pem, app-cert.pem and app-key.pem. */
export function prepareDemoFolder(dir: string, storeFile: string, sandbox: Sandbox): DemoFolder {
  for (const suffix of ['', '-wal', '-shm']) rmSync(join(dir, `${storeFile}${suffix}`), { force: true });
  mkdirSync(dir, { recursive: true });
  const secret = (name: string, content: string) => {
    writeFileSync(join(dir, name), content, { mode: 0o600 });
    chmodSync(join(dir, name), 0o600);
  };
  writeFileSync(join(dir, 'sandbox-ca.pem'), sandbox.caPem);
  writeFileSync(join(dir, 'app-cert.pem'), sandbox.demoCredentials.certificatePem);
  secret('app-key.pem', sandbox.demoCredentials.privateKeyPem);
  return { secret };
}
