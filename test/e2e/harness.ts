// Shared set-up for end-to-end tests: a sandbox on loopback, a workspace with a config that reaches it, input
// files, and the CLI run as a real child process.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseConfig, type Config } from '../../src/app/config.ts';
import { fixedClock } from '../../src/model/clock.ts';
import type { EventInput } from '../../src/model/event.ts';
import type { Sandbox, TenantSeed } from '../../src/sandbox/index.ts';
import { TAG_PROPERTY_ID } from '../../src/model/tag.ts';

export const repoRoot = resolve(import.meta.dirname, '../..');

export interface Workspace {
  dir: string;
  configPath: string;
  config: Config;
  rawConfig: Record<string, unknown>;
  input(name: string, events: Array<EventInput | Record<string, unknown>>): string;
}

/** `extra` goes into the config's top level, except `batch`, which belongs to the target. */
export function createWorkspace(sandbox: Sandbox, credential: 'secret' | 'certificate' = 'secret', extraConfig: Record<string, unknown> = {}): Workspace {
  const { batch, requestTimeoutMs, ...extra } = extraConfig;
  const dir = mkdtempSync(join(tmpdir(), 'calpush-e2e-'));
  writeFileSync(join(dir, 'ca.pem'), sandbox.caPem);
  writeFileSync(join(dir, 'secret.txt'), sandbox.demoCredentials.clientSecret, { mode: 0o600 });
  writeFileSync(join(dir, 'key.pem'), sandbox.demoCredentials.privateKeyPem, { mode: 0o600 });
  chmodSync(join(dir, 'key.pem'), 0o600);
  writeFileSync(join(dir, 'cert.pem'), sandbox.demoCredentials.certificatePem);
  const rawConfig: Record<string, unknown> = {
    instance: 'test',
    store: { sqlite: 'state/calpush.sqlite' },
    timeZone: 'Europe/Amsterdam',
    target: {
      kind: 'graph',
      tenantId: sandbox.tenantId,
      clientId: sandbox.demoCredentials.clientId,
      credential:
        credential === 'secret'
          ? { kind: 'secret', secret: { file: 'secret.txt' } }
          : { kind: 'certificate', privateKey: { file: 'key.pem' }, certificate: { file: 'cert.pem' } },
      authorityHost: sandbox.url,
      graphBaseUrl: sandbox.graphBaseUrl,
      caFile: 'ca.pem',
      ...(batch ? { batch } : {}),
      ...(requestTimeoutMs ? { requestTimeoutMs } : {}),
    },
    ...extra,
  };
  return workspaceAt(dir, rawConfig);
}

/** A workspace in `dir` with `rawConfig` written as its calpush.config.json. */
export function workspaceAt(dir: string, rawConfig: Record<string, unknown>): Workspace {
  const configPath = join(dir, 'calpush.config.json');
  writeFileSync(configPath, JSON.stringify(rawConfig, null, 2));
  return {
    dir,
    configPath,
    rawConfig,
    config: parseConfig(rawConfig),
    input(name, events) {
      const path = join(dir, name);
      writeFileSync(path, `${events.map((e) => JSON.stringify(e)).join('\n')}\n`);
      return path;
    },
  };
}

/** Active user mailboxes in the app's scope that hold someone's own (foreign) events, first. */
export function usableStudents(seed: TenantSeed): string[] {
  const app = seed.apps[0]!;
  const inScope = (address: string) => !app.scope || app.scope.kind === 'all' || app.scope.mailboxes.map((m) => m.toLowerCase()).includes(address.toLowerCase());
  const withForeign = new Set((seed.events ?? []).map((e) => e.mailbox.toLowerCase()));
  return seed.mailboxes
    .filter((m) => m.kind === 'user' && (m.state ?? 'active') === 'active' && inScope(m.address))
    .map((m) => m.address.toLowerCase())
    .sort((a, b) => Number(withForeign.has(b)) - Number(withForeign.has(a)) || a.localeCompare(b));
}

/**
 * "Now" for syncs that remove events: before every lecture() (December 2026), so retention, which keeps ended
 * events, keeps none of them at whatever hour the suite runs.
 */
export const beforeTheLectures = () => fixedClock('2026-11-01T00:00:00Z');

export function lecture(calendar: string, n: number, extra: Partial<EventInput> = {}): EventInput {
  const day = String(1 + (n % 28)).padStart(2, '0');
  const hour = String(8 + (n % 9)).padStart(2, '0');
  return {
    calendar,
    id: `lecture-${n}`,
    subject: `Lecture ${n}`,
    start: `2026-12-${day}T${hour}:00`,
    end: `2026-12-${day}T${hour}:45`,
    timeZone: 'Europe/Amsterdam',
    location: `Room ${n % 7}`,
    categories: ['Timetable'],
    ...extra,
  };
}

/** Events in a mailbox that carry our tag (any instance). */
export function tagged(sandbox: Sandbox, mailbox: string) {
  return sandbox.listEvents(mailbox).filter((e) => (e.singleValueExtendedProperties ?? []).some((p: { id: string }) => p.id.toLowerCase() === TAG_PROPERTY_ID.toLowerCase()));
}

/** Events in a mailbox that calpush did not create, serialised exactly. */
export function foreignSnapshot(sandbox: Sandbox, mailbox: string): string {
  const ours = new Set(tagged(sandbox, mailbox).map((e) => e.id));
  return JSON.stringify(sandbox.listEvents(mailbox).filter((e) => !ours.has(e.id)));
}

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs calpush from the sources (src/cli/main.ts), or from `entry` (e.g. bin/calpush.js, which runs dist/). */
export function startCli(args: string[], options: { cwd?: string; env?: Record<string, string>; entry?: string } = {}): { child: ChildProcess; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [join(repoRoot, options.entry ?? 'src/cli/main.ts'), ...args], {
    cwd: options.cwd ?? repoRoot,
    env: { ...process.env, NO_COLOR: '1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const done = new Promise<CliResult>((resolveDone) => child.on('close', (code, signal) => resolveDone({ code, signal, stdout, stderr })));
  return { child, done };
}

export function runCli(args: string[], options: { cwd?: string; env?: Record<string, string>; entry?: string } = {}): Promise<CliResult> {
  return startCli(args, options).done;
}
