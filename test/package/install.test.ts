// The npm package as a user gets it: `npm pack`, then in an empty project `npm install --offline <tarball>`,
// `npx calpush demo`, a JavaScript file that imports calpush/client and a TypeScript file that type-checks against
// its declarations. Offline: the dependencies come from the npm cache that `npm ci` filled.
//
// The package is packed from a copy of the sources (with this checkout's node_modules linked in), so that its
// build (npm runs `prepare` on pack) does not replace this checkout's dist/ under the tests that run meanwhile.
// The empty project gets a lockfile with calpush's dependency tree as this checkout's package-lock.json pins it
// (the versions the tests ran with): `npm install` without one asks the registry for every dependency's full
// metadata document (npm 11 resolves new dependencies with full metadata), which `npm ci` never caches, so it
// could not work offline; with it, npm only takes the tarballs from the cache.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const repoRoot = resolve(import.meta.dirname, '../..');
/** What `npm pack` needs from a checkout: the package's files, and what builds dist/. */
const PACK_SOURCES = ['package.json', 'README.md', 'bin', 'src', 'docs', 'scripts/build.ts', 'tsconfig.json', 'tsconfig.build.json'];

let work: string;
let consumer: string;
let packed: { filename: string; integrity: string; files: Array<{ path: string }> };

interface LockEntry {
  version?: string;
  dev?: boolean;
  [field: string]: unknown;
}

/** package.json and package-lock.json of an empty project that depends on the tarball, offline-installable. */
function writeConsumerProject(dir: string): void {
  const spec = `file:../${packed.filename}`;
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as Record<string, unknown>;
  const lock = JSON.parse(readFileSync(join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const packages: Record<string, LockEntry> = {
    '': { name: 'consumer', version: '1.0.0', dependencies: { calpush: spec } },
    'node_modules/calpush': { version: pkg.version as string, resolved: spec, integrity: packed.integrity, dependencies: pkg.dependencies, bin: pkg.bin, engines: pkg.engines },
  };
  for (const [path, entry] of Object.entries(lock.packages)) if (path.startsWith('node_modules/') && !entry.dev) packages[path] = entry;
  writeFileSync(join(dir, 'package.json'), `${JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module', dependencies: { calpush: spec } }, null, 2)}\n`);
  writeFileSync(join(dir, 'package-lock.json'), `${JSON.stringify({ name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true, packages }, null, 2)}\n`);
}

/**
 * Node ≥ 22.12 first on PATH (the node@24 devDependency; the machine's own node may be older), and none of the
 * suite's preloads: the read guard would stop npm reading its cache and ~/.npmrc, which is npm's business.
 */
function env(): NodeJS.ProcessEnv {
  const result: NodeJS.ProcessEnv = { ...process.env, PATH: [join(repoRoot, 'node_modules/node/bin'), process.env.PATH].join(delimiter), NO_COLOR: '1' };
  result.NODE_OPTIONS = (process.env.NODE_OPTIONS ?? '').replace(/--import="?[^"\s]*fs-guard\.mjs"?/g, '').trim();
  delete result.CALPUSH_FS_GUARD_CHILD;
  for (const key of Object.keys(result)) if (key.startsWith('npm_')) delete result[key];
  return result;
}

function run(command: string, args: string[], cwd: string, timeoutMs = 180_000): SpawnSyncReturns<string> {
  const result = spawnSync(command, args, { cwd, env: env(), encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
  if (result.error) throw result.error;
  return result;
}

const output = (result: SpawnSyncReturns<string>) => `exit ${result.status}\n${result.stdout}\n${result.stderr}`;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'calpush-package-'));
  const checkout = join(work, 'checkout');
  for (const entry of PACK_SOURCES) cpSync(join(repoRoot, entry), join(checkout, entry), { recursive: true });
  symlinkSync(join(repoRoot, 'node_modules'), join(checkout, 'node_modules'), 'dir');
  const pack = run('npm', ['pack', '--json', '--pack-destination', work], checkout);
  expect(pack.status, output(pack)).toBe(0);
  packed = (JSON.parse(pack.stdout) as Array<typeof packed>)[0]!;

  consumer = join(work, 'consumer');
  mkdirSync(consumer);
  writeConsumerProject(consumer);
  const install = run('npm', ['install', '--offline', '--no-audit', '--no-fund', join(work, packed.filename)], consumer);
  expect(install.status, output(install)).toBe(0);
}, 300_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the npm package', () => {
  it('holds the built JavaScript, its declarations and the sandbox assets, and no sources or tests', () => {
    const files = packed.files.map((file) => file.path);
    for (const path of [
      'bin/calpush.js',
      'bin/entry.js',
      'bin/young-generation.js',
      'dist/cli/main.js',
      'dist/app/sync.js',
      'dist/app/sync.d.ts',
      'dist/client/index.js',
      'dist/client/index.d.ts',
      'dist/sandbox/graph/schema/graph-v1.json',
      'dist/sandbox/ews/schema/messages.xsd',
      'dist/sandbox/ews/schema/LICENSE.md',
      'dist/server/dashboard/assets/dashboard.js',
      'dist/server/dashboard/assets/dashboard.css',
      'dist/server/dashboard/assets/swagger-init.js',
    ]) {
      expect(files, path).toContain(path);
    }
    expect(files.filter((path) => /^(src|test|bench|reference|scripts)\//.test(path) || path.endsWith('.ts') && !path.endsWith('.d.ts'))).toEqual([]);
  });

  it('runs `npx calpush demo` from the installed package', () => {
    const demo = run('npx', ['--no-install', 'calpush', 'demo'], consumer);
    expect(demo.status, output(demo)).toBe(0);
    expect(demo.stdout).toMatch(/Same input again: 0 created, 0 updated, 0 deleted, \d+ unchanged — 0 write requests sent\./);
    // The installed package ran its built JavaScript, never the TypeScript sources (the tarball has none).
    expect(readdirSync(join(consumer, 'node_modules/calpush'))).not.toContain('src');
  });

  // Peak memory (docs/benchmarks.md, "Memory"): the installed command runs with a 4 MB young generation, in one
  // process. A module preloaded through NODE_OPTIONS reports what the process running calpush was started with.
  it.skipIf(typeof process.execve !== 'function')('runs `npx calpush` with the young generation flag', () => {
    const report = join(consumer, 'report-exec-argv.mjs');
    writeFileSync(report, 'process.on("exit", () => process.stderr.write(`REPORT${JSON.stringify(process.execArgv)}\\n`));\n');
    // A bulk command (sync; --version and one-mailbox syncs start without the restart, bin/young-generation.js).
    const version = spawnSync('npx', ['--no-install', 'calpush', 'sync', '--help'], { cwd: consumer, encoding: 'utf8', env: { ...env(), NODE_OPTIONS: `--import=${report}` } });
    expect(version.status, output(version)).toBe(0);
    const reports = version.stderr.split('\n').filter((line) => line.startsWith('REPORT'));
    // npx's own Node process reports too (without the flag); calpush's is the one that printed the help.
    expect(reports, output(version)).toContain('REPORT["--max-semi-space-size=4"]');
  });

  it('imports calpush/client from JavaScript', () => {
    writeFileSync(
      join(consumer, 'client.mjs'),
      `import { CalpushClient, CalpushApiError } from 'calpush/client';
const seen = [];
const fetch = async (url, init) => {
  seen.push(\`\${init?.method ?? 'GET'} \${url}\`);
  return new Response(JSON.stringify({ status: 'ok', store: 'ok', delivery: { state: 'running', delivering: [], fatal: null, lastRunAt: null } }), { status: 200, headers: { 'content-type': 'application/json' } });
};
const client = new CalpushClient({ baseUrl: 'https://calpush.example.edu/', apiKey: 'cpk_x', fetch });
const health = await client.health();
console.log(JSON.stringify({ health: health.status, seen, error: typeof CalpushApiError }));
`,
    );
    const result = run(process.execPath, ['client.mjs'], consumer);
    expect(result.status, output(result)).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ health: 'ok', seen: ['GET https://calpush.example.edu/v1/health'], error: 'function' });
  });

  it('type-checks TypeScript that uses calpush/client against the package’s declarations', () => {
    writeFileSync(
      join(consumer, 'tsconfig.json'),
      `${JSON.stringify(
        {
          compilerOptions: {
            target: 'es2024',
            lib: ['es2024'],
            module: 'nodenext',
            moduleResolution: 'nodenext',
            strict: true,
            noEmit: true,
            skipLibCheck: false,
            types: ['node'],
            typeRoots: [join(repoRoot, 'node_modules/@types')],
          },
          files: ['check.ts', 'library.ts'],
        },
        null,
        2,
      )}\n`,
    );
    writeFileSync(
      join(consumer, 'check.ts'),
      `import { CalpushApiError, CalpushClient, type EventBody, type EventStatus } from 'calpush/client';

const client = new CalpushClient({ baseUrl: 'https://calpush.example.edu', apiKey: 'cpk_x' });
const event: EventBody = { subject: 'Calculus I', start: '2026-09-01T09:00', end: '2026-09-01T10:45', timeZone: 'Europe/Amsterdam' };
export async function push(): Promise<EventStatus['status']> {
  await client.putEvent('s0001@contoso.edu', 'MATH101-2026-09-01', event);
  return (await client.getEvent('s0001@contoso.edu', 'MATH101-2026-09-01')).status;
}
export const isProblem = (error: unknown): boolean => error instanceof CalpushApiError && error.status >= 400;
// The declarations are real types, not any: a wrong field type is an error.
// @ts-expect-error subject is a string
export const wrong: EventBody = { ...event, subject: 42 };
`,
    );
    // The package's main export ("calpush": runSync and its types) is typed too.
    writeFileSync(join(consumer, 'library.ts'), `import { runSync, type SyncOptions } from 'calpush';\nexport const sync: (options: SyncOptions) => ReturnType<typeof runSync> = runSync;\n`);
    const tsc = run(process.execPath, [join(repoRoot, 'node_modules/typescript/bin/tsc'), '-p', join(consumer, 'tsconfig.json')], consumer);
    expect(tsc.status, output(tsc)).toBe(0);
  });
});
