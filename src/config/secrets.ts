// Secrets and files named by the config: a secret is always a reference ({"env": …} or {"file": …}), resolved at
// start and kept in memory only. Shared by the core config and every target's config section.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { CalpushError } from '../model/errors.ts';

export class ConfigError extends CalpushError {
  constructor(message: string, remedy?: string) {
    super('config', message, { remedy });
  }
}

/** Paths in the config are relative to the config file's directory. */
export function resolvePath(baseDir: string, path: string): string {
  return isAbsolute(path) ? path : resolve(baseDir, path);
}

/** Reads a secret reference ({env} or {file}); the value is kept in memory only. */
export function readSecret(reference: { env: string } | { file: string }, baseDir: string, what: string): string {
  if ('env' in reference) {
    const value = process.env[reference.env];
    if (!value) throw new ConfigError(`${what}: environment variable ${reference.env} is not set`);
    return value.trim();
  }
  const path = resolvePath(baseDir, reference.file);
  try {
    const mode = statSync(path).mode;
    // Readable by others: say so, but a read-only deployment may legitimately mount it that way.
    if (process.platform !== 'win32' && mode & 0o004) process.emitWarning(`${what} file ${path} is readable by every user on this machine (chmod 600 it)`);
    return readFileSync(path, 'utf8').trim();
  } catch (error) {
    throw new ConfigError(`${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
