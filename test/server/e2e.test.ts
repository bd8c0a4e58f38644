// End to end: systems push events through the API (and a feed) and they land in the sandbox's Microsoft 365.
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CalpushClient } from 'calpush/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { createApiKey } from '../../src/server/auth.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { parseFeedsConfig } from '../../src/app/settings.ts';
import { createWorkspace, foreignSnapshot, repoRoot, tagged, usableStudents } from '../e2e/harness.ts';

let sandbox: Sandbox;
let students: string[];
const seed = defaultTenantSeed();

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
  students = usableStudents(seed).slice(0, 3);
});
afterAll(async () => {
  await sandbox?.close();
});

const ours = (mailbox: string, instance: string) => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;${instance};`));

describe('calpush serve against the sandbox', () => {
  let running: RunningServer;
  let client: CalpushClient;
  let instance: string;

  beforeAll(async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'serve-e2e' });
    instance = ws.config.instance;
    running = await startServer({ config: ws.config, server: parseServerConfig({ port: 0, deliveryPollMs: 100 }), feeds: undefined, baseDir: ws.dir });
    const { key } = await createApiKey(running.store, { scope: 'write' });
    client = new CalpushClient({ baseUrl: running.url, apiKey: key });
  });
  afterAll(async () => {
    await running?.close();
  });

  it('a system pushes an event; it lands in the mailbox; a change and a delete follow; foreign events stay', async () => {
    const mailbox = students[0]!;
    const foreign = foreignSnapshot(sandbox, mailbox);
    const accepted = await client.putEvent(mailbox, 'MATH101-2026-12-01', {
      subject: 'Calculus I',
      start: '2026-12-01T09:00',
      end: '2026-12-01T10:45',
      timeZone: 'Europe/Amsterdam',
      location: 'Room A1.02',
      categories: ['Timetable'],
    });
    expect(accepted).toMatchObject({ result: 'added', statusUrl: `/v1/calendars/${encodeURIComponent(mailbox)}/events/MATH101-2026-12-01` });
    const delivered = await client.waitForDelivery(mailbox, 'MATH101-2026-12-01', { timeoutMs: 20_000 });
    expect(delivered).toMatchObject({ status: 'delivered', event: { subject: 'Calculus I' } });
    const inMailbox = ours(mailbox, instance);
    expect(inMailbox).toHaveLength(1);
    expect(inMailbox[0]).toMatchObject({ id: delivered!.targetItemId, subject: 'Calculus I', location: { displayName: 'Room A1.02' } });

    await client.putEvent(mailbox, 'MATH101-2026-12-01', { subject: 'Calculus I (moved)', start: '2026-12-01T11:00', end: '2026-12-01T12:45', timeZone: 'Europe/Amsterdam' });
    const moved = await client.waitForDelivery(mailbox, 'MATH101-2026-12-01', { timeoutMs: 20_000 });
    expect(moved).toMatchObject({ status: 'delivered', targetItemId: delivered!.targetItemId });
    expect(ours(mailbox, instance)[0]).toMatchObject({ subject: 'Calculus I (moved)' });

    await client.deleteEvent(mailbox, 'MATH101-2026-12-01');
    expect(await client.waitForDelivery(mailbox, 'MATH101-2026-12-01', { timeoutMs: 20_000 })).toBeNull();
    expect(ours(mailbox, instance)).toEqual([]);
    expect(foreignSnapshot(sandbox, mailbox)).toBe(foreign);
    const calendar = await client.getCalendar(mailbox);
    expect(calendar).toMatchObject({ state: 'ok', upToDate: true, desired: 0, delivered: 0 });
  }, 60_000);

  it('a timetable replaced through the API and a batch land, and the metrics count them', async () => {
    const [a, b] = [students[1]!, students[2]!];
    const timetable = Array.from({ length: 6 }, (_, n) => ({ id: `T${n}`, subject: `Lecture ${n}`, start: `2026-12-0${n + 1}T09:00`, end: `2026-12-0${n + 1}T10:00`, timeZone: 'Europe/Amsterdam' }));
    await client.replaceEvents(a, timetable);
    const batch = await client.batch([
      { calendar: b, id: 'B1', subject: 'Batch one', start: '2026-12-03', end: '2026-12-04', allDay: true },
      { calendar: b, id: 'B2', subject: 'Batch two', start: '2026-12-03T14:00', end: '2026-12-03T15:00', timeZone: 'America/New_York' },
    ]);
    expect(batch).toMatchObject({ applied: 2, rejected: 0 });
    await client.waitForDelivery(b, 'B2', { timeoutMs: 20_000 });
    await running.loop.idle(20_000);
    expect(ours(a, instance).map((e) => e.subject).sort()).toEqual(timetable.map((t) => t.subject).sort());
    expect(ours(b, instance).map((e) => e.subject).sort()).toEqual(['Batch one', 'Batch two']);
    const metrics = await (await fetch(`${running.url}/metrics`)).text();
    expect(metrics).toMatch(/^calpush_desired_events 8$/m);
    expect(metrics).toMatch(/^calpush_delivered_items 8$/m);
    expect(metrics).toMatch(/^calpush_delivery_latency_seconds_count [1-9]/m);
    expect(metrics).toMatch(/^calpush_target_requests_total [1-9]/m);
    expect((await client.health()).status).toBe('ok');
  }, 60_000);
});

describe('a feed served over HTTP lands in the sandbox', () => {
  let feedServer: Server;
  beforeAll(async () => {
    const body = readFileSync(join(repoRoot, 'test/fixtures/ics/timetable.ics'));
    feedServer = createServer((request, response) => {
      if (request.headers['if-none-match'] === '"t1"') return void response.writeHead(304).end();
      response.writeHead(200, { 'content-type': 'text/calendar', etag: '"t1"' }).end(body);
    });
    await new Promise<void>((resolve) => feedServer.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    feedServer.closeAllConnections();
    await new Promise((resolve) => feedServer.close(resolve));
  });

  it('polls the feed, delivers its occurrences, and refuses API writes to that calendar', async () => {
    const mailbox = students[2]!;
    const ws = createWorkspace(sandbox, 'secret', { instance: 'feed-e2e' });
    const port = (feedServer.address() as AddressInfo).port;
    const feeds = parseFeedsConfig({ urls: { [mailbox]: `http://127.0.0.1:${port}/ical/${mailbox}.ics?token=s3cret` }, allowPrivateAddresses: ['127.0.0.1/32'], pastDays: 400 });
    const running = await startServer({ config: ws.config, server: parseServerConfig({ port: 0, deliveryPollMs: 100 }), feeds, baseDir: ws.dir });
    try {
      const { key } = await createApiKey(running.store, { scope: 'write' });
      const client = new CalpushClient({ baseUrl: running.url, apiKey: key });
      const deadline = Date.now() + 20_000;
      while ((await client.getCalendar(mailbox).catch(() => null))?.feed?.lastOutcome !== 'changed' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      await running.loop.idle(20_000);
      const status = await client.getCalendar(mailbox);
      expect(status).toMatchObject({ source: 'feed', upToDate: true, feed: { lastOutcome: 'changed', url: `http://127.0.0.1:${port}/…` } });
      expect(status.desired).toBeGreaterThan(0);
      expect(ours(mailbox, 'feed-e2e')).toHaveLength(status.desired);
      await expect(client.putEvent(mailbox, 'x', { subject: 'x', start: '2026-12-01T09:00', end: '2026-12-01T10:00', timeZone: 'UTC' })).rejects.toMatchObject({ status: 409 });
    } finally {
      await running.close();
    }
  }, 60_000);
});

describe('the commands as processes', () => {
  it('apikey create/list/revoke, serve until SIGTERM, with a clean shutdown', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'serve-cli' });
    const config = { ...ws.rawConfig, server: { port: 0, deliveryPollMs: 100, shutdownGraceMs: 2_000 } };
    writeFileSync(ws.configPath, JSON.stringify(config));
    const run = (args: string[]) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [join(repoRoot, 'test/server/cli-entry.ts'), ...args], { env: { ...process.env, NO_COLOR: '1' } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d));
        child.stderr.on('data', (d: Buffer) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });
    const created = await run(['apikey', 'create', '-c', ws.configPath, '--scope', 'write', '--name', 'timetable']);
    expect(created.code).toBe(0);
    const key = created.stdout.trim();
    expect(key).toMatch(/^cpk_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/only time it is shown/);
    const readKey = JSON.parse((await run(['apikey', 'create', '-c', ws.configPath, '--scope', 'read', '--calendars', '*@contoso.edu', '--json'])).stdout);
    const listed = await run(['apikey', 'list', '-c', ws.configPath, '--json']);
    const rows = JSON.parse(listed.stdout);
    expect(rows.map((r: { scope: string }) => r.scope)).toEqual(['write', 'read']);
    expect(listed.stdout).not.toContain(key.slice(17));
    expect(JSON.stringify(rows)).not.toContain('hash');

    const child = spawn(process.execPath, [join(repoRoot, 'test/server/cli-entry.ts'), 'serve', '-c', ws.configPath], { env: { ...process.env, NO_COLOR: '1' } });
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 20_000);
      child.stderr.on('data', (d: Buffer) => {
        stderr += d;
        const match = /listening on (http:\/\/[^\s]+)/.exec(stderr);
        if (match) {
          clearTimeout(timer);
          resolve(match[1]!);
        }
      });
    });
    try {
      const mailbox = students[0]!;
      const client = new CalpushClient({ baseUrl: url, apiKey: key });
      await client.putEvent(mailbox, 'cli-1', { subject: 'From a process', start: '2026-12-09T09:00', end: '2026-12-09T10:00', timeZone: 'Europe/Amsterdam' });
      expect(await client.waitForDelivery(mailbox, 'cli-1', { timeoutMs: 20_000 })).toMatchObject({ status: 'delivered' });
      expect(ours(mailbox, 'serve-cli').map((e) => e.subject)).toEqual(['From a process']);
      const reader = new CalpushClient({ baseUrl: url, apiKey: readKey.key });
      await expect(reader.deleteEvent(mailbox, 'cli-1')).rejects.toMatchObject({ status: 403 });
      expect((await run(['apikey', 'revoke', '-c', ws.configPath, readKey.id])).stdout).toMatch(/revoked/);
      await expect(reader.getEvent(mailbox, 'cli-1')).rejects.toMatchObject({ status: 401 });
      // Log lines are JSON and never carry the key.
      expect(stdout).not.toContain(key);
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(stderr).toMatch(/SIGTERM, shutting down/);
    expect(stderr).toMatch(/stopped/);
  }, 90_000);
});
