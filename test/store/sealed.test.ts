// Envelope encryption of the store's secrets (src/store/sealed.ts): AES-256-GCM with a data key per value, wrapped by
// the key-encryption key; bound to where the value lives; re-wrapped by a rotation without touching the value.
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Keyring, open, parseEncryptionKey, rewrap, seal, SealError, sealedKeyId } from '../../src/store/sealed.ts';

const key = (id: string) => ({ id, key: randomBytes(32) });

describe('sealed values', () => {
  it('open to what was sealed, and never show it', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 2000 }), fc.string({ minLength: 1, maxLength: 50 }), (text, context) => {
        const keyring = new Keyring([key('k1')]);
        const sealed = seal(keyring, text, context);
        expect(open(keyring, sealed, context)).toBe(text);
        if (text.length >= 8) expect(sealed).not.toContain(text);
        expect(sealedKeyId(sealed)).toBe('k1');
      }),
      { numRuns: 200 },
    );
  });

  it('differ every time (a fresh data key and IV per value)', () => {
    const keyring = new Keyring([key('k1')]);
    expect(seal(keyring, 'same', 'c')).not.toBe(seal(keyring, 'same', 'c'));
  });

  it('do not open in another place (a value moved to another row)', () => {
    const keyring = new Keyring([key('k1')]);
    const sealed = seal(keyring, 'refresh-token', 'connection.token_cache:alice@contoso.edu');
    expect(() => open(keyring, sealed, 'connection.token_cache:bob@contoso.edu')).toThrow(SealError);
  });

  it('do not open with another key under the same id, nor when a byte is changed', () => {
    const sealed = seal(new Keyring([key('k1')]), 'secret', 'c');
    expect(() => open(new Keyring([key('k1')]), sealed, 'c')).toThrow(/does not open/);
    const keyring = new Keyring([key('k1')]);
    const good = seal(keyring, 'secret', 'c');
    const parts = good.split('.');
    const data = Buffer.from(parts[3]!, 'base64url');
    data[20] = data[20]! ^ 1;
    parts[3] = data.toString('base64url');
    expect(() => open(keyring, parts.join('.'), 'c')).toThrow(/damaged/);
  });

  it('name the key that is missing', () => {
    const sealed = seal(new Keyring([key('old')]), 'secret', 'c');
    expect(() => open(new Keyring([key('new')]), sealed, 'c')).toThrow(/key "old", which store.encryptionKeys does not list/);
  });

  it('are re-wrapped under the current key, the old key still opening until then', () => {
    const old = key('k1');
    const next = key('k2');
    const sealed = seal(new Keyring([old]), 'refresh-token', 'c');
    const during = new Keyring([next, old]);
    expect(open(during, sealed, 'c')).toBe('refresh-token');
    const rewrapped = rewrap(during, sealed, 'c');
    expect(sealedKeyId(rewrapped)).toBe('k2');
    // The value's own ciphertext is the same: only the data key's wrapping changed.
    expect(rewrapped.split('.')[3]).toBe(sealed.split('.')[3]);
    expect(open(new Keyring([next]), rewrapped, 'c')).toBe('refresh-token');
    expect(rewrap(during, rewrapped, 'c')).toBe(rewrapped);
  });

  it('take keys of 32 bytes only, in base64 or hex', () => {
    const bytes = randomBytes(32);
    expect(parseEncryptionKey(bytes.toString('base64'), 'k')).toEqual(bytes);
    expect(parseEncryptionKey(`${bytes.toString('hex')}\n`, 'k')).toEqual(bytes);
    expect(() => parseEncryptionKey('password123', 'store.encryptionKeys[0].key')).toThrow(/not a 32-byte key/);
    expect(() => parseEncryptionKey(randomBytes(16).toString('base64'), 'k')).toThrow(SealError);
    expect(() => new Keyring([key('a'), key('a')])).toThrow(/listed twice/);
    expect(() => new Keyring([])).toThrow(SealError);
  });
});
