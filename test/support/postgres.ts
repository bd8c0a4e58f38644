// A throwaway PostgreSQL cluster for the tests: initdb into a new temporary folder, pg_ctl start on a free
// loopback port (its Unix socket in that folder, nothing on the machine's own PostgreSQL), and on stop pg_ctl stop
// and the folder removed. Debian's server programs live in /usr/lib/postgresql/<version>/bin (tools.ts finds the
// newest installed); .ci/run installs the `postgresql` package.
//
// initdb refuses to run as root (a superuser-owned cluster could be taken over through the server). The tests run
// as root here and on CI, so as root every PostgreSQL program runs as the unprivileged `postgres` user that
// Debian's package creates (`nobody` where it does not exist), through runuser, and the cluster's folder is that
// user's, made by it in /tmp (the run's own temporary folder is root's, 0700). As any other user they run as
// that user, in the run's temporary folder. Authentication is `trust` on loopback only: a test cluster, gone after.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findPostgresBin, missingToolsMessage } from './tools.ts';

export interface PostgresCluster {
  /** postgres://postgres@127.0.0.1:<port>/postgres */
  url: string;
  port: number;
  /** A fresh schema name for one test (the store creates it): tests share the cluster, never their tables. */
  schema(prefix?: string): string;
  /** The postmaster's pid (benchmarks read the server's CPU time from /proc/<pid>/stat: its own and its reaped backends'). */
  serverPid(): number;
  stop(): void;
}

/** The user PostgreSQL runs as: root may not; everyone else runs it as themselves. */
function serverUser(): string | null {
  if (process.getuid?.() !== 0) return null;
  return spawnSync('id', ['-u', 'postgres']).status === 0 ? 'postgres' : 'nobody';
}

function run(user: string | null, command: string, args: string[]): SpawnSyncReturns<string> {
  const [file, argv] = user ? ['runuser', ['-u', user, '--', command, ...args]] : [command, args];
  // cwd /: runuser's user may not enter the test's working directory.
  return spawnSync(file, argv, { encoding: 'utf8', cwd: '/', env: { ...process.env, LC_ALL: 'C', TMPDIR: user ? '/tmp' : tmpdir() } });
}

function check(result: SpawnSyncReturns<string>, what: string): string {
  if (result.status !== 0) throw new Error(`${what} failed (status ${result.status}): ${result.stderr || result.stdout || result.error?.message}`);
  return result.stdout.trim();
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

let schemas = 0;

/** Starts a cluster; `stop()` (in afterAll) stops it and removes its folder. */
export async function startPostgres(): Promise<PostgresCluster> {
  const bin = findPostgresBin();
  if (!bin) throw new Error(missingToolsMessage(['initdb']));
  const user = serverUser();
  const dir = check(run(user, 'mktemp', ['-d', join(user ? '/tmp' : tmpdir(), 'calpush-pg-XXXXXX')]), 'mktemp');
  const data = join(dir, 'data');
  const remove = () => run(user, 'rm', ['-rf', dir]);
  try {
    check(run(user, join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-sync']), 'initdb');
    const port = await freePort();
    // fsync off: a test cluster need not survive a power cut, and the 2-core machines are shared.
    const settings = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
    check(run(user, join(bin, 'pg_ctl'), ['-D', data, '-l', join(dir, 'server.log'), '-o', settings, '-w', '-t', '60', 'start']), 'pg_ctl start');
    let stopped = false;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      port,
      schema: (prefix = 't') => `${prefix}_${process.pid}_${++schemas}`,
      serverPid: () => Number(/PID: (\d+)/.exec(check(run(user, join(bin, 'pg_ctl'), ['-D', data, 'status']), 'pg_ctl status'))?.[1]),
      stop() {
        if (stopped) return;
        stopped = true;
        run(user, join(bin, 'pg_ctl'), ['-D', data, '-m', 'immediate', '-w', 'stop']);
        remove();
      },
    };
  } catch (error) {
    const log = run(user, 'cat', [join(dir, 'server.log')]).stdout;
    remove();
    throw new Error(`${(error as Error).message}${log ? `\nserver log:\n${log}` : ''}`);
  }
}
