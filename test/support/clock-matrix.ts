// `npm run test:clocks [-- [--json FILE] [vitest paths/filters…]]`: the tests at fixed fake times and in other time
// zones. A test that passes only at the hour it was written (a "tomorrow" that is within 48 hours only after 08:00
// UTC, a date computed in the machine's zone) fails here. Each run is the suite (or the given paths) under one
// CALPUSH_FAKE_NOW (test/support/fake-now.mjs, preloaded into vitest and every Node process it starts) and one TZ.
// Prints a summary per run and exits non-zero when any test failed; --json FILE writes the counts for .ci/run.
// test/package (npm pack and install: nothing in it asks what time it is) runs in the normal run only.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Night and day UTC, winter and summer, and a run that crosses Europe's spring-forward (01:00 UTC) as it goes. */
export const FAKE_TIMES = [
  { name: 'winter night UTC', at: '2026-01-15T02:30:00Z' },
  { name: 'summer afternoon UTC', at: '2026-07-15T13:00:00Z' },
  { name: 'EU spring-forward', at: '2026-03-29T00:59:00Z' },
] as const;

/** UTC, and a zone far from it with DST in the other half of the year (New Zealand: +13 in January, +12 in July). */
export const TIME_ZONES = ['UTC', 'Pacific/Auckland'] as const;

interface RunResult {
  name: string;
  passed: number;
  failed: number;
  failures: string[];
}

const repoRoot = resolve(import.meta.dirname, '../..');
const fakeNowModule = pathToFileURL(join(repoRoot, 'test/support/fake-now.mjs')).href;

function parseArgs(argv: string[]): { jsonFile: string | undefined; vitestArgs: string[] } {
  const jsonAt = argv.indexOf('--json');
  if (jsonAt < 0) return { jsonFile: undefined, vitestArgs: argv };
  return { jsonFile: argv[jsonAt + 1], vitestArgs: [...argv.slice(0, jsonAt), ...argv.slice(jsonAt + 2)] };
}

/** The first lines of a failure, so that CI's summary says why (a failure only at one hour is hard to reproduce). */
function why(messages: string[] | undefined): string {
  const lines = (messages ?? []).join('\n').split('\n').filter((line) => line.trim()).slice(0, 6);
  return lines.length ? `\n           ${lines.join('\n           ')}` : '';
}

/** Counts from vitest's JSON report; a file that failed to load counts as one failure. */
function readReport(file: string, name: string): RunResult {
  try {
    const report = JSON.parse(readFileSync(file, 'utf8')) as {
      numPassedTests: number;
      numFailedTests: number;
      numPendingTests: number;
      numTodoTests: number;
      testResults: Array<{ name: string; status: string; message?: string; assertionResults: Array<{ fullName: string; status: string; failureMessages?: string[] }> }>;
    };
    const failures = report.testResults.flatMap((file) => {
      const tests = file.assertionResults.filter((test) => test.status === 'failed').map((test) => `${file.name.replace(`${repoRoot}/`, '')} > ${test.fullName}${why(test.failureMessages)}`);
      return tests.length || file.status !== 'failed' ? tests : [`${file.name.replace(`${repoRoot}/`, '')}: ${(file.message ?? 'failed to run').split('\n')[0]}`];
    });
    // A skipped test proves nothing at this time either: it counts as failed, as on CI.
    const skipped = report.numPendingTests + report.numTodoTests;
    return { name, passed: report.numPassedTests, failed: Math.max(report.numFailedTests, failures.length) + skipped, failures };
  } catch {
    return { name, passed: 0, failed: 1, failures: ['vitest wrote no report (it failed before running tests)'] };
  }
}

function runOnce(at: string, timeZone: string, name: string, vitestArgs: string[], reportDir: string): RunResult {
  const report = join(reportDir, `${name.replace(/\W+/g, '-')}.json`);
  const env: NodeJS.ProcessEnv = { ...process.env, CALPUSH_FAKE_NOW: at, TZ: timeZone, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import="${fakeNowModule}"`.trim() };
  delete env.CALPUSH_FAKE_NOW_OFFSET_MS;
  console.log(`\n=== ${name}: CALPUSH_FAKE_NOW=${at} TZ=${timeZone} ===`);
  spawnSync(process.execPath, [join(repoRoot, 'node_modules/vitest/vitest.mjs'), 'run', '--reporter=dot', '--reporter=json', `--outputFile.json=${report}`, '--exclude', 'test/package/**', ...vitestArgs], {
    cwd: repoRoot,
    env,
    stdio: 'inherit',
  });
  return readReport(report, name);
}

function main(): void {
  const { jsonFile, vitestArgs } = parseArgs(process.argv.slice(2));
  const reportDir = mkdtempSync(join(tmpdir(), 'calpush-clocks-'));
  const results: RunResult[] = [];
  try {
    for (const time of FAKE_TIMES) {
      for (const timeZone of TIME_ZONES) results.push(runOnce(time.at, timeZone, `${time.name} (${time.at}), TZ=${timeZone}`, vitestArgs, reportDir));
    }
  } finally {
    rmSync(reportDir, { recursive: true, force: true });
  }
  console.log('\nclock matrix:');
  for (const result of results) {
    console.log(`  ${result.failed ? 'FAIL' : 'ok  '} ${result.name}: ${result.passed} passed, ${result.failed} failed`);
    for (const failure of result.failures) console.log(`         ${failure}`);
  }
  const passed = results.reduce((sum, r) => sum + r.passed, 0);
  const failed = results.reduce((sum, r) => sum + r.failed, 0);
  if (jsonFile) writeFileSync(jsonFile, JSON.stringify({ passed, failed, runs: results }, null, 2));
  console.log(`clock matrix: ${passed} passed, ${failed} failed`);
  process.exit(failed > 0 || passed === 0 ? 1 : 0);
}

main();
