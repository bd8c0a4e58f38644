// `calpush cert create`: a self-signed X.509 certificate for app-only authentication to Microsoft Entra ID
// (https://learn.microsoft.com/entra/identity-platform/certificate-credentials). The RSA key comes from
// node:crypto; node-forge builds and signs the certificate (SHA-256) and the PKCS#12 (PFX) file.
import { generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import forge from 'node-forge';
import { certificateThumbprints } from '../targets/graph/auth.ts';
import { CalpushError } from '../model/errors.ts';

export const KEY_SIZES = [2048, 3072, 4096] as const;
export type KeySize = (typeof KEY_SIZES)[number];

export interface CertificateRequest {
  /** "CN=calpush" or "CN=calpush, O=Contoso, C=NL"; a bare name is taken as the CN. */
  subject: string;
  keySize: KeySize;
  /** Validity in days from now. */
  days: number;
}

export interface CreatedCertificate {
  certificatePem: string;
  privateKeyPem: string;
  subject: string;
  notBefore: Date;
  notAfter: Date;
  /** Upper-case hex, as the Entra portal shows it. */
  sha1: string;
  /** Upper-case hex: what calpush sends (x5t#S256) and msal-node's thumbprintSha256 takes. */
  sha256: string;
  keySize: KeySize;
}

/** The attribute short names node-forge knows (RFC 4514 keys). */
const SUBJECT_KEYS: Record<string, string> = { CN: 'CN', O: 'O', OU: 'OU', L: 'L', ST: 'ST', S: 'ST', C: 'C', E: 'E', EMAIL: 'E', EMAILADDRESS: 'E' };

/** What `calpush cert create` was asked cannot be made (a subject, a key size, a validity). */
export class CertificateRequestError extends CalpushError {
  constructor(message: string) {
    super('CertificateRequestError', message);
  }
}

/** Parses "CN=a, O=b" (commas inside a value escaped as \,) into forge attributes, in order. */
export function parseSubject(subject: string): Array<{ shortName: string; value: string }> {
  const text = subject.trim();
  if (!text) throw new CertificateRequestError('--subject is empty');
  if (/[\u0000-\u001f\u007f]/.test(text)) throw new CertificateRequestError('--subject must not contain control characters');
  if (!/^[A-Za-z]+\s*=/.test(text)) return [{ shortName: 'CN', value: text }];
  const parts: string[] = [];
  let current = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\\' && i + 1 < text.length) {
      current += text[++i];
    } else if (c === ',' || c === ';') {
      parts.push(current);
      current = '';
    } else current += c;
  }
  parts.push(current);
  return parts.map((part) => {
    const eq = part.indexOf('=');
    const key = part.slice(0, eq).trim().toUpperCase();
    const value = part.slice(eq + 1).trim();
    const shortName = SUBJECT_KEYS[key];
    if (eq < 0 || !shortName) throw new CertificateRequestError(`--subject: "${part.trim()}" is not one of ${Object.keys(SUBJECT_KEYS).join(', ')}=value`);
    if (!value) throw new CertificateRequestError(`--subject: ${key} has no value`);
    if (shortName === 'C' && !/^[A-Za-z]{2}$/.test(value)) throw new CertificateRequestError('--subject: C must be a two-letter country code');
    return { shortName, value };
  });
}

export function createSelfSignedCertificate(request: CertificateRequest): CreatedCertificate {
  if (!KEY_SIZES.includes(request.keySize)) throw new CertificateRequestError(`--key-size must be one of ${KEY_SIZES.join(', ')}`);
  if (!Number.isInteger(request.days) || request.days < 1 || request.days > 3650) throw new CertificateRequestError('--days must be a whole number from 1 to 3650');
  const attributes = parseSubject(request.subject);
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: request.keySize, publicExponent: 0x10001 });
  const privateKeyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  // A positive 128-bit serial (RFC 5280 4.1.2.2: positive, at most 20 octets).
  cert.serialNumber = `01${randomBytes(15).toString('hex')}`;
  // A few minutes back, so a clock that is slightly behind (Entra's or this machine's) still accepts it.
  const notBefore = new Date(Math.floor(Date.now() / 1000) * 1000 - 5 * 60 * 1000);
  const notAfter = new Date(notBefore.getTime() + request.days * 24 * 60 * 60 * 1000);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject(attributes);
  cert.setIssuer(attributes);
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', clientAuth: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  cert.sign(forge.pki.privateKeyFromPem(privateKeyPem), forge.md.sha256.create());
  const certificatePem = forge.pki.certificateToPem(cert).replace(/\r\n/g, '\n');
  const prints = certificateThumbprints(certificatePem);
  return {
    certificatePem,
    privateKeyPem,
    subject: new X509Certificate(certificatePem).subject.replace(/\n/g, ', '),
    notBefore,
    notAfter,
    sha1: prints.sha1,
    sha256: prints.sha256,
    keySize: request.keySize,
  };
}

/**
 * PKCS#12 with the key and the certificate, both encrypted with the passphrase (PBE with SHA-1 and 3DES, and a
 * SHA-1 MAC: the combination Windows, Java keystores, Azure Key Vault and OpenSSL 3 all import).
 */
export function pkcs12(created: CreatedCertificate, passphrase: string, friendlyName = 'calpush'): Buffer {
  const asn1 = forge.pkcs12.toPkcs12Asn1(forge.pki.privateKeyFromPem(created.privateKeyPem), [forge.pki.certificateFromPem(created.certificatePem)], passphrase, {
    algorithm: '3des',
    friendlyName,
    generateLocalKeyId: true,
  });
  return Buffer.from(forge.asn1.toDer(asn1).getBytes(), 'binary');
}

export interface CertificateFiles {
  privateKey: string;
  certificate: string;
  pfx?: string;
}

/** Where `cert create` writes: <dir>/<name>-key.pem, <dir>/<name>-cert.pem, <dir>/<name>.pfx. */
export function certificatePaths(dir: string, name: string, withPfx: boolean): CertificateFiles {
  const base = resolve(dir);
  return {
    privateKey: join(base, `${name}-key.pem`),
    certificate: join(base, `${name}-cert.pem`),
    ...(withPfx ? { pfx: join(base, `${name}.pfx`) } : {}),
  };
}

/** Writes the files; the private key and the PFX readable by the owner only. Refuses to overwrite unless force. */
export function writeCertificateFiles(created: CreatedCertificate, files: CertificateFiles, options: { passphrase?: string; force?: boolean }): void {
  if (!options.force) {
    const existing = [files.privateKey, files.certificate, files.pfx].filter((f): f is string => !!f && existsSync(f));
    if (existing.length) throw new CertificateRequestError(`${existing.join(', ')} already exist${existing.length === 1 ? 's' : ''}: choose another --name or --out-dir, or pass --force to replace`);
  }
  mkdirSync(resolve(files.privateKey, '..'), { recursive: true });
  writeFileSync(files.privateKey, created.privateKeyPem, { mode: 0o600 });
  chmodSync(files.privateKey, 0o600);
  writeFileSync(files.certificate, created.certificatePem, { mode: 0o644 });
  if (files.pfx) {
    if (!options.passphrase) throw new CertificateRequestError('a PFX needs a passphrase');
    writeFileSync(files.pfx, pkcs12(created, options.passphrase), { mode: 0o600 });
    chmodSync(files.pfx, 0o600);
  }
}
