// The CLI with a CalDAV target: a config with "kind": "caldav" drives the same sync path, against real Radicale
// with one service account writing two people's calendars.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRadicale, type CalDavServer } from '../caldav/servers.ts';
import { lecture, runCli } from './harness.ts';

let server: CalDavServer;

beforeAll(async () => {
  server = await startRadicale({ users: ['alice', 'bob'] });
  await server.makeCalendar('alice');
  await server.makeCalendar('bob');
});
afterAll(async () => {
  await server?.close();
});

describe('calpush sync with a CalDAV target', () => {
  it('delivers into two users’ calendars with one service account, and a rerun sends nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'calpush-cli-caldav-'));
    writeFileSync(join(dir, 'dav.pw'), server.service!.password, { mode: 0o600 });
    const template = server.calendarUrl('{localpart}').replace(server.url, '');
    const config = {
      instance: 'cli-caldav',
      store: { sqlite: 'state/caldav.sqlite' },
      timeZone: 'Europe/Amsterdam',
      target: { kind: 'caldav', baseUrl: server.url, calendarUrlTemplate: template, auth: { kind: 'basic', username: server.service!.username, password: { file: 'dav.pw' } } },
    };
    const configPath = join(dir, 'calpush.config.json');
    writeFileSync(configPath, JSON.stringify(config));
    const input = join(dir, 't.ndjson');
    writeFileSync(input, [lecture('alice@example.edu', 1), lecture('alice@example.edu', 2), lecture('bob@example.edu', 1)].map((e) => JSON.stringify(e)).join('\n'));
    const first = await runCli(['sync', '-c', configPath, '-i', input, '--json']);
    expect(first.stderr).toBe('');
    expect(JSON.parse(first.stdout).delivery.totals).toMatchObject({ created: 3, failed: 0, failedMailboxes: 0 });
    const listing = await server.request('PROPFIND', server.calendarUrl('alice'), { headers: { depth: '1' } });
    expect((listing.body.match(/\.ics</g) ?? []).length).toBe(2);
    const second = await runCli(['sync', '-c', configPath, '-i', input, '--json']);
    expect(JSON.parse(second.stdout).delivery.totals).toMatchObject({ created: 0, unchanged: 3, requests: 0 });
    expect(first.stdout + second.stdout).not.toContain(server.service!.password);
  });
});
