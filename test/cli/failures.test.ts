// How the command line ends when it cannot do its job: an operational failure is one message with its fix and a
// documented exit status, never a stack trace; a bug says it is one and where to report it (the stack only when
// debugging); a reader that goes away (`calpush status | head`) ends the output quietly; a busy port is one line.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { EXIT, exitCodeForError, reportFailure } from '../../src/cli/failure.ts';
import { ConfigError } from '../../src/config/secrets.ts';
import { PortUnavailable } from '../../src/server/listen.ts';
import { StoreError } from '../../src/store/errors.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { SyncRefused } from '../../src/app/sync.ts';
import { validateEvent } from '../../src/model/event.ts';
import { TargetError } from '../../src/targets/target.ts';
import { repoRoot, runCli } from '../e2e/harness.ts';

const tempDir = () => mkdtempSync(join(tmpdir(), 'calpush-cli-failures-'));
const noStack = (text: string) => expect(text).not.toMatch(/\n\s+at .*:\d+:\d+/);

/** A config whose target is never reached (these commands fail before, or never need it). */
function config(dir: string, extra: Record<string, unknown> = {}): string {
  writeFileSync(join(dir, 'secret.txt'), 'not-used', { mode: 0o600 });
  const path = join(dir, 'calpush.config.json');
  writeFileSync(
    path,
    JSON.stringify({
      instance: 'cli-failures',
      store: { sqlite: 'state/calpush.sqlite' },
      target: { kind: 'graph', tenantId: '2f6d1e3a-7c4b-4e8f-9a15-0c3b5d7e9f21', clientId: '5a8e3c71-2d94-4b6f-8e0a-13c7f9d2b456', credential: { kind: 'secret', secret: { file: 'secret.txt' } }, authorityHost: 'https://127.0.0.1:1', graphBaseUrl: 'https://127.0.0.1:1/v1.0' },
      ...extra,
    }),
  );
  return path;
}

describe('reportFailure', () => {
  const originalDebug = process.env['CALPUSH_DEBUG'];
  afterEach(() => {
    vi.restoreAllMocks();
    if (originalDebug === undefined) delete process.env['CALPUSH_DEBUG'];
    else process.env['CALPUSH_DEBUG'] = originalDebug;
  });
  function printed(error: unknown, json = false): { code: number; stderr: string; stdout: string } {
    let stderr = '';
    let stdout = '';
    vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
    const code = reportFailure(error, json);
    vi.restoreAllMocks();
    return { code, stderr, stdout };
  }

  it('an operational failure (any CalpushError): its message and fix, no stack; exit status by kind', () => {
    delete process.env['CALPUSH_DEBUG'];
    const store = printed(new StoreError('StoreFull', '/var/lib/calpush/calpush.sqlite', 'the disk holding the store /var/lib/calpush/calpush.sqlite is full', { remedy: 'free space' }));
    expect(store).toEqual({ code: EXIT.store, stdout: '', stderr: 'calpush: the disk holding the store /var/lib/calpush/calpush.sqlite is full\n  fix: free space\n' });
    expect(exitCodeForError(new TargetError('fatal', 'AADSTS7000215', 'bad secret'))).toBe(EXIT.stopped);
    expect(exitCodeForError(new PortUnavailable('PortInUse', 'busy'))).toBe(EXIT.port);
    expect(exitCodeForError(new ConfigError('bad config'))).toBe(EXIT.unusable);
    expect(exitCodeForError(new SyncRefused('refused'))).toBe(EXIT.unusable);
    const config = new ConfigError('bad config');
    expect(printed(config, true)).toEqual({ code: EXIT.unusable, stderr: '', stdout: `${JSON.stringify({ error: { code: config.code, message: 'bad config' } }, null, 2)}\n` });
  });

  it('a file that cannot be read or written: which file, why, and the fix (exit 2), not a bug', () => {
    delete process.env['CALPUSH_DEBUG'];
    const error = Object.assign(new Error("EACCES: permission denied, open '/srv/out.ps1'"), { code: 'EACCES', syscall: 'open', path: '/srv/out.ps1', errno: -13 });
    const { code, stderr } = printed(error);
    expect(code).toBe(EXIT.unusable);
    expect(stderr).toBe('calpush: cannot open /srv/out.ps1: permission denied (EACCES)\n  fix: check the permissions of the file and its folder (ls -l), or run calpush as a user that may use them\n');
  });

  it('anything else is a bug: one line saying so and where to report it (exit 70); the stack only when debugging', () => {
    delete process.env['CALPUSH_DEBUG'];
    const bug = new TypeError("Cannot read properties of undefined (reading 'calendar')");
    const quiet = printed(bug);
    expect(quiet.code).toBe(EXIT.bug);
    expect(quiet.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(quiet.stderr).toMatch(/^calpush: internal error \(a bug in calpush\): Cannot read properties of undefined \(reading 'calendar'\) — please report it at .+ with the output of the same command run with --log-level debug\n$/);
    process.env['CALPUSH_DEBUG'] = '1';
    expect(printed(bug).stderr).toContain('    at ');
  });
});

describe('the command line', () => {
  const servers: Server[] = [];
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  });
  async function busyPort(): Promise<number> {
    const server = createServer();
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return (server.address() as { port: number }).port;
  }

  it('a busy port (calpush sandbox, calpush serve): one line with the port and the fix, exit 6', async () => {
    const port = await busyPort();
    const sandbox = await runCli(['sandbox', '--port', String(port), '--state-dir', join(tempDir(), 'sandbox')]);
    expect(sandbox.code).toBe(EXIT.port);
    expect(sandbox.stderr).toBe(
      `calpush: cannot listen on 127.0.0.1:${port}: the port is already in use (EADDRINUSE)\n  fix: stop what listens there (ss -ltnp 'sport = :${port}' shows it; another calpush?), or choose another port with --port\n`,
    );
    const dir = tempDir();
    const serve = await runCli(['serve', '-c', config(dir), '--host', '127.0.0.1', '--port', String(port)]);
    expect(serve.code).toBe(EXIT.port);
    expect(serve.stderr).toMatch(new RegExp(`^calpush: cannot listen on 127\\.0\\.0\\.1:${port}: the port is already in use \\(EADDRINUSE\\)\n {2}fix: .* or choose another port with --port \\(or server\\.port in the config\\)\n$`));
  });

  it('a closed stdout (calpush status | head -1) ends quietly', async () => {
    const dir = tempDir();
    const configPath = config(dir);
    const store = new SqliteStore(join(dir, 'state', 'calpush.sqlite'));
    const calendars = Array.from({ length: 3000 }, (_, i) => `m${i}@contoso.edu`);
    const events = calendars.map((calendar) => {
      const result = validateEvent({ calendar, id: 'x', subject: 'x', start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'UTC' });
      if (!result.ok) throw new Error('invalid');
      return result.desired;
    });
    await store.applyDesired({ calendars, events, held: [] });
    await store.close();
    const child = spawn(process.execPath, [join(repoRoot, 'src/cli/main.ts'), 'status', '-c', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Like `head -1`: read the first chunk, then go away.
    child.stdout.once('data', () => child.stdout.destroy());
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('usage mistakes exit 2 with commander’s one line, never a stack trace', async () => {
    const cases = [['sandbox', '--port', '99999'], ['serve', '-c', 'x.json', '--port', 'eighty'], ['demo', '--students', 'many'], ['doctor', 'x@contoso.edu', '-c', 'x.json', '--timeout', 'soon'], ['no-such-command'], ['sync'], ['sync', '-c', 'x.json', '-i', 'x.ics', '--horizon-days', 'soon'], ['import', '-c', 'x.json', 'x.ics', '--horizon-days', '0'], ['sync', '-c', 'x.json', '-i', 'x.ics', '--busy-wait', 'forever']];
    for (const args of cases) {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^error: /);
      noStack(result.stderr);
      // A number option names itself and its range (not a NaN that travels on to the config's failure).
      const numeric = args.find((arg) => arg === '--horizon-days' || arg === '--busy-wait');
      if (numeric) expect(result.stderr).toMatch(new RegExp(`${numeric} must be an? (integer|number) from`));
    }
    const dir = tempDir();
    const logLevel = await runCli(['status', '-c', config(dir), '--log-level', 'loud']);
    expect([logLevel.code, logLevel.stderr]).toEqual([2, expect.stringMatching(/^error: unknown option '--log-level'/)]);
    const sync = await runCli(['sync', '-c', config(dir), '-i', 'x.ndjson', '--log-level', 'loud']);
    expect(sync.code).toBe(2);
    expect(sync.stderr).toBe('calpush: --log-level (or CALPUSH_LOG_LEVEL) "loud" is not a log level\n  fix: use one of fatal, error, warn, info, debug, trace, silent\n');
  });

  it('files that cannot be written (demo, cert create): which one and why, exit 2, no stack', async () => {
    const locked = process.getuid?.() === 0 ? '/sys/calpush-cli-test' : join(tempDir(), 'locked');
    if (process.getuid?.() !== 0) {
      writeFileSync(`${locked}.keep`, '');
      chmodSync(join(locked, '..'), 0o500);
    }
    for (const args of [['demo', '--dir', join(locked, 'demo')], ['cert', 'create', '--no-pfx', '--out-dir', join(locked, 'certs')]]) {
      const result = await runCli(args);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(new RegExp(`^calpush: cannot create the folder ${locked.replace(/[/.]/g, '\\$&')}/(demo|certs): (operation not permitted|permission denied) \\(E[A-Z]+\\)\n {2}fix: `));
      noStack(result.stderr);
    }
  });

  it('its own warnings read like its other messages, not like Node’s', async () => {
    const dir = tempDir();
    const configPath = config(dir);
    chmodSync(join(dir, 'secret.txt'), 0o644);
    const result = await runCli(['sync', '-c', configPath, '-i', join(dir, 'missing.ndjson')]);
    expect(result.stderr).toContain(`calpush: warning: target.credential.secret file ${join(dir, 'secret.txt')} is readable by every user on this machine (chmod 600 it)\n`);
    expect(result.stderr).not.toMatch(/\(node:\d+\)/);
  });
});
