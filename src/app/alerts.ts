// What the alerts need from the config besides their own section: when the configured app credential expires — the
// certificate's notAfter read from its file, or the client secret's `expiresAt` the administrator writes (Entra ID
// shows it; reading it through Graph, applications' passwordCredentials, would need Application.Read.All, a
// permission calpush does not otherwise need and so does not ask for).
import { readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import type { CredentialExpiry } from '../alerts/conditions.ts';
import { resolvePath } from '../config/secrets.ts';
import { targetConfigs, type Config, type TargetConfig } from './config.ts';

/** The app credentials of every Microsoft Graph target (app-only or delegated), with when each expires. */
export function credentialExpiries(config: Config, baseDir: string): CredentialExpiry[] {
  return [...targetConfigs(config).values()].flatMap((target) => targetCredentialExpiry(target, baseDir));
}

function targetCredentialExpiry(target: TargetConfig, baseDir: string): CredentialExpiry[] {
  if (target.kind !== 'graph' && target.kind !== 'graph-delegated') return [];
  const credential = target.credential;
  if (credential.kind === 'secret') {
    return [{ name: `the client secret of app ${target.clientId}`, expiresAt: credential.expiresAt ? new Date(`${credential.expiresAt}T00:00:00Z`) : null }];
  }
  if (!credential.certificate) return [];
  const path = resolvePath(baseDir, credential.certificate.file);
  try {
    const certificate = new X509Certificate(readFileSync(path));
    return [{ name: `the certificate of app ${target.clientId} (${certificate.subject.split('\n').join(', ')})`, expiresAt: new Date(certificate.validTo) }];
  } catch {
    return [];
  }
}
