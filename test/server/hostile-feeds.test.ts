// `calpush serve` as a process, polling a local feed server that serves every hostile case at once — a LOCATION of
// quadratic blanks, a huge DURATION, 31 KB of recurrence rules that become a million events, a million VEVENTs, an
// endless trickle — next to good feeds: /v1/health keeps answering within 100 ms (p99), the good feeds deliver,
// every hostile feed ends as parsed or refused with its reason, and SIGTERM stops serve within 5 s even while a
// large feed is being parsed.
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { CalpushClient } from 'calpush/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { createWorkspace, repoRoot, tagged, usableStudents } from '../e2e/harness.ts';

const header = 'BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//hostile//EN\r\n';
const footer = 'END:VCALENDAR\r\n';
const event = (uid: string, ...lines: string[]) => `BEGIN:VEVENT\r\nUID:${uid}\r\nDTSTAMP:20261101T000000Z\r\n${lines.join('\r\n')}\r\nEND:VEVENT\r\n`;
const good = (uid: string, day: number) =>
  event(uid, `DTSTART;TZID=Europe/Amsterdam:202612${String(day).padStart(2, '0')}T090000`, `DTEND;TZID=Europe/Amsterdam:202612${String(day).padStart(2, '0')}T100000`, `SUMMARY:Good ${uid}`);

/** Every feed the server serves: a body, or a function that answers itself. */
const FEEDS = {
  good: header + good('g1', 7) + good('g2', 8) + good('g3', 9) + footer,
  // 1 MB of blanks in a LOCATION: the old regular expression needed ~20 minutes for it, on the event loop.
  blanks: header + event('blanks', 'DTSTART:20261210T090000Z', 'DTEND:20261210T100000Z', `LOCATION:Room${' '.repeat(1_000_000)}A`) + good('b1', 11) + footer,
  // ical.js walked through 7 × 10^18 days month by month: serve froze, SIGTERM was ignored.
  duration: header + event('duration', 'DTSTART:20261212T090000Z', 'DURATION:P999999999999999999W') + good('d1', 13) + footer,
  // 31 KB: 200 hourly series of 5,000 occurrences each.
  amplify: header + Array.from({ length: 200 }, (_, n) => event(`a${n}`, 'DTSTART:20261201T000000Z', 'DURATION:PT1M', 'RRULE:FREQ=HOURLY')).join('') + footer,
} as const;

/** A million VEVENTs: ~45 MB, under the default maxBytes (made once: making it per request would stall this process). */
const MILLION = Buffer.from(
  header.replaceAll('\r\n', '\n') + Array.from({ length: 1_000_000 }, (_, n) => `BEGIN:VEVENT\nUID:${n.toString(36)}\nDTSTART:20261201\nEND:VEVENT\n`).join('') + footer.replaceAll('\r\n', '\n'),
);

/**
 * A feed whose parse takes seconds and yields nothing to deliver: 150,000 cancelled events (its limits allow them).
 * It answers 404 until the end of the test, when SIGTERM comes while it is parsed.
 */
const LARGE = header + Array.from({ length: 150_000 }, (_, n) => `BEGIN:VEVENT\r\nUID:l${n}\r\nDTSTART:20261201T090000Z\r\nSTATUS:CANCELLED\r\nEND:VEVENT\r\n`).join('') + footer;

let sandbox: Sandbox;
let feedServer: Server;
let feedBase: string;
/** Resolvers waiting for the next complete answer of /large.ics, which is served (not 404) once armed. */
const largeSent: Array<() => void> = [];
let largeArmed = false;
const trickles = new Set<ServerResponse>();

function serveFeed(request: IncomingMessage, response: ServerResponse): void {
  const name = (request.url ?? '').replace(/^\/|\.ics$/g, '');
  if (name in FEEDS) return void response.writeHead(200, { 'content-type': 'text/calendar' }).end(FEEDS[name as keyof typeof FEEDS]);
  if (name === 'million') return void response.writeHead(200, { 'content-type': 'text/calendar' }).end(MILLION);
  if (name === 'large' && largeArmed) {
    response.writeHead(200, { 'content-type': 'text/calendar' });
    response.end(LARGE, () => largeSent.splice(0).forEach((resolve) => resolve()));
    return;
  }
  if (name === 'trickle') {
    // A byte every 200 ms, forever: only the fetch timeout ends it.
    response.writeHead(200, { 'content-type': 'text/calendar' });
    response.write(header);
    trickles.add(response);
    const timer = setInterval(() => response.write(' '), 200);
    response.on('close', () => {
      clearInterval(timer);
      trickles.delete(response);
    });
    return;
  }
  response.writeHead(404).end();
}

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: defaultTenantSeed() });
  feedServer = createServer(serveFeed);
  await new Promise<void>((resolve) => feedServer.listen(0, '127.0.0.1', resolve));
  feedBase = `http://127.0.0.1:${(feedServer.address() as AddressInfo).port}`;
});
/** The serve process, killed at the end whatever happened (a test that times out does not reach its finally). */
let serve: ChildProcess | null = null;

afterAll(async () => {
  if (serve && serve.exitCode === null && serve.signalCode === null) serve.kill('SIGKILL');
  for (const response of trickles) response.destroy();
  feedServer?.closeAllConnections();
  await new Promise((resolve) => feedServer?.close(resolve));
  await sandbox?.close();
});

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const run = (args: string[]) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(repoRoot, 'test/server/cli-entry.ts'), ...args], { env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    child.stderr.on('data', (d: Buffer) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });

describe('calpush serve with hostile feeds', () => {
  it('keeps answering, delivers the good feeds, refuses the hostile ones with reasons, and stops within 5 s of SIGTERM', async () => {
    const [goodBox, blanksBox, durationBox, amplifyBox, millionBox, trickleBox, largeBox] = usableStudents(defaultTenantSeed()).slice(0, 7) as [string, string, string, string, string, string, string];
    const ws = createWorkspace(sandbox, 'secret', { instance: 'hostile' });
    const feeds = { good: goodBox, blanks: blanksBox, duration: durationBox, amplify: amplifyBox, million: millionBox, trickle: trickleBox, large: largeBox };
    const config = {
      ...ws.rawConfig,
      server: { port: 0, deliveryPollMs: 100, shutdownGraceMs: 2_000, logLevel: 'warn' },
      feeds: {
        urls: Object.fromEntries(Object.entries(feeds).map(([name, mailbox]) => [mailbox, `${feedBase}/${name}.ics`])),
        allowPrivateAddresses: ['127.0.0.1/32'],
        intervalSeconds: 8,
        timeoutSeconds: 2,
        perFeed: { [largeBox]: { maxEvents: 1_000_000, parseTimeoutSeconds: 300 } },
      },
    };
    writeFileSync(ws.configPath, JSON.stringify(config));
    const created = await run(['apikey', 'create', '-c', ws.configPath, '--scope', 'read']);
    expect(created.code).toBe(0);
    const client = (url: string) => new CalpushClient({ baseUrl: url, apiKey: created.stdout.trim() });

    const child = spawn(process.execPath, [join(repoRoot, 'test/server/cli-entry.ts'), 'serve', '-c', ws.configPath], { env: { ...process.env, NO_COLOR: '1' } });
    serve = child;
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.on('close', (code) => resolve({ code, at: performance.now() })));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
        child.stderr.on('data', (d: Buffer) => {
          stderr += d;
          const match = /listening on (http:\/\/[^\s]+)/.exec(stderr);
          if (match) {
            clearTimeout(timer);
            resolve(match[1]!);
          }
        });
      });

      // /v1/health, again and again, while every feed is polled (each window is longer than the polling interval,
      // so every hostile feed is fetched and parsed in it). A window's latencies also carry whatever else the machine
      // runs: other engineers' suites share these two cores, and a burst of theirs can starve any process for a few
      // hundred milliseconds. So up to three windows are measured, and one must meet the bound; serve blocking its
      // own event loop would fail every one (every window polls every feed).
      const windows: Array<{ requests: number; p50: number; p99: number; max: number }> = [];
      for (let attempt = 0; attempt < 3 && !windows.some((w) => w.p99 < 100); attempt++) {
        const latencies: number[] = [];
        const until = performance.now() + 14_000;
        while (performance.now() < until) {
          const started = performance.now();
          const answer = await fetch(`${url}/v1/health`);
          await answer.arrayBuffer();
          latencies.push(performance.now() - started);
          expect(answer.status).toBe(200);
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        windows.push({ requests: latencies.length, p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: Math.max(...latencies) });
      }
      const report = windows.map((w) => `${w.requests} requests, p50 ${w.p50.toFixed(1)} ms, p99 ${w.p99.toFixed(1)} ms, max ${w.max.toFixed(1)} ms`).join('; ');
      console.log(`health while polling hostile feeds: ${report}`);
      expect(windows.every((w) => w.requests > 150)).toBe(true);
      expect(Math.min(...windows.map((w) => w.p99)), report).toBeLessThan(100);

      // The good feeds delivered; the hostile ones were parsed (what in them was good) or refused, with a reason.
      const api = client(url);
      const outcome = async (mailbox: string) => (await api.getCalendar(mailbox)).feed;
      const deadline = performance.now() + 30_000;
      while ((await api.getCalendar(goodBox)).upToDate !== true && performance.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(tagged(sandbox, goodBox).map((e) => e.subject).sort()).toEqual(['Good g1', 'Good g2', 'Good g3']);
      const applied = expect.stringMatching(/^(changed|unchanged)$/);
      expect(await outcome(blanksBox)).toMatchObject({ lastOutcome: applied, lastError: null });
      expect((await api.getCalendar(blanksBox)).desired).toBe(2);
      // The event with the absurd DURATION is reported and held; the good one next to it is applied.
      expect(await outcome(durationBox)).toMatchObject({ lastOutcome: applied, lastError: null });
      expect((await api.getCalendar(durationBox)).desired).toBe(1);
      expect(await outcome(amplifyBox)).toMatchObject({ lastOutcome: 'failed', lastError: expect.stringMatching(/^over-limit: the feed has more than 20000 events/) });
      expect(await outcome(millionBox)).toMatchObject({ lastOutcome: 'failed', lastError: expect.stringMatching(/^over-limit: the feed has more than 20000 events \(VEVENT components\)/) });
      expect(await outcome(trickleBox)).toMatchObject({ lastOutcome: 'failed', lastError: expect.stringMatching(/^timeout: /) });
      expect((await api.getCalendar(amplifyBox)).desired).toBe(0);

      // SIGTERM right after the large feed has been sent (at its next poll): its parse takes seconds, and must not
      // hold serve.
      largeArmed = true;
      await new Promise<void>((resolve) => largeSent.push(resolve));
      await new Promise((resolve) => setTimeout(resolve, 300));
      const signalled = performance.now();
      child.kill('SIGTERM');
      const { code, at } = await exited;
      expect(code).toBe(0);
      expect(at - signalled, `serve took ${(at - signalled).toFixed(0)} ms to stop`).toBeLessThan(5_000);
      expect(stderr).toMatch(/SIGTERM, shutting down/);
      expect(stdout).not.toMatch(/parse-worker/);
    } finally {
      child.kill('SIGKILL');
    }
  }, 240_000);
});
