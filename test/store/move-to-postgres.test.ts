// Moving a deployment from SQLite to PostgreSQL as the README says: calpush store copy, then the same commands on
// the new store — nothing sent again, nothing lost; and the store section's refusals.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.ts';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { POSTGRES_MIGRATIONS, PostgresStore } from '../../src/store/postgres.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { createWorkspace, lecture, runCli, tagged, usableStudents } from '../e2e/harness.ts';
import { startPostgres, type PostgresCluster } from '../support/postgres.ts';

let sandbox: Sandbox;
let cluster: PostgresCluster;
let students: string[];
const seed = defaultTenantSeed();

beforeAll(async () => {
  [sandbox, cluster] = await Promise.all([startSandbox({ tenant: seed }), startPostgres()]);
  students = usableStudents(seed);
});
afterAll(async () => {
  cluster?.stop();
  await sandbox?.close();
});

describe('calpush store copy: from SQLite to PostgreSQL', () => {
  it('copies everything but leases, verifies the counts, can run again, and the next sync on PostgreSQL sends nothing', async () => {
    // prune after 0 days: an event the input leaves out is deleted whether or not it has ended, at any date.
    const ws = createWorkspace(sandbox, 'secret', { instance: 'move', retention: { past: 'prune', afterDays: 0 } });
    const events = [...students.slice(0, 3).flatMap((s) => [lecture(s, 1), lecture(s, 2), lecture(s, 3)])];
    const input = ws.input('t.ndjson', events);
    const first = await runCli(['sync', '-c', ws.configPath, '-i', input, '--json']);
    expect(first.code, first.stderr).toBe(0);
    const key = await runCli(['apikey', 'create', '-c', ws.configPath, '--scope', 'write', '--json']);
    expect(key.code, key.stderr).toBe(0);

    const schema = cluster.schema('moved');
    const pgConfig = join(ws.dir, 'postgres.config.json');
    writeFileSync(pgConfig, JSON.stringify({ ...ws.rawConfig, store: { postgres: { env: 'CALPUSH_TEST_DATABASE_URL' }, schema } }));
    const env = { CALPUSH_TEST_DATABASE_URL: cluster.url };
    const migrated = await runCli(['store', 'migrate', '-c', pgConfig, '--json'], { env });
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(JSON.parse(migrated.stdout)).toEqual({ kind: 'postgres', version: POSTGRES_MIGRATIONS.length });

    const sqlitePath = join(ws.dir, 'state', 'calpush.sqlite');
    for (const round of [1, 2]) {
      const copy = await runCli(['store', 'copy', '--from', sqlitePath, '--to', pgConfig, '--json'], { env });
      expect(copy.code, `round ${round}: ${copy.stderr}`).toBe(0);
      const report = JSON.parse(copy.stdout) as { verified: boolean; tables: Array<{ table: string; source: number; target: number }> };
      expect(report.verified).toBe(true);
      expect(Object.fromEntries(report.tables.map((t) => [t.table, t.target]))).toMatchObject({ desired_event: 9, delivered_item: 9, api_key: 1, mailbox: 3 });
    }

    const source = new SqliteStore(sqlitePath);
    const target = await PostgresStore.open({ url: cluster.url, schema });
    for (const calendar of students.slice(0, 3)) {
      expect(await target.desiredFor(calendar)).toEqual(await source.desiredFor(calendar));
      expect(await target.deliveredFor(calendar)).toEqual(await source.deliveredFor(calendar));
      expect(await target.mailbox(calendar)).toEqual(await source.mailbox(calendar));
      expect((await target.mailbox(calendar))!.target).toBe('default');
    }
    expect(await target.apiKeys()).toEqual(await source.apiKeys());
    expect(await target.leaseHolder(students[0]!)).toBeNull();
    await source.close();
    await target.close();

    const again = await runCli(['sync', '-c', pgConfig, '-i', input, '--json'], { env });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout).delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, requests: 0 });
    const changed = ws.input('t2.ndjson', [...events.slice(1), lecture(students[0]!, 4)]);
    const third = await runCli(['sync', '-c', pgConfig, '-i', changed, '--json'], { env });
    expect(JSON.parse(third.stdout).delivery.totals).toMatchObject({ created: 1, deleted: 1, failed: 0 });
    expect(tagged(sandbox, students[0]!).filter((e) => JSON.stringify(e).includes(';move;'))).toHaveLength(3);
  }, 120_000);

  it('refuses a postgres URL with its password in the config, naming the setting and the fix', () => {
    const { rawConfig } = createWorkspace(sandbox, 'secret');
    expect(() => parseConfig({ ...rawConfig, store: { postgres: 'postgres://calpush:hunter2@db.example.edu/calpush' } })).toThrow(
      /^config is invalid:\n {2}store\.postgres: holds a password .*\{"env": "CALPUSH_DATABASE_URL"\}.*$/,
    );
    expect(() => parseConfig({ ...rawConfig, store: { sqlite: 'a.sqlite', schema: 'x' } })).toThrow(/store: Unrecognized key: "schema"/);
    expect(parseConfig({ ...rawConfig, store: { postgres: 'postgres://calpush@db.example.edu/calpush' } }).store).toMatchObject({
      schema: 'calpush',
      poolSize: 10,
    });
  });

  it('names the database it cannot reach, with exit status 5 and never the password', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'move-down' });
    const pgConfig = join(ws.dir, 'postgres.config.json');
    writeFileSync(pgConfig, JSON.stringify({ ...ws.rawConfig, store: { postgres: { env: 'CALPUSH_TEST_DATABASE_URL' } } }));
    const result = await runCli(['status', '-c', pgConfig], { env: { CALPUSH_TEST_DATABASE_URL: `postgres://calpush:pa55word@127.0.0.1:${cluster.port + 7}/calpush` } });
    expect(result.code).toBe(5);
    expect(result.stderr).toContain(`cannot reach the store postgres://calpush@127.0.0.1:${cluster.port + 7}/calpush (schema calpush)`);
    expect(result.stderr).not.toContain('pa55word');
  });
});
