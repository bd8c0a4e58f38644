// The PostgreSQL store: the store contract (test/store/contract.ts) against a real PostgreSQL — a throwaway cluster
// this file starts (test/support/postgres.ts), each store in a schema of its own — and what only it does.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { Keyring } from '../../src/store/sealed.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresStore, POSTGRES_MIGRATIONS } from '../../src/store/postgres.ts';
import { StoreError } from '../../src/store/errors.ts';
import { startPostgres, type PostgresCluster } from '../support/postgres.ts';
import { storeContract } from './contract.ts';
import { validateEvent } from '../../src/model/event.ts';

let cluster: PostgresCluster;
beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(() => cluster?.stop());

storeContract('PostgreSQL', {
  open: (options) => PostgresStore.open({ url: cluster.url, schema: cluster.schema('contract'), poolSize: 4, ...(options?.keyring ? { keyring: options.keyring } : {}) }),
  reopen: (store, options) => PostgresStore.open({ url: cluster.url, schema: (store as PostgresStore).schema, poolSize: 4, ...(options?.keyring ? { keyring: options.keyring } : {}) }),
});

const event = (id: string, calendar = 'a@contoso.edu') => {
  const result = validateEvent({ calendar, id, start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'UTC' });
  if (!result.ok) throw new Error('invalid');
  return result.desired;
};

describe('PostgreSQL store', () => {
  it('migrates a new schema once, however many workers start at once, and refuses one a newer calpush wrote', async () => {
    const schema = cluster.schema('migrate');
    const stores = await Promise.all(Array.from({ length: 4 }, () => PostgresStore.open({ url: cluster.url, schema, poolSize: 2 })));
    for (const store of stores) expect(await store.schemaVersion()).toBe(POSTGRES_MIGRATIONS.length);
    expect(await stores[0]!.migrate()).toEqual({ from: POSTGRES_MIGRATIONS.length, to: POSTGRES_MIGRATIONS.length });
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    await client.query(`UPDATE ${schema}.calpush_schema SET version = 99`);
    await client.end();
    const error = await PostgresStore.open({ url: cluster.url, schema }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ code: 'StoreTooNew' });
    for (const store of stores) await store.close();
  });

  it('refuses a schema that holds another application’s tables, writing nothing into it', async () => {
    const schema = cluster.schema('foreign');
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    await client.query(`CREATE SCHEMA ${schema}; CREATE TABLE ${schema}.invoices (id int)`);
    const error = await PostgresStore.open({ url: cluster.url, schema }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'NotACalpushStore' });
    const tables = await client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [schema]);
    expect(tables.rows.map((row) => row.table_name)).toEqual(['invoices']);
    await client.end();
  });

  it('says which server could not be reached, and never its password', async () => {
    const url = `postgres://calpush:s3cret-word@127.0.0.1:${cluster.port + 1}/calpush`;
    const error = (await PostgresStore.open({ url }).catch((e: unknown) => e)) as StoreError;
    expect(error).toBeInstanceOf(StoreError);
    expect(error.code).toBe('StoreCannotOpen');
    expect(error.message).toContain(`postgres://calpush@127.0.0.1:${cluster.port + 1}/calpush`);
    expect(`${error.message} ${error.remedy} ${error.path}`).not.toContain('s3cret-word');
  });

  it('announces desired-state changes to every listening worker (LISTEN/NOTIFY)', async () => {
    const store = await PostgresStore.open({ url: cluster.url, schema: cluster.schema('notify') });
    const other = await PostgresStore.open({ url: cluster.url, schema: store.schema });
    const heard: string[] = [];
    const stop = await other.watchChanges((calendar) => heard.push(calendar));
    await store.applyDesiredOps([{ kind: 'upsert', desired: event('a') }]);
    await store.applyDesired({ calendars: ['b@contoso.edu'], events: [event('b', 'b@contoso.edu')], held: [] });
    for (let i = 0; i < 100 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    expect(heard.sort()).toEqual(['a@contoso.edu', 'b@contoso.edu']);
    await stop();
    await other.close();
    await store.close();
  });

  it('keeps no secret in clear: the raw columns of every table hold no token, verifier or cache (sealed as in SQLite)', async () => {
    const refreshToken = `1.AQ0A${randomBytes(48).toString('base64url')}`;
    const verifier = randomBytes(32).toString('base64url');
    const store = await PostgresStore.open({ url: cluster.url, schema: cluster.schema('sealed'), keyring: new Keyring([{ id: 'k1', key: randomBytes(32) }]) });
    const at = '2026-09-01T08:00:00.000Z';
    await store.saveConnection(
      { calendar: 'alice@contoso.edu', userObjectId: 'oid', homeAccountId: 'oid.tid', username: 'alice@contoso.edu', state: 'connected', reason: null, reasonMessage: null, connectedAt: at, changedAt: at, lastRefreshAt: null },
      JSON.stringify({ RefreshToken: { rt: { secret: refreshToken } } }),
    );
    await store.saveConsentRequest({ id: 'a'.repeat(64), bindingHash: 'b'.repeat(64), purpose: 'connect', calendar: null, codeVerifier: verifier, nonce: 'n', expiresAtMs: Date.parse(at) + 600_000 });
    expect(await store.connectionTokenCache('alice@contoso.edu')).toContain(refreshToken);
    // Every row of every table of the schema, as the database holds it (what pg_dump would write).
    const client = new pg.Client({ connectionString: cluster.url });
    await client.connect();
    const tables = await client.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [store.schema]);
    let everything = '';
    for (const { table_name: table } of tables.rows as Array<{ table_name: string }>) {
      everything += JSON.stringify((await client.query(`SELECT * FROM ${store.schema}.${table}`)).rows);
    }
    await client.end();
    expect(everything).toContain('alice@contoso.edu');
    expect(everything).toMatch(/cps1\.k1\./);
    for (const secret of [refreshToken, refreshToken.slice(10, 40), verifier]) expect(everything).not.toContain(secret);
    await store.close();
  });
});
