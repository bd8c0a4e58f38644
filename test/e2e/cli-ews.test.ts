// The CLI with an EWS target: a config with "kind": "ews" drives the same sync path as Graph.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { createWorkspace, lecture, runCli, tagged, usableStudents } from './harness.ts';

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
});
