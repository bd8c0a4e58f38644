// Real CalDAV servers for the tests and the benchmark: Radicale 3 and Xandikos from Debian (apt-get install
// radicale xandikos), each started on 127.0.0.1 on a free port with a temporary storage directory.
//
// A missing server fails the tests that need it with the install line (test/support/tools.ts); `npm test` checks
// for both before it starts.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findExecutable, missingToolsMessage } from '../support/tools.ts';

export { findExecutable };

export type ServerKind = 'radicale' | 'xandikos';

export interface Credentials {
  username: string;
  password: string;
}

export interface CalDavServer {
  kind: ServerKind;
  /** e.g. http://127.0.0.1:40123/ */
  url: string;
  port: number;
  storageDir: string;
  /** Radicale: the accounts in its htpasswd file. Xandikos has no authentication. */
  users: Record<string, Credentials>;
  /** The account that may write every user's collections (Radicale rights), or null (Xandikos: anyone may). */
  service: Credentials | null;
  /** Collection URL for a calendar name, as the server lays them out. */
  calendarUrl(user: string, calendar?: string): string;
  /** Creates a calendar collection (and, on Radicale, the user's principal collection first). */
  makeCalendar(user: string, calendar?: string): Promise<void>;
  /** A plain request with the service (or no) credentials, for checks from the outside. */
  request(method: string, url: string, init?: { headers?: Record<string, string>; body?: string; auth?: Credentials | null }): Promise<{ status: number; headers: Headers; body: string }>;
  log(): string;
  close(): Promise<void>;
}

export function serverVersion(kind: ServerKind): string | null {
  const exe = findExecutable(kind);
  if (!exe) return null;
  const result = spawnSync(exe, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return /\d+\.\d+(\.\d+)?/.exec(`${result.stdout}${result.stderr}`)?.[0] ?? null;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function basic(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`).toString('base64')}`;
}

async function waitUntilAnswering(url: string, child: ChildProcess, output: () => string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the server exited (${child.exitCode ?? child.signalCode}) before answering:\n${output()}`);
    try {
      await fetch(url, { method: 'OPTIONS', signal: AbortSignal.timeout(1000) });
      return;
    } catch {
      if (Date.now() > deadline) throw new Error(`no answer from ${url} within ${timeoutMs} ms:\n${output()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function spawnServer(executable: string, args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(executable, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PYTHONUNBUFFERED: '1' } });
  let text = '';
  const keep = (chunk: Buffer) => {
    text += chunk.toString();
    if (text.length > 200_000) text = text.slice(-100_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, output: () => text };
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function missing(kind: ServerKind): Error {
  return new Error(missingToolsMessage([kind]));
}

export interface RadicaleOptions {
  /** User names besides the service account; each gets the password "<name>-pw". */
  users?: string[];
  /** Seconds Radicale waits after a failed login (its default is 1). */
  authDelay?: number;
  logLevel?: 'debug' | 'info' | 'warning' | 'error';
}

/**
 * Radicale 3 with htpasswd authentication (plain, it is a test) and a rights file: every user reads and writes
 * their own collections; the service account "calpush" reads and writes everyone's (what one calpush account
 * writing many people's calendars needs).
 */
export async function startRadicale(options: RadicaleOptions = {}): Promise<CalDavServer> {
  const executable = findExecutable('radicale');
  if (!executable) throw missing('radicale');
  const dir = mkdtempSync(join(tmpdir(), 'calpush-radicale-'));
  const storageDir = join(dir, 'collections');
  const service: Credentials = { username: 'calpush', password: 'calpush-pw' };
  const users: Record<string, Credentials> = { calpush: service };
  for (const name of options.users ?? ['alice', 'bob']) users[name] = { username: name, password: `${name}-pw` };
  writeFileSync(join(dir, 'htpasswd'), Object.values(users).map((u) => `${u.username}:${u.password}\n`).join(''));
  // https://radicale.org/v3.html#rights: R/W on principal collections, r/w on the calendars in them.
  writeFileSync(
    join(dir, 'rights'),
    [
      '[service]',
      `user: ${service.username}`,
      'collection: .*',
      'permissions: RWrw',
      '',
      '[root]',
      'user: .+',
      'collection:',
      'permissions: R',
      '',
      '[principal]',
      'user: .+',
      'collection: {user}',
      'permissions: RW',
      '',
      '[calendars]',
      'user: .+',
      'collection: {user}/[^/]+',
      'permissions: rw',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  // Our own config file replaces /etc/radicale/config (Debian's sets remote_user auth and TLS files).
  writeFileSync(
    join(dir, 'config'),
    [
      '[server]',
      `hosts = 127.0.0.1:${port}`,
      'max_connections = 20',
      '[auth]',
      'type = htpasswd',
      `htpasswd_filename = ${join(dir, 'htpasswd')}`,
      'htpasswd_encryption = plain',
      `delay = ${options.authDelay ?? 0.1}`,
      '[rights]',
      'type = from_file',
      `file = ${join(dir, 'rights')}`,
      '[storage]',
      'type = multifilesystem',
      `filesystem_folder = ${storageDir}`,
      '[web]',
      'type = none',
      '[logging]',
      `level = ${options.logLevel ?? 'warning'}`,
      '',
    ].join('\n'),
  );
  const { child, output } = spawnServer(executable, ['--config', join(dir, 'config')]);
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitUntilAnswering(url, child, output);
  } catch (error) {
    await stop(child);
    throw error;
  }
  const server: CalDavServer = {
    kind: 'radicale',
    url,
    port,
    storageDir,
    users,
    service,
    calendarUrl: (user, calendar = 'timetable') => `${url}${user}/${calendar}/`,
    async makeCalendar(user, calendar = 'timetable') {
      const principal = await server.request('PROPFIND', `${url}${user}/`, { headers: { depth: '0' } });
      if (principal.status === 404) {
        const made = await server.request('MKCOL', `${url}${user}/`);
        if (made.status !== 201) throw new Error(`MKCOL /${user}/ answered ${made.status}: ${made.body}`);
      }
      const made = await server.request('MKCALENDAR', server.calendarUrl(user, calendar));
      if (made.status !== 201) throw new Error(`MKCALENDAR ${server.calendarUrl(user, calendar)} answered ${made.status}: ${made.body}`);
    },
    async request(method, target, init = {}) {
      const auth = init.auth === undefined ? service : init.auth;
      const response = await fetch(target, {
        method,
        headers: { ...(auth ? { authorization: basic(auth) } : {}), ...init.headers },
        ...(init.body !== undefined ? { body: init.body } : {}),
      });
      return { status: response.status, headers: response.headers, body: await response.text() };
    },
    log: output,
    async close() {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

/**
 * Xandikos with its defaults (a principal at /user/ with /user/calendars/calendar/). It has no authentication:
 * it is meant to sit behind a reverse proxy that does it, so the credentials calpush sends are ignored.
 */
export async function startXandikos(): Promise<CalDavServer> {
  const executable = findExecutable('xandikos');
  if (!executable) throw missing('xandikos');
  const dir = mkdtempSync(join(tmpdir(), 'calpush-xandikos-'));
  const port = await freePort();
  const { child, output } = spawnServer(executable, ['--defaults', '-d', dir, '-l', '127.0.0.1', '-p', String(port)]);
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitUntilAnswering(url, child, output);
  } catch (error) {
    await stop(child);
    throw error;
  }
  const server: CalDavServer = {
    kind: 'xandikos',
    url,
    port,
    storageDir: dir,
    users: {},
    service: null,
    // One principal; each "user" gets a calendar collection of their own under it.
    calendarUrl: (user, calendar = 'timetable') => `${url}user/calendars/${user}-${calendar}/`,
    async makeCalendar(user, calendar = 'timetable') {
      const made = await server.request('MKCALENDAR', server.calendarUrl(user, calendar));
      if (made.status !== 201) throw new Error(`MKCALENDAR ${server.calendarUrl(user, calendar)} answered ${made.status}: ${made.body}`);
    },
    async request(method, target, init = {}) {
      const response = await fetch(target, { method, headers: { ...init.headers }, ...(init.body !== undefined ? { body: init.body } : {}) });
      return { status: response.status, headers: response.headers, body: await response.text() };
    },
    log: output,
    async close() {
      await stop(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return server;
}

export function startServer(kind: ServerKind, options: RadicaleOptions = {}): Promise<CalDavServer> {
  return kind === 'radicale' ? startRadicale(options) : startXandikos();
}

/** A fetch that counts requests per method (and keeps the last few), for "no write was sent" assertions. */
export function countingFetch(inner: typeof fetch = globalThis.fetch): { fetch: typeof fetch; counts: Record<string, number>; total: () => number; writes: () => number; reset: () => void } {
  const counts: Record<string, number> = {};
  const fn = ((input: string | URL | Request, init?: RequestInit) => {
    const method = (init?.method ?? 'GET').toUpperCase();
    counts[method] = (counts[method] ?? 0) + 1;
    return inner(input, init);
  }) as typeof fetch;
  return {
    fetch: fn,
    counts,
    total: () => Object.values(counts).reduce((a, b) => a + b, 0),
    writes: () => (counts.PUT ?? 0) + (counts.DELETE ?? 0) + (counts.POST ?? 0) + (counts.PROPPATCH ?? 0) + (counts.MOVE ?? 0) + (counts.COPY ?? 0),
    reset: () => {
      for (const key of Object.keys(counts)) delete counts[key];
    },
  };
}
