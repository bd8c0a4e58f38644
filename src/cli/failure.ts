// How a command that could not finish tells the person who ran it. An operational failure — a config, an input,
// credentials, the store, a port — is a CalpushError: its message and its fix, never a stack trace. Anything else
// is a bug in calpush: one line saying so and where to report it; the stack only with --log-level debug (or trace)
// or CALPUSH_DEBUG=1.
import { readFileSync } from 'node:fs';
import { CalpushError } from '../model/errors.ts';
import { PortUnavailable } from '../server/listen.ts';
import { StoreError } from '../store/errors.ts';
import { TargetError } from '../targets/target.ts';
import { debugRequested } from './debug.ts';

/** Every exit status of calpush (README.md, "Exit status", lists them). */
export const EXIT = {
  ok: 0,
  /** Records rejected, events or mailboxes failed; doctor: a check failed. */
  failed: 1,
  /** The command line, config or input cannot be used, or the command was refused. */
  unusable: 2,
  /** Stopped by a failure no mailbox can get past (credentials, the endpoint). */
  stopped: 3,
  /** Recorded, but another calpush process was still delivering a mailbox when --busy-wait ran out. */
  busy: 4,
  /** The store cannot be used: read-only, disk full, locked, damaged, not a calpush store, from a newer calpush. */
  store: 5,
  /** The port to listen on is taken (or not allowed). */
  port: 6,
  /** Interrupted at a prompt (Ctrl+C): 128 + SIGINT. */
  interrupted: 130,
  /** A bug in calpush (EX_SOFTWARE). */
  bug: 70,
} as const;

/** Where bugs go: package.json's "bugs" (or "repository") when it names one. */
function bugTracker(): string {
  try {
    const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { bugs?: string | { url?: string }; repository?: string | { url?: string } };
    const bugs = typeof manifest.bugs === 'string' ? manifest.bugs : manifest.bugs?.url;
    if (bugs) return bugs;
    const repository = typeof manifest.repository === 'string' ? manifest.repository : manifest.repository?.url;
    if (repository) return `${repository.replace(/^git\+/, '').replace(/\.git$/, '')}/issues`;
  } catch {
    // an unreadable manifest only loses the address
  }
  return 'the calpush issue tracker';
}

/** What a file-system error means, and what to do about it. */
const FILE_PROBLEMS: Record<string, { reason: string; remedy: string }> = {
  ENOENT: { reason: 'it does not exist', remedy: 'check the path (relative paths are relative to the current folder, or to the config file in the config)' },
  EACCES: { reason: 'permission denied', remedy: 'check the permissions of the file and its folder (ls -l), or run calpush as a user that may use them' },
  EPERM: { reason: 'operation not permitted', remedy: 'check the permissions of the file and its folder (ls -l), or choose another path' },
  EROFS: { reason: 'the file system is read-only', remedy: 'choose a path on a writable file system' },
  ENOSPC: { reason: 'the disk is full', remedy: 'free space on that file system (df -h) and run again' },
  EDQUOT: { reason: 'the disk quota is used up', remedy: 'free space within the quota and run again' },
  EEXIST: { reason: 'it already exists', remedy: 'remove or move it, or choose another path (some commands take --force)' },
  ENOTDIR: { reason: 'a part of the path is a file, not a folder', remedy: 'check the path' },
  EISDIR: { reason: 'it is a folder, not a file', remedy: 'give the path of a file' },
};
const FILE_VERBS: Record<string, string> = { mkdir: 'create the folder', open: 'open', write: 'write', unlink: 'remove', rename: 'rename', scandir: 'read the folder', stat: 'read', lstat: 'read', access: 'use', copyfile: 'copy', chmod: 'change the mode of', rmdir: 'remove the folder', read: 'read' };

/**
 * A file that could not be read or written (an input, an output, a state folder) is the user's to fix, not a bug:
 * Node's error (EACCES, ENOENT, … with syscall and path) as a CalpushError saying which file and why.
 */
function fileProblem(error: unknown): CalpushError | undefined {
  const e = error as NodeJS.ErrnoException | null;
  if (!(e instanceof Error) || !e.code || !e.syscall || !e.path || error instanceof CalpushError) return undefined;
  const problem = FILE_PROBLEMS[e.code];
  if (!problem) return undefined;
  return new CalpushError(e.code, `cannot ${FILE_VERBS[e.syscall] ?? e.syscall} ${e.path}: ${problem.reason} (${e.code})`, { remedy: problem.remedy, cause: error });
}

/** The exit status an error that ended a command stands for. */
export function exitCodeForError(error: unknown): number {
  error = fileProblem(error) ?? error;
  if (error instanceof StoreError) return EXIT.store;
  if (error instanceof PortUnavailable) return EXIT.port;
  if (error instanceof TargetError && error.scope === 'fatal') return EXIT.stopped;
  if (error instanceof CalpushError) return EXIT.unusable;
  return EXIT.bug;
}

/** Prints a failure that ended a command before any summary (JSON on stdout with --json); returns the exit status. */
export function reportFailure(error: unknown, json: boolean): number {
  error = fileProblem(error) ?? error;
  const code = exitCodeForError(error);
  const known = code !== EXIT.bug;
  const message = error instanceof Error ? error.message : String(error);
  const remedy = error instanceof CalpushError ? error.remedy : undefined;
  const errorCode = error instanceof CalpushError ? error.code : error instanceof Error ? error.name : 'Error';
  const debug = debugRequested();
  if (json) {
    const report = known
      ? { code: errorCode, message, ...(remedy ? { remedy } : {}) }
      : { code: 'InternalError', message: `a bug in calpush: ${message}`, remedy: `please report it at ${bugTracker()}` };
    process.stdout.write(`${JSON.stringify({ error: report }, null, 2)}\n`);
  } else if (known) {
    process.stderr.write(`calpush: ${message}\n`);
    if (remedy) process.stderr.write(`  fix: ${remedy}\n`);
  } else {
    process.stderr.write(`calpush: internal error (a bug in calpush): ${message} — please report it at ${bugTracker()}${debug ? '' : ' with the output of the same command run with --log-level debug'}\n`);
  }
  if (debug && error instanceof Error && error.stack) process.stderr.write(`${error.stack}\n`);
  return code;
}
