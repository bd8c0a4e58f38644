// The CLI as a person runs it: credentials, messages, exit codes, --json, and a SIGKILL in the middle of a sync.
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { createWorkspace, lecture, repoRoot, runCli, startCli, tagged, usableStudents } from './harness.ts';
// @ts-expect-error: plain JavaScript without types (bin/ is not compiled)
import { chooseEntry } from '../../bin/entry.js';

let sandbox: Sandbox;
let students: string[];
const seed = defaultTenantSeed();

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
  students = usableStudents(seed);
});
afterAll(async () => {
  await sandbox?.close();
});

/** A self-signed certificate the app registration does not know. */
function strangerCertificate(): { keyPem: string; certPem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 60_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'not registered' }]);
  cert.setIssuer([{ name: 'commonName', value: 'not registered' }]);
  cert.sign(forge.pki.privateKeyFromPem(keyPem) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { keyPem, certPem: forge.pki.certificateToPem(cert) };
}

describe('the built calpush (dist/, what `npx calpush` runs after npm ci)', () => {
  it('is what bin/calpush.js runs once built, and delivers exactly like the sources', async () => {
    const root = new URL(`file://${repoRoot}/`);
    if (!(chooseEntry(root, {}) as URL).pathname.endsWith('dist/cli/main.js')) {
      const build = spawnSync(process.execPath, [join(repoRoot, 'scripts/build.ts')], { encoding: 'utf8' });
      expect(build.status, build.stderr).toBe(0);
    }
    expect((chooseEntry(root, {}) as URL).pathname).toMatch(/dist\/cli\/main\.js$/);
    const ws = createWorkspace(sandbox, 'secret', { instance: 'cli-dist' });
    const input = ws.input('t.ndjson', [lecture(students[2]!, 1), lecture(students[2]!, 2)]);
    const first = await runCli(['sync', '-c', ws.configPath, '-i', input, '--json'], { entry: 'bin/calpush.js' });
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout).delivery.totals).toMatchObject({ created: 2, failed: 0 });
    const again = await runCli(['sync', '-c', ws.configPath, '-i', input, '--json'], { entry: 'bin/calpush.js' });
    expect(JSON.parse(again.stdout).delivery.totals).toMatchObject({ created: 0, updated: 0, requests: 0 });
    expect(tagged(sandbox, students[2]!).filter((e) => JSON.stringify(e).includes(';cli-dist;'))).toHaveLength(2);
  }, 120_000);

  it('parses .ics files in its worker thread (dist/sources/parse-worker.js), and refuses one over a limit', async () => {
    const root = new URL(`file://${repoRoot}/`);
    if (!(chooseEntry(root, {}) as URL).pathname.endsWith('dist/cli/main.js')) {
      const build = spawnSync(process.execPath, [join(repoRoot, 'scripts/build.ts')], { encoding: 'utf8' });
      expect(build.status, build.stderr).toBe(0);
    }
    const ws = createWorkspace(sandbox, 'secret', { instance: 'cli-dist-ics' });
    const mailbox = students[3]!;
    const ics = (count: number) =>
      ['BEGIN:VCALENDAR', 'VERSION:2.0', 'PRODID:-//test//EN']
        .concat(...Array.from({ length: count }, (_, n) => ['BEGIN:VEVENT', `UID:dist-${n}`, `DTSTART:202612${String(10 + n).padStart(2, '0')}T090000Z`, `DTEND:202612${String(10 + n).padStart(2, '0')}T100000Z`, `SUMMARY:From dist ${n}`, 'END:VEVENT']))
        .concat('END:VCALENDAR', '')
        .join('\r\n');
    writeFileSync(join(ws.dir, `${mailbox}.ics`), ics(2));
    const synced = await runCli(['sync', '-c', ws.configPath, '-i', join(ws.dir, `${mailbox}.ics`), '--json'], { entry: 'bin/calpush.js' });
    expect(synced.code, synced.stderr).toBe(0);
    expect(JSON.parse(synced.stdout).delivery.totals).toMatchObject({ created: 2, failed: 0 });
    writeFileSync(ws.configPath, JSON.stringify({ ...ws.rawConfig, limits: { icsMaxEvents: 2 } }));
    writeFileSync(join(ws.dir, `${mailbox}.ics`), ics(3));
    const refused = await runCli(['sync', '-c', ws.configPath, '-i', join(ws.dir, `${mailbox}.ics`)], { entry: 'bin/calpush.js' });
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`nothing was changed: ${mailbox}.ics has more than 2 events (VEVENT components); nothing was read from it (raise limits.icsMaxEvents in the config if the file is genuine)`);
    expect(tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(';cli-dist-ics;'))).toHaveLength(2);
  }, 120_000);
});

describe('calpush sync (CLI)', () => {
  it.each(['secret', 'certificate'] as const)('delivers with a %s credential and prints a per-mailbox summary', async (kind) => {
    const ws = createWorkspace(sandbox, kind, { instance: `cli-${kind}` });
    const input = ws.input('t.ndjson', [lecture(students[0]!, 1), lecture(students[0]!, 2), lecture(students[1]!, 1)]);
    const result = await runCli(['sync', '-c', ws.configPath, '-i', input]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/mailbox\s+created\s+updated\s+deleted\s+unchanged\s+failed\s+requests\s+status/);
    expect(result.stdout).toMatch(new RegExp(`${students[0]}\\s+2\\s+0\\s+0\\s+0\\s+0\\s+\\d+\\s+ok`));
    expect(result.stdout).toMatch(/TOTAL\s+3\s+0\s+0\s+0\s+0/);
    const json = await runCli(['sync', '-c', ws.configPath, '-i', input, '--json']);
    const summary = JSON.parse(json.stdout);
    expect(summary.delivery.totals).toMatchObject({ created: 0, unchanged: 3 });
    // The secret never shows up in what calpush prints.
    expect(result.stdout + result.stderr + json.stdout + json.stderr).not.toContain(sandbox.demoCredentials.clientSecret);
  });

  it('writes a structured log on request, without secrets', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'cli-log' });
    const logFile = join(ws.dir, 'calpush.log');
    const input = ws.input('t.ndjson', [lecture(students[0]!, 1), lecture('outofscope@contoso.edu', 1)]);
    const result = await runCli(['sync', '-c', ws.configPath, '-i', input, '--log-level', 'debug', '--log-file', logFile]);
    expect(result.code).toBe(1);
    await new Promise((r) => setTimeout(r, 100));
    const lines = (await import('node:fs')).readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.some((l) => l.msg === 'listed our tagged events' && l.calendar === students[0])).toBe(true);
    expect(lines.some((l) => l.level === 50 && l.calendar === 'outofscope@contoso.edu' && l.code === 'ErrorAccessDenied')).toBe(true);
    expect(JSON.stringify(lines)).not.toContain(sandbox.demoCredentials.clientSecret);
  });

  it('stops with AADSTS7000215 and the fix when the secret is wrong, without printing it', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'wrong-secret' });
    writeFileSync(join(ws.dir, 'secret.txt'), 'this-is-not-the-secret', { mode: 0o600 });
    const result = await runCli(['sync', '-c', ws.configPath, '-i', ws.input('t.ndjson', [lecture(students[0]!, 1)])]);
    expect(result.code).toBe(3);
    const output = result.stdout + result.stderr;
    expect(output).toContain('AADSTS7000215');
    expect(output).toMatch(/fix: .*secret VALUE/);
    expect(output).not.toContain('this-is-not-the-secret');
  });

  it('stops with AADSTS700027 and the fix when the certificate is not registered on the app', async () => {
    const ws = createWorkspace(sandbox, 'certificate', { instance: 'wrong-cert' });
    const stranger = strangerCertificate();
    writeFileSync(join(ws.dir, 'key.pem'), stranger.keyPem, { mode: 0o600 });
    writeFileSync(join(ws.dir, 'cert.pem'), stranger.certPem);
    const result = await runCli(['sync', '-c', ws.configPath, '-i', ws.input('t.ndjson', [lecture(students[0]!, 1)])]);
    expect(result.code).toBe(3);
    expect(result.stdout + result.stderr).toContain('AADSTS700027');
    expect(result.stdout + result.stderr).toMatch(/fix: .*upload the certificate/);
  });

  it('refuses a secret written inline in the config, naming the field', async () => {
    const ws = createWorkspace(sandbox, 'secret');
    const raw = structuredClone(ws.rawConfig) as { target: { credential: unknown } };
    raw.target.credential = { kind: 'secret', secret: 'inline-secret-value' };
    writeFileSync(ws.configPath, JSON.stringify(raw));
    const result = await runCli(['sync', '-c', ws.configPath, '-i', ws.input('t.ndjson', [lecture(students[0]!, 1)])]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('target.credential.secret');
    expect(result.stderr).toContain('never written in the config');
    expect(result.stderr).not.toContain('inline-secret-value');
  });

  it('reports bad records with line, id and field and exits 1 while delivering the rest', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'cli-bad' });
    const input = ws.input('t.ndjson', [lecture(students[0]!, 1), lecture(students[0]!, 2, { timeZone: 'Moon/Base' })]);
    const result = await runCli(['sync', '-c', ws.configPath, '-i', input]);
    expect(result.code).toBe(1);
    expect(result.stdout).toContain(`t.ndjson line 2 (${students[0]} id "lecture-2"): timeZone "Moon/Base" is not a known IANA time zone`);
    expect(result.stdout).toMatch(/TOTAL\s+1\s/);
  });

  it('converges without duplicates after being SIGKILLed in the middle of a sync', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'sigkill' });
    // The killed run's creates may land for 2 × 2 s + 2 s after they were sent: the rerun lists after that.
    const config = JSON.parse(readFileSync(ws.configPath, 'utf8'));
    writeFileSync(ws.configPath, JSON.stringify({ ...config, target: { ...config.target, requestTimeoutMs: 2_000 } }));
    const mailboxes = students.slice(0, 3);
    const events = mailboxes.flatMap((m) => Array.from({ length: 40 }, (_, n) => lecture(m, 1000 + n)));
    const input = ws.input('t.ndjson', events);
    const ours = () => mailboxes.flatMap((m) => tagged(sandbox, m).filter((e) => JSON.stringify(e).includes(';sigkill;')));
    sandbox.setLatency({ perRequestMs: 40 });
    try {
      const { child, done } = startCli(['sync', '-c', ws.configPath, '-i', input]);
      const deadline = Date.now() + 20_000;
      while (ours().length < 20 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGKILL');
      const killed = await done;
      expect(killed.signal).toBe('SIGKILL');
      const partial = ours().length;
      expect(partial).toBeGreaterThan(0);
      expect(partial).toBeLessThan(events.length);
    } finally {
      sandbox.setLatency({ perRequestMs: 0 });
    }
    const rerun = await runCli(['sync', '-c', ws.configPath, '-i', input, '--json']);
    expect(rerun.code).toBe(0);
    const after = ours();
    expect(after).toHaveLength(events.length);
    const perKey = new Map<string, number>();
    for (const e of after) {
      const key = `${e.subject}|${JSON.stringify(e.singleValueExtendedProperties)}`;
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
    }
    expect([...perKey.values()].every((n) => n === 1)).toBe(true);
    // A third run has nothing to do.
    sandbox.resetStats();
    const third = await runCli(['sync', '-c', ws.configPath, '-i', input, '--json']);
    expect(JSON.parse(third.stdout).delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: events.length });
    expect(sandbox.stats().writes).toBe(0);
  });
});
