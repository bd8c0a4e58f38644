// Benchmark: calpush's CalDAV target against vdirsyncer, pushing the same 2,000 events into a fresh calendar on a
// real Radicale (and Xandikos) on loopback, then running both again with nothing changed.
//
//   node bench/caldav/vdirsyncer.ts [--events 2000] [--reps 3] [--servers radicale,xandikos] [--concurrency 4[,16…]]
//                                   [--calpush-input ics|ndjson]
//
// calpush runs as a user runs it: `bin/calpush.js sync -c <config> -i <input> --calendar <c> --json` (the built
// dist/ when it is fresh), with a CalDAV target config and a new SQLite store. Its input is the very .ics files
// vdirsyncer gets (one per event; --calpush-input ndjson gives it the same events as NDJSON instead). A third row,
// the server's floor, PUTs the same .ics files one after another from this process (no client start, no status):
// what the server itself needs.
//
// Needs the Debian packages radicale, xandikos and vdirsyncer. Every repetition uses new collections, new vdir
// status and a new calpush store; calpush and vdirsyncer alternate within a repetition. Times are wall-clock
// times of the whole process (start to exit), medians over the repetitions. Not a test: it prints a table.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { validateEvent, type EventInput } from '../../src/model/event.ts';
import { iCalendarFor, uidFor } from '../../src/targets/caldav/ical.ts';
import { findExecutable, serverVersion, startServer, type CalDavServer, type ServerKind } from '../../test/caldav/servers.ts';

const { values } = parseArgs({
  options: {
    events: { type: 'string', default: '2000' },
    reps: { type: 'string', default: '3' },
    servers: { type: 'string', default: 'radicale,xandikos' },
    /** Requests in flight per calendar for calpush: one calpush row per value (4 is Outlook's cap, the engine's default). */
    concurrency: { type: 'string', default: '4' },
    'calpush-input': { type: 'string', default: 'ics' },
  },
});
const CALPUSH_INPUT = values['calpush-input'] === 'ndjson' ? 'ndjson' : 'ics';
const EVENTS = Number(values.events);
const REPS = Number(values.reps);
const SERVERS = values.servers.split(',').map((s) => s.trim()) as ServerKind[];
const CONCURRENCIES = values.concurrency.split(',').map(Number);
const INSTANCE = 'bench';
const CALENDAR = 'bench@example.edu';
const nodeBin = process.execPath;
const calpushBin = join(import.meta.dirname, '../../bin/calpush.js');

const vdirsyncer = findExecutable('vdirsyncer');
if (!vdirsyncer) throw new Error('vdirsyncer is not installed: apt-get install -y vdirsyncer');

/** 2,000 timetable events over a term in one calendar, like a student's or a room's. */
function events(count: number): EventInput[] {
  return Array.from({ length: count }, (_, n) => {
    const day = new Date(Date.UTC(2027, 0, 4) + Math.floor(n / 8) * 86_400_000).toISOString().slice(0, 10);
    const hour = String(8 + (n % 8)).padStart(2, '0');
    return {
      calendar: CALENDAR,
      id: `course-${n % 37}-session-${n}`,
      subject: `Course ${n % 37}: session ${n}`,
      body: n % 3 === 0 ? { contentType: 'html', content: `<p>Week ${Math.floor(n / 40)}: read <b>chapter ${n % 12}</b></p>` } : `Session ${n}`,
      start: `${day}T${hour}:00`,
      end: `${day}T${hour}:45`,
      timeZone: 'Europe/Amsterdam',
      location: `Building ${n % 5}, room ${100 + (n % 40)}`,
      categories: ['Timetable'],
      reminderMinutes: n % 10 === 0 ? 15 : null,
    };
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const gnuTime = findExecutable('time');

/** Runs a command to its end: wall time, and the CPU time it used (user + system, via GNU time when present). */
async function timed(command: string, args: string[], env: Record<string, string> = {}): Promise<{ ms: number; cpuMs: number | null; stdout: string; stderr: string }> {
  const cpuFile = join(work, `cpu-${process.hrtime.bigint()}.txt`);
  const [exe, argv] = gnuTime ? [gnuTime, ['-f', '%U %S', '-o', cpuFile, command, ...args]] : [command, args];
  const started = performance.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(exe, argv, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const ms = performance.now() - started;
      if (code !== 0) {
        reject(new Error(`${command} ${args.join(' ')} exited ${code}:\n${stderr.slice(-3000)}\n${stdout.slice(-2000)}`));
        return;
      }
      let cpuMs: number | null = null;
      if (gnuTime) {
        const [user, system] = readFileSync(cpuFile, 'utf8').trim().split(/\s+/).map(Number);
        cpuMs = ((user ?? 0) + (system ?? 0)) * 1000;
      }
      resolvePromise({ ms, cpuMs, stdout, stderr });
    });
  });
}

/** Counts the calendar objects in a collection (PROPFIND Depth 1), to check both pushed everything. */
async function countObjects(server: CalDavServer, url: string): Promise<number> {
  const answer = await server.request('PROPFIND', url, { headers: { depth: '1', 'content-type': 'application/xml' }, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:getetag/></D:prop></D:propfind>' });
  return (answer.body.match(/\.ics</g) ?? []).length;
}

interface Row {
  server: string;
  tool: string;
  first: number[];
  rerun: number[];
  /** CPU time of the client process (user + system), first push and rerun. */
  cpuFirst: number[];
  cpuRerun: number[];
}

const work = mkdtempSync(join(tmpdir(), 'calpush-bench-caldav-'));
const inputs = events(EVENTS);
const desired = inputs.map((input) => {
  const result = validateEvent(input);
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.desired;
});
// vdirsyncer's input: a vdir with one .ics per event, the very objects calpush writes (same UID, same content).
const vdirTemplate = join(work, 'vdir-template');
mkdirSync(vdirTemplate);
const stamp = new Date('2026-11-01T00:00:00Z');
const icsFiles: string[] = [];
for (const d of desired) {
  const file = join(vdirTemplate, `${uidFor(INSTANCE, d.key)}.ics`);
  writeFileSync(file, iCalendarFor(d, { instance: INSTANCE, now: stamp }));
  icsFiles.push(file);
}

const rows: Row[] = [];
let running: CalDavServer | null = null;
let stopping = false;
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    void (running?.close() ?? Promise.resolve()).finally(() => {
      rmSync(work, { recursive: true, force: true });
      process.exit(130);
    });
  });
}
const versions: Record<string, string | null> = { radicale: serverVersion('radicale'), xandikos: serverVersion('xandikos') };
const vdirsyncerVersion = `vdirsyncer ${/\d+\.\d+(\.\d+)?/.exec(spawnSync(vdirsyncer, ['--version'], { encoding: 'utf8' }).stdout)?.[0] ?? '?'}`;

try {
  for (const kind of SERVERS) {
    const server = await startServer(kind, { logLevel: 'error', authDelay: 1 });
    running = server;
    const calpushRows = new Map(CONCURRENCIES.map((c) => [c, { server: kind, tool: `calpush, ${c} in flight`, first: [], rerun: [], cpuFirst: [], cpuRerun: [] } as Row]));
    const vdirRow: Row = { server: kind, tool: 'vdirsyncer', first: [], rerun: [], cpuFirst: [], cpuRerun: [] };
    const floorRow: Row = { server: kind, tool: 'server floor (sequential PUTs from a running process)', first: [], rerun: [], cpuFirst: [], cpuRerun: [] };
    rows.push(...calpushRows.values(), vdirRow, floorRow);
    const credentials = server.service ?? { username: 'bench', password: 'unused' };
    try {
      for (let rep = 0; rep < REPS; rep++) {
        const tools = [...CONCURRENCIES.map((c) => ({ tool: 'calpush' as const, concurrency: c })), { tool: 'vdirsyncer' as const, concurrency: 0 }, { tool: 'floor' as const, concurrency: 1 }];
        // Alternate who goes first, so that neither always meets a warmer (or more cluttered) server.
        if (rep % 2 === 1) tools.reverse();
        for (const { tool, concurrency } of tools) {
          const user = `${tool === 'calpush' ? `c${concurrency}-` : tool === 'floor' ? 'f-' : 'v-'}${rep}`;
          await server.makeCalendar(user);
          const collection = server.calendarUrl(user);
          const dir = join(work, `${kind}-${user}`);
          mkdirSync(dir);
          if (tool === 'calpush') {
            const row = calpushRows.get(concurrency)!;
            const calendar = `${user}@example.edu`;
            const ndjson = join(dir, 'events.ndjson');
            writeFileSync(ndjson, `${inputs.map((e) => JSON.stringify({ ...e, calendar })).join('\n')}\n`);
            const config = join(dir, 'calpush.config.json');
            writeFileSync(
              config,
              JSON.stringify({
                instance: INSTANCE,
                timeZone: 'Europe/Amsterdam',
                target: {
                  kind: 'caldav',
                  baseUrl: server.url,
                  calendarUrlTemplate: kind === 'radicale' ? '{localpart}/timetable/' : 'user/calendars/{localpart}-timetable/',
                  auth: { kind: 'basic', username: credentials.username, password: { env: 'BENCH_CALDAV_PASSWORD' } },
                },
                store: { sqlite: join(dir, 'calpush.sqlite') },
                limits: { mailboxConcurrency: concurrency },
              }),
            );
            const input = CALPUSH_INPUT === 'ics' ? icsFiles : [ndjson];
            const run = () => timed(nodeBin, [calpushBin, 'sync', '-c', config, '-i', ...input, '--calendar', calendar, '--json'], { BENCH_CALDAV_PASSWORD: credentials.password });
            const first = await run();
            const summary = JSON.parse(first.stdout).delivery as { totals: { created: number; requests: number } };
            if (summary.totals.created !== EVENTS) throw new Error(`calpush created ${summary.totals.created} of ${EVENTS}`);
            const rerun = await run();
            const again = JSON.parse(rerun.stdout).delivery as { totals: { created: number; updated: number; requests: number } };
            if (again.totals.created || again.totals.updated) throw new Error(`calpush rerun wrote: ${rerun.stdout}`);
            row.first.push(first.ms);
            row.rerun.push(rerun.ms);
            if (first.cpuMs !== null && rerun.cpuMs !== null) {
              row.cpuFirst.push(first.cpuMs);
              row.cpuRerun.push(rerun.cpuMs);
            }
            console.error(`${kind} rep ${rep + 1} calpush (${concurrency} in flight): first ${first.ms.toFixed(0)} ms (${summary.totals.requests} requests), rerun ${rerun.ms.toFixed(0)} ms (${again.totals.requests} requests)`);
          } else if (tool === 'floor') {
            // The server's own time: the same PUTs, one after another, from this already running process.
            const started = performance.now();
            for (const file of icsFiles) {
              const answer = await server.request('PUT', `${collection}${file.slice(file.lastIndexOf('/') + 1)}`, {
                headers: { 'content-type': 'text/calendar; charset=utf-8', 'if-none-match': '*' },
                body: readFileSync(file, 'utf8'),
              });
              if (answer.status !== 201 && answer.status !== 204) throw new Error(`floor PUT answered ${answer.status}`);
            }
            floorRow.first.push(performance.now() - started);
            console.error(`${kind} rep ${rep + 1} server floor: ${(performance.now() - started).toFixed(0)} ms`);
          } else {
            const vdir = join(dir, 'vdir');
            spawnSync('cp', ['-r', vdirTemplate, vdir]);
            const config = join(dir, 'config');
            writeFileSync(
              config,
              [
                '[general]',
                `status_path = "${join(dir, 'status')}/"`,
                '',
                '[pair bench]',
                'a = "bench_local"',
                'b = "bench_remote"',
                'collections = null',
                'conflict_resolution = "a wins"',
                '',
                '[storage bench_local]',
                'type = "filesystem"',
                `path = "${vdir}/"`,
                'fileext = ".ics"',
                '',
                '[storage bench_remote]',
                'type = "caldav"',
                `url = "${collection}"`,
                `username = "${credentials.username}"`,
                `password = "${credentials.password}"`,
                '',
              ].join('\n'),
            );
            const env = { VDIRSYNCER_CONFIG: config };
            await timed(vdirsyncer, ['discover'], env);
            const first = await timed(vdirsyncer, ['sync'], env);
            const rerun = await timed(vdirsyncer, ['sync'], env);
            vdirRow.first.push(first.ms);
            vdirRow.rerun.push(rerun.ms);
            if (first.cpuMs !== null && rerun.cpuMs !== null) {
              vdirRow.cpuFirst.push(first.cpuMs);
              vdirRow.cpuRerun.push(rerun.cpuMs);
            }
            console.error(`${kind} rep ${rep + 1} vdirsyncer: first ${first.ms.toFixed(0)} ms, rerun ${rerun.ms.toFixed(0)} ms`);
          }
          const count = await countObjects(server, collection);
          if (count !== EVENTS) throw new Error(`${tool} left ${count} objects in ${collection}, expected ${EVENTS}`);
        }
      }
    } finally {
      await server.close();
      running = null;
    }
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
console.log(`\nCalDAV push of ${EVENTS} events into a fresh calendar, then a rerun with nothing changed; median of ${REPS} (wall time per process, start to exit)`);
console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB; node ${process.version}`);
console.log(`servers: radicale ${versions.radicale ?? '-'}, xandikos ${versions.xandikos ?? '-'}; ${vdirsyncerVersion}\n`);
console.log(`calpush input: ${CALPUSH_INPUT === 'ics' ? 'the same .ics files as vdirsyncer (one per event)' : 'the same events as NDJSON'}\n`);
console.log('| server | tool | first push | rerun (no change) | client CPU, first push | client CPU, rerun |');
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
const cpu = (values: number[]) => (values.length ? fmt(median(values)) : 'n/a');
for (const row of rows) {
  const rerun = row.rerun.length ? fmt(median(row.rerun)) : '–';
  console.log(`| ${row.server} | ${row.tool} | ${fmt(median(row.first))} | ${rerun} | ${cpu(row.cpuFirst)} | ${cpu(row.cpuRerun)} |`);
}
console.log('\n| server | calpush | wall time ÷ vdirsyncer, first push (target ≤ 0.5) | wall time ÷ vdirsyncer, rerun (target ≤ 0.2) | client CPU ÷ vdirsyncer, first push | client CPU ÷ vdirsyncer, rerun |');
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const kind of SERVERS) {
  const v = rows.find((r) => r.server === kind && r.tool === 'vdirsyncer')!;
  const floor = rows.find((r) => r.server === kind && r.tool.startsWith('server floor'))!;
  console.log(`| ${kind} | server floor (no client) | ${(median(floor.first) / median(v.first)).toFixed(2)} (what a client at the server's own speed would score) | – | – | – |`);
  for (const c of rows.filter((r) => r.server === kind && r.tool.startsWith('calpush'))) {
    const first = median(c.first) / median(v.first);
    const rerun = median(c.rerun) / median(v.rerun);
    const ratio = (a: number[], b: number[]) => (a.length && b.length ? (median(a) / median(b)).toFixed(2) : 'n/a');
    console.log(`| ${kind} | ${c.tool} | ${first.toFixed(2)} ${first <= 0.5 ? '(met)' : '(missed)'} | ${rerun.toFixed(2)} ${rerun <= 0.2 ? '(met)' : '(missed)'} | ${ratio(c.cpuFirst, v.cpuFirst)} | ${ratio(c.cpuRerun, v.cpuRerun)} |`);
  }
}
