// The config of delegated access and what an invalid_grant means.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.ts';
import { connectUrl, delegatedTarget } from '../../src/app/targets.ts';
import { lossOf } from '../../src/targets/graph/delegated.ts';

const target = { kind: 'graph-delegated', tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'S' }, expiresAt: '2027-03-01' } };

describe('graph-delegated config', () => {
  it('needs a store encryption key: refresh tokens are never kept in clear', () => {
    expect(() => parseConfig({ target })).toThrow(/store\.encryptionKeys: is required with target\.kind "graph-delegated"/);
    const config = parseConfig({ target, store: { encryptionKeys: [{ id: 'k1', key: { env: 'K' } }] } });
    expect(config.target).toMatchObject({ kind: 'graph-delegated', scopes: ['Calendars.ReadWrite', 'User.Read'] });
  });

  it('refuses a key written in the config, two keys with one id, and a public URL with a path', () => {
    expect(() => parseConfig({ target, store: { encryptionKeys: [{ id: 'k1', key: 'c2VjcmV0' }] } })).toThrow(/secrets are never written in the config/);
    expect(() => parseConfig({ target, store: { encryptionKeys: [{ id: 'k', key: { env: 'A' } }, { id: 'k', key: { env: 'B' } }] } })).toThrow(/its own id/);
    expect(() => parseConfig({ target, store: { encryptionKeys: [{ id: 'k', key: { env: 'A' } }] }, server: { publicUrl: 'https://calpush.contoso.edu/app' } })).toThrow(/scheme and host/);
  });

  it('is a named target beside others, routed like them, with a key in either store; one per config', () => {
    const keys = [{ id: 'k', key: { env: 'A' } }];
    const online = { kind: 'graph', tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'S' } } };
    const routing = { rules: [{ match: ['*@staff.contoso.edu'], target: 'people' }], default: 'online' };
    expect(() => parseConfig({ targets: { online, people: target }, routing })).toThrow(/store\.encryptionKeys: is required/);
    const config = parseConfig({ targets: { online, people: target }, routing, store: { encryptionKeys: keys } });
    expect(delegatedTarget(config)).toMatchObject({ name: 'people', target: { kind: 'graph-delegated' } });
    const onPostgres = parseConfig({ target, store: { postgres: 'postgres://calpush@db.contoso.edu/calpush', encryptionKeys: keys } });
    expect(onPostgres.store).toMatchObject({ schema: 'calpush', encryptionKeys: keys });
    expect(() => parseConfig({ targets: { a: target, b: target }, routing: { default: 'a' }, store: { encryptionKeys: keys } })).toThrow(/second "graph-delegated" target/);
  });

  it('the connect link starts with server.publicUrl', () => {
    const config = parseConfig({ target, store: { encryptionKeys: [{ id: 'k', key: { env: 'A' } }] }, server: { publicUrl: 'https://calpush.contoso.edu/' } });
    expect(connectUrl(config, 'a.b@contoso.edu')).toBe('https://calpush.contoso.edu/connect?mailbox=a.b%40contoso.edu');
  });
});

describe('invalid_grant', () => {
  it('is told apart by Entra’s code', () => {
    expect(lossOf('invalid_grant: AADSTS65001: The user or administrator has not consented').reason).toBe('ConsentRevoked');
    expect(lossOf('AADSTS50173: The provided grant has expired due to it being revoked').reason).toBe('SessionRevoked');
    expect(lossOf('AADSTS700082: The refresh token has expired due to inactivity.').reason).toBe('RefreshTokenExpired');
    expect(lossOf('invalid_grant without a code').reason).toBe('InvalidGrant');
  });
});
