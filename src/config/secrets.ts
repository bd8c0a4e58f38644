// Secrets and files named by the config: a secret is always a reference ({"env": …} or {"file": …}), resolved at
// start and kept in memory only. The building blocks every part's config section uses (targets, sources, server);
// the assembled config is src/app/config.ts.
import { readFileSync, statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { CalpushError } from '../model/errors.ts';

/** Where a secret is kept: an environment variable or a file, never the config itself. */
export const secretReferenceSchema = z.union([z.object({ env: z.string().min(1) }).strict(), z.object({ file: z.string().min(1) }).strict()], {
  error: 'must be {"env": "VARIABLE"} or {"file": "path"}: secrets are never written in the config itself',
});
export type SecretReference = z.infer<typeof secretReferenceSchema>;

/** A file the config names (a certificate, a CA): relative paths are relative to the config file. */
export const fileReferenceSchema = z.object({ file: z.string().min(1) }).strict();

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
