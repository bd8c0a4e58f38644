// The CLI with an EWS target: a config with "kind": "ews" drives the same sync path as Graph.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_IMPERSONATION_ACCOUNT, EWS_PASSWORD, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { createWorkspace, lecture, runCli, startCli, tagged, usableStudents } from './harness.ts';

const seed = defaultTenantSeed();
const students = usableStudents(seed);
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed, ews: { schemaValidation: false } });
});
afterAll(async () => {
  await sandbox.close();
});

describe('calpush sync with an EWS target', () => {
  it('delivers through two delegate service accounts, and a rerun sends nothing', async () => {
    const ws = createWorkspace(sandbox);
    writeFileSync(join(ws.dir, 'ews.pw'), EWS_PASSWORD, { mode: 0o600 });
    const raw = {
      instance: 'cli-ews',
      store: { sqlite: 'state/ews.sqlite' },
      timeZone: 'Europe/Amsterdam',
      target: {
        kind: 'ews',
        url: `${sandbox.url}/EWS/Exchange.asmx`,
        access: 'delegate',
        auth: 'ntlm',
        accounts: EWS_DELEGATE_ACCOUNTS.slice(0, 2).map((username) => ({ username, password: { file: 'ews.pw' } })),
        caFile: 'ca.pem',
      },
    };
    const configPath = join(ws.dir, 'ews.config.json');
    writeFileSync(configPath, JSON.stringify(raw));
    const input = ws.input('t.ndjson', [lecture(students[0]!, 1), lecture(students[0]!, 2), lecture(students[1]!, 1)]);
    const first = await runCli(['sync', '-c', configPath, '-i', input, '--json']);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(JSON.parse(first.stdout).delivery.totals).toMatchObject({ created: 3, failed: 0 });
    expect(tagged(sandbox, students[0]!).filter((e) => JSON.stringify(e).includes(';cli-ews;'))).toHaveLength(2);
    const second = await runCli(['sync', '-c', configPath, '-i', input, '--json']);
    expect(JSON.parse(second.stdout).delivery.totals).toMatchObject({ created: 0, unchanged: 3, requests: 0 });
    expect(first.stdout + second.stdout).not.toContain(EWS_PASSWORD);
  });

  it.each(['delegate', 'impersonation'] as const)('converges without duplicates after a SIGKILL in the middle of a sync (%s)', async (access) => {
    const ws = createWorkspace(sandbox);
    writeFileSync(join(ws.dir, 'ews.pw'), EWS_PASSWORD, { mode: 0o600 });
    const instance = `ews-kill-${access}`;
    // Impersonation: the rooms account, scoped to the rooms; delegate: two accounts over students.
    const calendars = access === 'impersonation' ? seed.mailboxes.filter((m) => m.kind === 'room').slice(0, 2).map((m) => m.address) : students.slice(2, 4);
    const accounts = access === 'impersonation' ? [EWS_IMPERSONATION_ACCOUNT] : EWS_DELEGATE_ACCOUNTS.slice(0, 2);
    const raw = {
      instance,
      store: { sqlite: `state/${instance}.sqlite` },
      timeZone: 'Europe/Amsterdam',
      target: {
        kind: 'ews',
        url: `${sandbox.url}/EWS/Exchange.asmx`,
        access,
        auth: 'basic',
        batchSize: 5,
        accounts: accounts.map((username) => ({ username, password: { file: 'ews.pw' } })),
        caFile: 'ca.pem',
        // The killed run's creates may land for 2 × 2 s + 2 s after they were sent: the rerun lists after that.
        requestTimeoutMs: 2_000,
      },
    };
    const configPath = join(ws.dir, `${instance}.json`);
    writeFileSync(configPath, JSON.stringify(raw));
    const events = calendars.flatMap((c) => Array.from({ length: 30 }, (_, n) => lecture(c, 500 + n)));
    const input = ws.input(`${instance}.ndjson`, events);
    const ours = () => calendars.flatMap((c) => tagged(sandbox, c).filter((e) => JSON.stringify(e).includes(`;${instance};`)));
    sandbox.setLatency({ perItemMs: 40 });
    try {
      const { child, done } = startCli(['sync', '-c', configPath, '-i', input]);
      const deadline = Date.now() + 30_000;
      while (ours().length < 10 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      child.kill('SIGKILL');
      expect((await done).signal).toBe('SIGKILL');
      expect(ours().length).toBeGreaterThan(0);
      expect(ours().length).toBeLessThan(events.length);
    } finally {
      sandbox.setLatency({ perItemMs: 0 });
    }
    const rerun = await runCli(['sync', '-c', configPath, '-i', input, '--json']);
    expect(rerun.code).toBe(0);
    const after = ours();
    expect(after).toHaveLength(events.length);
    // One item per event: the tag value (instance, key, content) is unique per event.
    const tags = after.map((e) => JSON.stringify(e.singleValueExtendedProperties?.find((p: { value: string }) => p.value.includes(`;${instance};`))?.value));
    expect(new Set(tags).size).toBe(events.length);
  });
});
