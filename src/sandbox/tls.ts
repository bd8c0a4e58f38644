// X.509 for the sandbox: the self-signed HTTPS server certificate (SANs localhost, 127.0.0.1, ::1) and the demo
// app's client certificate. The RSA key pair comes from node:crypto (native, fast); node-forge builds and signs the
// certificate (SHA-256).
import { createHash, createPrivateKey, generateKeyPairSync, randomBytes, X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import forge from 'node-forge';

export interface CertificatePair {
  certPem: string;
  keyPem: string;
}

export interface CertificateOptions {
  commonName: string;
  /** DNS names and IP addresses (v4 or v6) for subjectAltName; none for a client certificate */
  altNames?: string[];
  /** Days it stays valid from now (default: five years). */
  validDays?: number;
  /** server (serverAuth, SANs, CA:true so it can be trusted as its own CA) or client (clientAuth) */
  usage: 'server' | 'client';
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * How far back a sandbox certificate's validity starts. Node (OpenSSL) checks a certificate's dates against the
 * machine's real clock, but the test suite runs the sandbox and calpush at fake times (`npm run test:clocks`: a
 * winter night, a summer afternoon, a DST change, possibly a year or more from the real date), and the
 * certificate is made at the sandbox's own "now". Valid from five years before that "now" to `validDays` after
 * it, the certificate is accepted whatever fake time the sandbox runs at. It is a self-signed certificate that
 * is only ever trusted explicitly (the config's caFile), so a long validity costs nothing.
 */
const VALID_BEFORE_NOW_DAYS = 5 * 365;

export function generateCertificate(options: CertificateOptions): CertificatePair {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  // A positive serial (leading byte < 0x80) as RFC 5280 asks.
  cert.serialNumber = '01' + randomBytes(15).toString('hex');
  const now = Date.now();
  const notBefore = new Date(now - VALID_BEFORE_NOW_DAYS * DAY_MS);
  const notAfter = new Date(now + (options.validDays ?? 5 * 365) * DAY_MS);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const subject = [{ name: 'commonName', value: options.commonName }, { name: 'organizationName', value: 'calpush sandbox' }];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  const extensions: object[] = [
    { name: 'basicConstraints', cA: options.usage === 'server', critical: true },
    options.usage === 'server'
      ? { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true, critical: true }
      : { name: 'keyUsage', digitalSignature: true, critical: true },
    { name: 'extKeyUsage', serverAuth: options.usage === 'server', clientAuth: options.usage === 'client' },
    { name: 'subjectKeyIdentifier' },
  ];
  if (options.altNames && options.altNames.length > 0) {
    extensions.push({
      name: 'subjectAltName',
      altNames: options.altNames.map((name) =>
        IPV4.test(name) || name.includes(':') ? { type: 7, ip: name } : { type: 2, value: name },
      ),
    });
  }
  cert.setExtensions(extensions);
  cert.sign(forge.pki.privateKeyFromPem(keyPem), forge.md.sha256.create());
  return { certPem: forge.pki.certificateToPem(cert), keyPem };
}

export const SERVER_ALT_NAMES = ['localhost', '127.0.0.1', '::1'];

export function generateServerCertificate(): CertificatePair {
  return generateCertificate({ commonName: 'calpush sandbox', altNames: SERVER_ALT_NAMES, usage: 'server' });
}

export function thumbprints(certPem: string): { sha1: string; sha256: string } {
  const raw = new X509Certificate(certPem).raw;
  return {
    sha1: createHash('sha1').update(raw).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(raw).digest('hex').toUpperCase(),
  };
}

/** True when the pair parses, the key belongs to the certificate and it is valid for at least another day. */
export function isUsablePair(pair: CertificatePair, requiredAltNames: string[] = []): boolean {
  try {
    const cert = new X509Certificate(pair.certPem);
    if (!cert.checkPrivateKey(createPrivateKey(pair.keyPem))) return false;
    if (Date.parse(cert.validTo) < Date.now() + 24 * 60 * 60 * 1000) return false;
    for (const name of requiredAltNames) {
      const ok = IPV4.test(name) || name.includes(':') ? cert.checkIP(name) !== undefined : cert.checkHost(name) !== undefined;
      if (!ok) return false;
    }
    return true;
  } catch {
    return false;
  }
}

/**
 * The pair stored as `<dir>/<name>-cert.pem` and `<dir>/<name>-key.pem` if usable, else a new pair written there
 * (key 0600). Reusing it means people trust the sandbox certificate once.
 */
export function loadOrCreatePair(dir: string, name: string, create: () => CertificatePair, requiredAltNames: string[] = []): { pair: CertificatePair; created: boolean } {
  const certPath = join(dir, `${name}-cert.pem`);
  const keyPath = join(dir, `${name}-key.pem`);
  if (existsSync(certPath) && existsSync(keyPath)) {
    const pair = { certPem: readFileSync(certPath, 'utf8'), keyPem: readFileSync(keyPath, 'utf8') };
    if (isUsablePair(pair, requiredAltNames)) return { pair, created: false };
  }
  const pair = create();
  mkdirSync(dir, { recursive: true });
  writeFileSync(certPath, pair.certPem, { mode: 0o644 });
  writeFileSync(keyPath, pair.keyPem, { mode: 0o600 });
  chmodSync(keyPath, 0o600);
  return { pair, created: true };
}

/** The sandbox's TLS certificate from a state directory (tls-cert.pem / tls-key.pem), created on first use. */
export function loadOrCreateServerCertificate(stateDir: string): { pair: CertificatePair; created: boolean } {
  return loadOrCreatePair(stateDir, 'tls', generateServerCertificate, SERVER_ALT_NAMES);
}
