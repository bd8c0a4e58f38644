// What an administrator sees when calpush cannot get a token, and what happens when Graph refuses one mid-run.
//
// Four mistakes that used to read alike ("endpoints_resolution_error … check tenantId, clientId and the
// credential") each get their own message and fix — the same in `calpush sync` and `calpush doctor` — and a run
// stopped by one says it once, not once per mailbox. A token that expires or is revoked while a sync runs is
// replaced: the run completes with exit 0 and nothing duplicated.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDoctor } from '../../src/admin/doctor/index.ts';
import { parseConfig } from '../../src/app/config.ts';
import { defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { CalpushClient } from '../../src/client/index.ts';
import { createApiKey } from '../../src/server/auth.ts';
import { startServer } from '../../src/server/index.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { createWorkspace, lecture, runCli, tagged, usableStudents, type Workspace } from './harness.ts';

let sandbox: SandboxInternals;
let students: string[];
beforeAll(async () => {
  sandbox = await startSandbox();
  students = usableStudents(defaultTenantSeed()).slice(0, 10);
});
afterAll(async () => {
  await sandbox?.close();
});

/** A workspace whose target section is changed by `target` (undefined deletes a key). */
function workspace(instance: string, target: Record<string, unknown> = {}): Workspace {
  const ws = createWorkspace(sandbox, 'secret', { instance });
  const section = ws.rawConfig['target'] as Record<string, unknown>;
  for (const [key, value] of Object.entries(target)) {
    if (value === undefined) delete section[key];
    else section[key] = value;
  }
  writeFileSync(ws.configPath, JSON.stringify(ws.rawConfig, null, 2));
  return { ...ws, config: parseConfig(ws.rawConfig) };
}

/** The "Stopped:" message and its fix in a sync's output. */
function stopped(output: string): { message: string; fix: string } {
  const match = /^Stopped: (.*)\n {2}fix: (.*)$/m.exec(output);
  if (!match) throw new Error(`no "Stopped:" line in:\n${output}`);
  return { message: match[1]!, fix: match[2]! };
}

const occurrences = (text: string, part: string) => text.split(part).length - 1;

describe('a token request that fails', async () => {
  const closed = await startSandbox();
  const nothingListens = closed.url;
  await closed.close();

  const causes: Array<{ name: string; target: () => Record<string, unknown>; env: Record<string, string>; code: string; message: RegExp; fix: RegExp }> = [
    {
      name: 'nothing listens at the authority (connection refused)',
      target: () => ({ authorityHost: nothingListens }),
      env: {},
      code: 'ECONNREFUSED',
      message: new RegExp(`^could not get a token: connection to ${nothingListens}/[0-9a-f-]+/v2\\.0/\\.well-known/openid-configuration refused \\(ECONNREFUSED\\): nothing listens at 127\\.0\\.0\\.1:\\d+$`),
      fix: /^nothing answers at 127\.0\.0\.1:\d+: check target\.authorityHost .* is it running\?$/,
    },
    {
      name: 'the certificate is not trusted (no caFile)',
      target: () => ({ caFile: undefined }),
      env: { NODE_EXTRA_CA_CERTS: '' },
      code: 'DEPTH_ZERO_SELF_SIGNED_CERT',
      message: /^could not get a token: the TLS certificate of 127\.0\.0\.1:\d+ is not trusted \(DEPTH_ZERO_SELF_SIGNED_CERT\)$/,
      fix: /^set target\.caFile to the PEM file of the CA that signs 127\.0\.0\.1:\d+'s certificate/,
    },
    {
      name: 'authorityHost carries a tenant path',
      target: () => ({ authorityHost: `${sandbox.url}/contoso.edu` }),
      env: {},
      code: 'AuthorityMalformed',
      message: /^target\.authorityHost https:\/\/127\.0\.0\.1:\d+\/contoso\.edu has a path \(\/contoso\.edu\): it must be the host alone, calpush adds the tenant$/,
      fix: /^set authorityHost to https:\/\/127\.0\.0\.1:\d+ and put the tenant \("contoso\.edu"\) in tenantId$/,
    },
    {
      name: 'the tenant does not exist (AADSTS90002)',
      target: () => ({ tenantId: '0badc0de-0000-4000-8000-000000000000' }),
      env: {},
      code: 'AADSTS90002',
      message: /^Entra ID does not know the tenant "0badc0de-0000-4000-8000-000000000000" at https:\/\/127\.0\.0\.1:\d+ \(AADSTS90002: Tenant '0badc0de-0000-4000-8000-000000000000' not found\./,
      fix: /^the tenant was not found: check tenantId/,
    },
  ];

  const seen = new Map<string, { message: string; fix: string }>();

  it.each(causes)('$name: its own message and fix, once for ten mailboxes, exit 3; doctor says the same', async (cause) => {
    const ws = workspace(`token-${cause.code}`, cause.target());
    const input = ws.input('t.ndjson', students.map((s, i) => lecture(s, i)));
    const logFile = join(ws.dir, 'sync.log');
    const result = await runCli(['sync', '-c', ws.configPath, '-i', input, '--log-level', 'info', '--log-file', logFile], { env: cause.env });
    expect(result.code).toBe(3);
    // The structured log, too, carries the failure once (the other mailboxes only say it stopped them, at debug).
    await new Promise((resolve) => setTimeout(resolve, 100));
    const errors = readFileSync(logFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { level: number; code?: string }).filter((line) => line.level >= 50);
    expect(errors.map((line) => line.code)).toEqual([cause.code]);
    const output = result.stdout + result.stderr;
    const told = stopped(output);
    expect(told.message).toMatch(cause.message);
    expect(told.fix).toMatch(cause.fix);
    expect(output).not.toContain('endpoints_resolution_error');
    // Said once: not once per mailbox and once more.
    expect(occurrences(output, told.message)).toBe(1);
    expect(occurrences(output, told.fix)).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`TOTAL .* STOPPED ${cause.code}`));
    seen.set(cause.code, told);

    // calpush doctor, in process (which trusts no extra CA unless the config names one): the token check reads
    // exactly like the sync.
    const report = await runDoctor({ configPath: ws.configPath, mailbox: students[0]!, write: false });
    const token = report.checks.find((c) => c.id === 'graph.token')!;
    expect(token).toMatchObject({ status: 'fail', code: cause.code, detail: told.message, remedy: told.fix });
  });

  it('calpush serve says the same in /v1/health (and keeps answering)', async () => {
    const ws = workspace('token-serve', { authorityHost: nothingListens });
    const sync = await runCli(['sync', '-c', ws.configPath, '-i', ws.input('t.ndjson', [lecture(students[0]!, 1)])]);
    const told = stopped(sync.stdout);
    const running = await startServer({ config: ws.config, server: parseServerConfig({ port: 0, deliveryPollMs: 50 }), feeds: undefined, baseDir: ws.dir, retryMinMs: 60_000 });
    try {
      const { key } = await createApiKey(running.store, { scope: 'write' });
      const client = new CalpushClient({ baseUrl: running.url, apiKey: key });
      await client.putEvent(students[1]!, 'serve-1', { subject: 'x', start: '2026-12-01T09:00', end: '2026-12-01T10:00', timeZone: 'Europe/Amsterdam' });
      let health = await client.health();
      for (let i = 0; i < 200 && !health.delivery.fatal; i++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        health = await client.health();
      }
      expect(health.status).toBe('degraded');
      expect(health.delivery.fatal).toMatchObject({ code: 'ECONNREFUSED', message: told.message, remedy: told.fix });
    } finally {
      await running.close();
    }
  });

  it('the four messages and fixes are all different', () => {
    expect(seen.size).toBe(4);
    expect(new Set([...seen.values()].map((t) => t.message)).size).toBe(4);
    expect(new Set([...seen.values()].map((t) => t.fix)).size).toBe(4);
  });
});

describe('a token refused during a run', () => {
  const events = (ws: Workspace, name: string) => ws.input(name, students.flatMap((s) => Array.from({ length: 30 }, (_, i) => lecture(s, i))));

  it.each([
    { kind: 'expired', batch: 'auto' },
    { kind: 'revoked', batch: 'off' },
  ] as const)('$kind ($batch batching): a fresh token, the request once more, the run completes without duplicates, exit 0', async ({ kind, batch }) => {
    const ws = createWorkspace(sandbox, 'secret', { instance: `token-${kind}`, batch });
    const input = events(ws, 'all.ndjson');
    sandbox.resetStats();
    // After a few requests every token issued so far is refused, as Graph refuses an expired or revoked one
    // (401 InvalidAuthenticationToken).
    if (kind === 'expired') sandbox.faults.expireTokens({ afterRequests: 5 });
    else sandbox.faults.revokeTokens({ afterRequests: 5 });
    const result = await runCli(['sync', '-c', ws.configPath, '-i', input]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const stats = sandbox.stats();
    expect(stats.unauthorized).toBeGreaterThan(0); // the refusal did happen
    expect(stats.tokenRequests).toBe(2); // one fresh token, shared by every request that was refused
    for (const student of students) {
      const ours = tagged(sandbox, student).filter((e) => JSON.stringify(e).includes(`;token-${kind};`));
      expect(ours).toHaveLength(30);
    }
  });

  it('a fresh token refused too is fatal: stops once with the fix, exit 3', async () => {
    // Tokens from another tenant's authority: Graph (this sandbox) refuses every one of them.
    const other = await startSandbox();
    try {
      const ws = workspace('token-foreign', { authorityHost: other.url, tenantId: other.tenantId });
      const input = ws.input('t.ndjson', students.map((s, i) => lecture(s, i)));
      sandbox.resetStats();
      const result = await runCli(['sync', '-c', ws.configPath, '-i', input]);
      expect(result.code).toBe(3);
      const told = stopped(result.stdout);
      expect(told.message).toMatch(/^InvalidAuthenticationToken: Access token validation failure/);
      expect(told.fix).toMatch(/^Graph refused the access token \(a freshly fetched one too\)/);
      expect(occurrences(result.stdout + result.stderr, told.message)).toBe(1);
      expect(other.stats().tokenRequests).toBe(2);
      expect(sandbox.stats().writes).toBe(0);
    } finally {
      await other.close();
    }
  });
});
