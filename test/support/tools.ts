// The programs the tests start besides Node: Debian packages, installed by .ci/run on CI and by hand elsewhere.
// `npm test` checks for them before it starts (test/support/preflight.ts) and stops with one line naming what to
// install; a test that needs one that is missing fails with the same line. No test is skipped for a missing tool:
// a skipped schema check or CalDAV suite looks green and proves nothing.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** Executable → the Debian package that provides it. */
export const TEST_TOOLS = {
  xmllint: 'libxml2-utils',
  radicale: 'radicale',
  xandikos: 'xandikos',
  // The dashboard's browser tests drive Debian's Chromium with playwright-core (which never downloads a browser).
  chromium: 'chromium',
  // The PostgreSQL store's tests start a throwaway cluster (test/support/postgres.ts): initdb and pg_ctl, which
  // Debian keeps in /usr/lib/postgresql/<version>/bin (findPostgresBin), not on PATH.
  initdb: 'postgresql',
  // The test that the store holds no token in clear reads it with SQLite's own shell too (.dump).
  sqlite3: 'sqlite3',
} as const;

export type TestTool = keyof typeof TEST_TOOLS;

/** The executable's path on PATH, or null. */
export function findExecutable(name: string): string | null {
  for (const dir of (process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return null;
}

/** The highest major version of PostgreSQL's server programs installed (Debian: /usr/lib/postgresql/<version>/bin), or null. */
export function findPostgresBin(): string | null {
  for (let version = 30; version >= 10; version--) {
    const bin = `/usr/lib/postgresql/${version}/bin`;
    try {
      accessSync(join(bin, 'initdb'), constants.X_OK);
      accessSync(join(bin, 'pg_ctl'), constants.X_OK);
      return bin;
    } catch {
      // not this version
    }
  }
  const onPath = findExecutable('initdb');
  return onPath ? onPath.slice(0, onPath.lastIndexOf('/')) : null;
}

function findTool(tool: TestTool): string | null {
  if (tool === 'initdb') {
    const bin = findPostgresBin();
    return bin ? join(bin, 'initdb') : null;
  }
  return findExecutable(tool);
}

export function missingTools(tools: readonly TestTool[] = Object.keys(TEST_TOOLS) as TestTool[]): TestTool[] {
  return tools.filter((tool) => findTool(tool) === null);
}

/** One line: what is missing and the command that installs it. */
export function missingToolsMessage(missing: readonly TestTool[]): string {
  const packages = [...new Set(missing.map((tool) => TEST_TOOLS[tool]))].join(' ');
  return `the tests need ${missing.join(', ')}, not found on PATH: install ${missing.length === 1 ? 'it' : 'them'} with "sudo apt-get install ${packages}" (Debian/Ubuntu; .ci/run does this on CI)`;
}

/** The tool's path; throws the one-line install hint when it is missing. */
export function requireTool(tool: TestTool): string {
  const path = findTool(tool);
  if (path === null) throw new Error(missingToolsMessage([tool]));
  return path;
}
