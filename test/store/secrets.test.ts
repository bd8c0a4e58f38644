// The store keeps no secret in clear: a connection's token cache and a sign-in's PKCE verifier are sealed, so neither
// the raw bytes of the SQLite file (with its -wal and -shm) nor SQLite's own .dump holds them; `calpush store
// rotate-key` re-wraps them under a new key while the old one still opens them.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keyring } from '../../src/store/sealed.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { runCli } from '../e2e/harness.ts';
import { requireTool } from '../support/tools.ts';

const REFRESH_TOKEN = `1.AQ0A${randomBytes(48).toString('base64url')}`;
const ACCESS_TOKEN = `eyJ0eXAiOiJKV1Qi.${randomBytes(40).toString('base64url')}.sig`;
const VERIFIER = randomBytes(32).toString('base64url');

/** An msal-node token cache as it serializes (the shape of its JSON), holding the tokens above. */
function tokenCache(refreshToken = REFRESH_TOKEN): string {
  return JSON.stringify({
    Account: { 'oid.tid-login.example-tid': { home_account_id: 'oid.tid', username: 'alice@contoso.edu' } },
    AccessToken: { at: { secret: ACCESS_TOKEN, credential_type: 'AccessToken' } },
    RefreshToken: { rt: { secret: refreshToken, credential_type: 'RefreshToken' } },
  });
}

/** Every byte the store has on disk: the database, its write-ahead log and shared memory. */
function rawBytes(path: string): string {
  return ['', '-wal', '-shm'].map((suffix) => (existsSync(path + suffix) ? readFileSync(path + suffix).toString('latin1') : '')).join('');
}

function dump(path: string): string {
  return execFileSync(requireTool('sqlite3'), [path, '.dump'], { encoding: 'utf8' });
}

async function storeWithSecrets(dir: string, keyring: Keyring): Promise<{ store: SqliteStore; path: string }> {
  const path = join(dir, 'calpush.sqlite');
  const store = new SqliteStore(path, { keyring });
  const at = '2026-09-01T08:00:00.000Z';
  await store.saveConnection(
    { calendar: 'alice@contoso.edu', userObjectId: 'oid', homeAccountId: 'oid.tid', username: 'alice@contoso.edu', state: 'connected', reason: null, reasonMessage: null, connectedAt: at, changedAt: at, lastRefreshAt: null },
    tokenCache(),
  );
  await store.saveConsentRequest({ id: 'a'.repeat(64), bindingHash: 'b'.repeat(64), purpose: 'connect', calendar: null, codeVerifier: VERIFIER, nonce: 'n', expiresAtMs: Date.parse(at) + 600_000 });
  return { store, path };
}

describe('the store’s secrets', () => {
  it('are never on disk in clear: not in the file’s bytes, not in .dump', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    const { store, path } = await storeWithSecrets(dir, new Keyring([{ id: 'k1', key: randomBytes(32) }]));
    expect(await store.connectionTokenCache('alice@contoso.edu')).toContain(REFRESH_TOKEN);
    for (const text of [rawBytes(path), dump(path)]) {
      expect(text).toContain('alice@contoso.edu');
      for (const secret of [REFRESH_TOKEN, ACCESS_TOKEN, VERIFIER, REFRESH_TOKEN.slice(10, 40)]) expect(text).not.toContain(secret);
    }
    expect(dump(path)).toMatch(/cps1\.k1\./);
    await store.close();
    // Closed (checkpointed into the file): still nothing.
    for (const secret of [REFRESH_TOKEN, ACCESS_TOKEN, VERIFIER]) expect(rawBytes(path)).not.toContain(secret);
  });

  it('catch a store that would keep a token in clear (the check can fail)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    const path = join(dir, 'plain.sqlite');
    const store = new SqliteStore(path);
    // A feed state row is not sealed: a token written there is found by the same checks.
    void store.saveFeedState({ calendar: 'a@b.c', url: REFRESH_TOKEN, etag: null, lastModified: null, consecutiveEmpty: 0, lastFetchAt: null, lastFullFetchAt: null, lastOutcome: null, lastError: null, lastChangeAt: null });
    expect(rawBytes(path)).toContain(REFRESH_TOKEN);
    expect(dump(path)).toContain(REFRESH_TOKEN);
    void store.close();
  });

  it('are refused without an encryption key, with what to configure', async () => {
    const store = new SqliteStore(':memory:');
    const at = '2026-09-01T08:00:00.000Z';
    await expect(
      store.saveConnection({ calendar: 'a@b.c', userObjectId: 'o', homeAccountId: 'h', username: 'a@b.c', state: 'connected', reason: null, reasonMessage: null, connectedAt: at, changedAt: at, lastRefreshAt: null }, tokenCache()),
    ).rejects.toMatchObject({ code: 'NoEncryptionKey', remedy: expect.stringContaining('store.encryptionKeys') });
    await store.close();
  });

  it('disconnecting drops the token cache, and a consent request is taken once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    const { store, path } = await storeWithSecrets(dir, new Keyring([{ id: 'k1', key: randomBytes(32) }]));
    expect(await store.takeConsentRequest('a'.repeat(64), Date.parse('2026-09-01T08:01:00Z'))).toMatchObject({ codeVerifier: VERIFIER, purpose: 'connect' });
    expect(await store.takeConsentRequest('a'.repeat(64), Date.parse('2026-09-01T08:01:00Z'))).toBeNull();
    expect(await store.disconnect('alice@contoso.edu', 'ConsentRevoked', 'invalid_grant')).toBe(true);
    expect(await store.disconnect('alice@contoso.edu', 'ConsentRevoked', 'invalid_grant')).toBe(false);
    expect(await store.connectionTokenCache('alice@contoso.edu')).toBeNull();
    expect(await store.connection('alice@contoso.edu')).toMatchObject({ state: 'disconnected', reason: 'ConsentRevoked' });
    await store.close();
    expect(dump(path)).not.toMatch(/cps1\./);
  });

  it('calpush store rotate-key re-wraps every secret under the new key; the old key can then go', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'secrets-'));
    const k1 = randomBytes(32);
    const k2 = randomBytes(32);
    writeFileSync(join(dir, 'k1.key'), k1.toString('base64'), { mode: 0o600 });
    writeFileSync(join(dir, 'k2.key'), k2.toString('hex'), { mode: 0o600 });
    const { store, path } = await storeWithSecrets(dir, new Keyring([{ id: 'k1', key: k1 }]));
    await store.close();
    const config = (keys: string[]) => {
      const file = join(dir, 'calpush.config.json');
      writeFileSync(
        file,
        JSON.stringify({ store: { sqlite: 'calpush.sqlite', encryptionKeys: keys.map((id) => ({ id, key: { file: `${id}.key` } })) }, target: { kind: 'graph', tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'UNUSED' } } } }),
      );
      return file;
    };
    const rotated = await runCli(['store', 'rotate-key', '-c', config(['k2', 'k1']), '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(JSON.parse(rotated.stdout)).toEqual({ rewrapped: 2, current: 0, keyId: 'k2' });
    expect(dump(path)).not.toMatch(/cps1\.k1\./);
    // Again: nothing left to do.
    expect(JSON.parse((await runCli(['store', 'rotate-key', '-c', config(['k2', 'k1']), '--json'])).stdout)).toMatchObject({ rewrapped: 0, current: 2 });
    // Without the old key, everything opens.
    const after = new SqliteStore(path, { keyring: new Keyring([{ id: 'k2', key: k2 }]) });
    expect(await after.connectionTokenCache('alice@contoso.edu')).toContain(REFRESH_TOKEN);
    await after.close();
    // Before the rotation, a config without the old key says which key is missing.
    const { store: other } = await storeWithSecrets(mkdtempSync(join(tmpdir(), 'secrets-')), new Keyring([{ id: 'k1', key: k1 }]));
    const lost = new SqliteStore(other.path, { keyring: new Keyring([{ id: 'k2', key: k2 }]) });
    await expect(lost.connectionTokenCache('alice@contoso.edu')).rejects.toMatchObject({ code: 'EncryptionKeyUnknown' });
    await lost.close();
    await other.close();
  });
});
