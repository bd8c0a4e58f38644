// What a start costs is most of an urgent one-mailbox sync's latency (docs/benchmarks.md, workload (d)): a sync
// whose targets are all Graph loads no module of the EWS target (its XML parser and NTLM), and a one-mailbox sync
// starts without the young-generation restart (bin/young-generation.js).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { lecture, repoRoot, workspaceAt } from '../e2e/harness.ts';

// Reports, at exit, the modules this process loaded and the flags it was started with.
const report = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
const loaded = [];
registerHooks({ load(url, context, next) { loaded.push(url); return next(url, context); } });
process.on('exit', () => process.stderr.write('REPORT' + JSON.stringify({ loaded, execArgv: process.execArgv }) + '\\n'));
`)}`;

describe('what a one-mailbox sync loads', () => {
  it('a Graph-only sync of one mailbox loads no EWS module and starts without the restart', () => {
    const dir = mkdtempSync(join(tmpdir(), 'calpush-start-'));
    writeFileSync(join(dir, 'secret.txt'), 'not-a-real-secret', { mode: 0o600 });
    // Nothing listens on port 9 here: the token request is refused at once, after every module the sync needs.
    const ws = workspaceAt(dir, {
      store: { sqlite: 'state/calpush.sqlite' },
      target: {
        kind: 'graph',
        tenantId: '00000000-0000-0000-0000-000000000001',
        clientId: '00000000-0000-0000-0000-000000000002',
        credential: { kind: 'secret', secret: { file: 'secret.txt' } },
        authorityHost: 'https://127.0.0.1:9',
        graphBaseUrl: 'https://127.0.0.1:9/v1.0',
      },
    });
    const input = ws.input('urgent.ndjson', [lecture('s0001@contoso.edu', 1)]);
    const run = spawnSync(process.execPath, ['--import', report, join(repoRoot, 'bin/calpush.js'), 'sync', '-c', ws.configPath, '-i', input, '--calendar', 's0001@contoso.edu', '--json'], {
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 60_000,
    });
    const line = run.stderr.split('\n').find((l) => l.startsWith('REPORT'));
    expect(line, run.stderr + run.stdout).toBeDefined();
    const { loaded, execArgv } = JSON.parse(line!.slice('REPORT'.length)) as { loaded: string[]; execArgv: string[] };
    // It got as far as a target: the Graph target's module was loaded, and the sync reported the mailbox failed.
    expect(loaded.some((url) => /\/targets\/graph\/target\.(js|ts)$/.test(url)), loaded.join('\n')).toBe(true);
    expect(JSON.parse(run.stdout).delivery.mailboxes[0].status).toBe('failed');
    // The config's schema of an EWS target is read (to parse any config); nothing else of EWS.
    expect(loaded.filter((url) => /\/targets\/ews\/(?!schema\.)|\/node_modules\/(@ewsjs|fast-xml-parser)\//.test(url))).toEqual([]);
    expect(execArgv).not.toContain('--max-semi-space-size=4');
  });
});
