// Envelope encryption of the secrets calpush keeps in its store (refresh tokens and the token caches around them,
// the PKCE verifier of a sign-in in progress): AES-256-GCM, a fresh data key for every value, that data key
// wrapped by a key-encryption key (KEK) that comes from a file or an environment variable — never from the store.
//
// A sealed value is one string: `cps1.<key id>.<wrapped data key>.<ciphertext>`, both parts base64url of
// iv (12 bytes) ‖ ciphertext ‖ GCM tag (16 bytes) (NIST SP 800-38D: a 96-bit random IV per key use; each data key
// is used once, each KEK wraps at most a few million data keys, far below the 2^32 random-IV bound). The data
// ciphertext is bound to where the value lives (`context`: table, column and row, as GCM additional data), so a
// value copied into another mailbox's row does not open; the wrapped data key is bound to the key id and the same
// context. Rotating the KEK re-wraps only the data keys: the ciphertext of the value itself is not touched.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { CalpushError } from '../model/errors.ts';

const VERSION = 'cps1';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_BYTES = 32;
const KEY_ID = /^[A-Za-z0-9_-]{1,32}$/;

/** A problem with the encryption keys or a sealed value: the command stops with what to do. */
export class SealError extends CalpushError {
  constructor(code: 'NoEncryptionKey' | 'EncryptionKeyUnknown' | 'EncryptionKeyWrong' | 'EncryptionKeyInvalid' | 'SealedValueDamaged', message: string, remedy: string) {
    super(code, message, { remedy });
  }
}

export interface EncryptionKey {
  id: string;
  /** 32 bytes. */
  key: Buffer;
}

/**
 * The key-encryption keys: the first one seals (and is what rotate-key re-wraps to), every one of them opens. During
 * a rotation the new key comes first and the old one stays listed until `calpush store rotate-key` has run.
 */
export class Keyring {
  readonly current: EncryptionKey;
  private readonly byId: Map<string, Buffer>;

  constructor(keys: EncryptionKey[]) {
    if (!keys.length) throw new SealError('NoEncryptionKey', 'no encryption key was given', 'list at least one key in store.encryptionKeys');
    this.byId = new Map();
    for (const { id, key } of keys) {
      if (!KEY_ID.test(id)) throw new SealError('EncryptionKeyInvalid', `encryption key id "${id}" must be 1–32 letters, digits, dash or underscore`, 'rename it in store.encryptionKeys');
      if (key.length !== KEY_BYTES) throw new SealError('EncryptionKeyInvalid', `encryption key "${id}" is ${key.length} bytes, not 32`, 'make one with: openssl rand -base64 32');
      if (this.byId.has(id)) throw new SealError('EncryptionKeyInvalid', `encryption key id "${id}" is listed twice`, 'give every key in store.encryptionKeys its own id');
      this.byId.set(id, key);
    }
    this.current = keys[0]!;
  }

  ids(): string[] {
    return [...this.byId.keys()];
  }

  /**
   * A secret for `purpose` derived from the current key (HMAC-SHA256, base64url, 43 characters): the same on every
   * worker that shares the keys, never stored. Graph's clientState is one (server/notifications.ts).
   */
  derive(purpose: string): string {
    return createHmac('sha256', this.current.key).update(`calpush derived secret: ${purpose}`).digest('base64url');
  }

  /** derive(purpose) under every listed key, the current one first: a secret made before a rotation still checks. */
  deriveAll(purpose: string): string[] {
    return [...this.byId.values()].map((key) => createHmac('sha256', key).update(`calpush derived secret: ${purpose}`).digest('base64url'));
  }

  key(id: string): Buffer {
    const key = this.byId.get(id);
    if (!key) {
      throw new SealError('EncryptionKeyUnknown', `a value in the store was sealed with encryption key "${id}", which store.encryptionKeys does not list`, `add the key "${id}" back to store.encryptionKeys (after the current one), run calpush store rotate-key, then remove it`);
    }
    return key;
  }
}

/** A key as written in its file or variable: 32 bytes in base64 (`openssl rand -base64 32`) or 64 hex digits. */
export function parseEncryptionKey(text: string, what: string): Buffer {
  const value = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(value) ? Buffer.from(value, 'hex') : /^[A-Za-z0-9+/_-]{43}=?$/.test(value) ? Buffer.from(value, 'base64') : null;
  if (!bytes || bytes.length !== KEY_BYTES) {
    throw new SealError('EncryptionKeyInvalid', `${what} is not a 32-byte key (base64 or hex)`, 'make one with: openssl rand -base64 32 > calpush-store.key && chmod 600 calpush-store.key');
  }
  return bytes;
}

function encrypt(key: Buffer, plaintext: Buffer, aad: string): Buffer {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(Buffer.from(aad, 'utf8'));
  const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([iv, body, cipher.getAuthTag()]);
}

function decrypt(key: Buffer, sealed: Buffer, aad: string): Buffer | null {
  if (sealed.length < IV_BYTES + TAG_BYTES) return null;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, IV_BYTES));
    decipher.setAAD(Buffer.from(aad, 'utf8'));
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG_BYTES));
    return Buffer.concat([decipher.update(sealed.subarray(IV_BYTES, sealed.length - TAG_BYTES)), decipher.final()]);
  } catch {
    return null;
  }
}

interface Parts {
  keyId: string;
  wrapped: Buffer;
  data: Buffer;
}

function parts(sealed: string, context: string): Parts {
  const [version, keyId, wrapped, data, ...rest] = sealed.split('.');
  if (version !== VERSION || !keyId || !wrapped || !data || rest.length) {
    throw new SealError('SealedValueDamaged', `the sealed value of ${context} is not in calpush's format`, 'the store was changed by hand or is damaged: the person connects again');
  }
  return { keyId, wrapped: Buffer.from(wrapped, 'base64url'), data: Buffer.from(data, 'base64url') };
}

const wrapAad = (keyId: string, context: string) => `${VERSION}|kek|${keyId}|${context}`;
const dataAad = (context: string) => `${VERSION}|data|${context}`;

/** Seals `plaintext` for the place `context` names (e.g. "connection.token_cache:alice@contoso.edu"). */
export function seal(keyring: Keyring, plaintext: string, context: string): string {
  const dataKey = randomBytes(KEY_BYTES);
  const data = encrypt(dataKey, Buffer.from(plaintext, 'utf8'), dataAad(context));
  const wrapped = encrypt(keyring.current.key, dataKey, wrapAad(keyring.current.id, context));
  dataKey.fill(0);
  return [VERSION, keyring.current.id, wrapped.toString('base64url'), data.toString('base64url')].join('.');
}

function unwrap(keyring: Keyring, p: Parts, context: string): Buffer {
  const dataKey = decrypt(keyring.key(p.keyId), p.wrapped, wrapAad(p.keyId, context));
  if (!dataKey) {
    throw new SealError('EncryptionKeyWrong', `the encryption key "${p.keyId}" does not open the value of ${context}: the key under that id is not the one it was sealed with (or the value was moved)`, `put the original key under the id "${p.keyId}" in store.encryptionKeys`);
  }
  return dataKey;
}

export function open(keyring: Keyring, sealed: string, context: string): string {
  const p = parts(sealed, context);
  const dataKey = unwrap(keyring, p, context);
  const plaintext = decrypt(dataKey, p.data, dataAad(context));
  dataKey.fill(0);
  if (!plaintext) throw new SealError('SealedValueDamaged', `the sealed value of ${context} does not open (damaged, or moved from another row)`, 'the person connects again');
  return plaintext.toString('utf8');
}

/** The id of the key a sealed value's data key is wrapped with. */
export function sealedKeyId(sealed: string): string | null {
  const [version, keyId] = sealed.split('.');
  return version === VERSION && keyId ? keyId : null;
}

/** The same value with its data key wrapped by the current key; the value's own ciphertext is kept. */
export function rewrap(keyring: Keyring, sealed: string, context: string): string {
  const p = parts(sealed, context);
  if (p.keyId === keyring.current.id) return sealed;
  const dataKey = unwrap(keyring, p, context);
  const wrapped = encrypt(keyring.current.key, dataKey, wrapAad(keyring.current.id, context));
  dataKey.fill(0);
  return [VERSION, keyring.current.id, wrapped.toString('base64url'), p.data.toString('base64url')].join('.');
}
