// The fake "now" of `npm run test:clocks` (fake-now.mjs): Date starts at CALPUSH_FAKE_NOW and keeps moving, and
// the processes started from a faked one share its offset exactly.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const preload = new URL('./fake-now.mjs', import.meta.url).href;

function runFaked(script: string, fakeNow = '2031-03-30T01:30:00Z'): Record<string, unknown> {
  const env: NodeJS.ProcessEnv = { ...process.env, CALPUSH_FAKE_NOW: fakeNow, NODE_OPTIONS: `--import="${preload}"` };
  delete env.CALPUSH_FAKE_NOW_OFFSET_MS;
  const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env, encoding: 'utf8' });
  expect(run.status, run.stderr).toBe(0);
  return JSON.parse(run.stdout) as Record<string, unknown>;
}

describe('fake-now.mjs', () => {
  it('moves Date.now(), new Date() and Date() to the fake instant, and time still passes', () => {
    const seen = runFaked(`
      const first = Date.now();
      const until = performance.now() + 30; while (performance.now() < until);
      console.log(JSON.stringify({ first, later: Date.now(), constructed: new Date().toISOString(), called: Date(),
        epoch: new Date(0).toISOString(), parsed: Date.parse('2026-01-01T00:00:00Z'), isDate: new Date() instanceof Date,
        subclass: new (class extends Date {})().getTime() >= first, utc: Date.UTC(2026, 0, 1) }));`);
    const fake = Date.parse('2031-03-30T01:30:00Z');
    expect(seen.first as number).toBeGreaterThanOrEqual(fake);
    expect(seen.first as number).toBeLessThan(fake + 5_000);
    expect(seen.later as number).toBeGreaterThanOrEqual((seen.first as number) + 25);
    expect(seen.constructed as string).toMatch(/^2031-03-30T01:3/);
    expect(seen.called as string).toMatch(/ 2031 /);
    expect(seen).toMatchObject({ epoch: '1970-01-01T00:00:00.000Z', parsed: Date.parse('2026-01-01T00:00:00Z'), isDate: true, subclass: true, utc: Date.UTC(2026, 0, 1) });
  });

  it('gives the processes a faked one starts the same offset', () => {
    const seen = runFaked(`
      import { execFileSync } from 'node:child_process';
      const child = execFileSync(process.execPath, ['-e', 'console.log(process.env.CALPUSH_FAKE_NOW_OFFSET_MS, Date.now())'], { encoding: 'utf8' }).trim().split(' ');
      console.log(JSON.stringify({ offset: process.env.CALPUSH_FAKE_NOW_OFFSET_MS, childOffset: child[0], childNow: Number(child[1]) }));`);
    expect(seen.childOffset).toBe(seen.offset);
    expect(seen.childNow as number).toBeGreaterThanOrEqual(Date.parse('2031-03-30T01:30:00Z'));
  });
});
