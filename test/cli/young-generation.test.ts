// bin/calpush.js starts Node with a 4 MB young generation (docs/benchmarks.md, "Memory"): a flag V8 reads only when
// it sets up its heap, so the process re-executes itself with it (execve: same pid, no second process), unless a
// size is already chosen on the command line or in NODE_OPTIONS.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain JavaScript without types (bin/ is not compiled)
import { isLightCommand, restartArgs, YOUNG_GENERATION_FLAG } from '../../bin/young-generation.js';

const bin = join(import.meta.dirname, '../../bin/calpush.js');
const proc = (execArgv: string[], env: Record<string, string> = {}) => ({ execPath: '/usr/bin/node', execArgv, argv: ['/usr/bin/node', '/app/bin/calpush.js', 'sync', '-c', 'x.json'], env });

describe('the young generation flag', () => {
  it('re-runs the same command with the flag first, keeping Node flags and arguments', () => {
    expect(YOUNG_GENERATION_FLAG).toBe('--max-semi-space-size=4');
    expect(restartArgs(proc(['--import', 'probe.ts']))).toEqual(['/usr/bin/node', '--max-semi-space-size=4', '--import', 'probe.ts', '/app/bin/calpush.js', 'sync', '-c', 'x.json']);
  });

  it('leaves a size that is already chosen alone: ours after the restart, or the user’s, on the command line or in NODE_OPTIONS', () => {
    expect(restartArgs(proc(['--max-semi-space-size=4']))).toBeUndefined();
    expect(restartArgs(proc(['--max_semi_space_size=16']))).toBeUndefined();
    expect(restartArgs(proc([], { NODE_OPTIONS: '--trace-gc --max-semi-space-size=32' }))).toBeUndefined();
    expect(restartArgs(proc([], { NODE_OPTIONS: '--max-old-space-size=512' }))).toBeDefined();
  });

  // The restart costs 30–60 ms of every start: most of an urgent one-mailbox sync's latency (workload (d)).
  it('starts light commands and a sync of one mailbox without the restart; bulk ones with it', () => {
    const light = [[], ['--version'], ['-h'], ['status', '-c', 'x.json'], ['doctor'], ['apikey', 'list'], ['sync', '-c', 'x.json', '-i', 'a.ics', '--calendar', 'r1@x.edu'], ['sync', '--calendar=r1@x.edu', '-i', '-']];
    const bulk = [
      ['sync', '-c', 'x.json', '-i', 'a.ndjson'],
      ['sync', '--calendar', 'r1@x.edu', 'r2@x.edu', '-i', 'a.ndjson'],
      ['sync', '--calendar', 'r1@x.edu', '-i', 'a.ndjson', '--calendar', 'r2@x.edu'],
      ['sync', '--calendar=r1@x.edu', '--calendar=r2@x.edu'],
      ['import'], ['serve'], ['agent'], ['watch'], ['demo'], ['store', 'copy'],
    ];
    for (const args of light) expect(isLightCommand(args), args.join(' ')).toBe(true);
    for (const args of bulk) expect(isLightCommand(args), args.join(' ')).toBe(false);
    const one = { ...proc([]), argv: ['/usr/bin/node', '/app/bin/calpush.js', 'sync', '-c', 'x.json', '--calendar', 'r1@x.edu'] };
    expect(restartArgs(one)).toBeUndefined();
  });

  // What the process that runs calpush was started with: a preloaded module reports it at exit. The image that
  // execve replaces runs no exit handler, so one report, from the same pid, means one process.
  const report = 'data:text/javascript,process.on("exit",()=>process.stderr.write(JSON.stringify({pid:process.pid,execArgv:process.execArgv})+"\\n"))';
  const run = (env: Record<string, string | undefined>) => {
    const child = spawnSync(process.execPath, ['--import', report, bin, 'sync', '--help'], { encoding: 'utf8', env: { ...process.env, ...env } });
    const reports = child.stderr.split('\n').filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as { pid: number; execArgv: string[] });
    return { child, reports };
  };

  it.skipIf(typeof process.execve !== 'function')('bin/calpush.js runs with the flag in the same process', () => {
    const { child, reports } = run({ NODE_OPTIONS: undefined });
    expect(child.status).toBe(0);
    expect(child.stdout).toContain('Usage: calpush sync');
    expect(reports).toEqual([{ pid: child.pid, execArgv: ['--max-semi-space-size=4', '--import', report] }]);
  });

  it('bin/calpush.js keeps the size NODE_OPTIONS sets and does not restart', () => {
    const { child, reports } = run({ NODE_OPTIONS: '--max-semi-space-size=8' });
    expect(child.status).toBe(0);
    expect(reports).toEqual([{ pid: child.pid, execArgv: ['--import', report] }]);
  });
});
