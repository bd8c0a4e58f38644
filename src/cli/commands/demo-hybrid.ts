// calpush demo --hybrid: one deployment, one store, three kinds of target. The sandbox plays an Exchange hybrid
// organisation — some mailboxes on-premises (EWS with service accounts), the others in Exchange Online (Graph),
// Autodiscover saying which — plus a CalDAV server (Radicale, when it is installed) for a lab's calendars. Events
// go in through calpush serve's API and through an import; each mailbox is delivered by the target the routing
// names; then one mailbox moves from on-premises to Exchange Online and is adopted there with nothing created
// twice. `--json` prints per mailbox its target and the counts.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';
import { parseConfig, type Config } from '../../app/config.ts';
import { parseServerConfig } from '../../app/settings.ts';
import { runImport } from './import.ts';
import type { MailboxSummary } from '../../engine/summary.ts';
import type { EventInput } from '../../model/event.ts';
import { sampleTimetable } from '../../sandbox/sample-timetable.ts';
import { defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type Sandbox } from '../../sandbox/index.ts';
import { prepareDemoFolder } from './demo-folder.ts';
import { createApiKey } from '../../server/auth.ts';
import { startServer, type RunningServer } from '../../server/index.ts';

const INSTANCE = 'demo-hybrid';
const LAB = ['lab-1@lab.contoso.edu', 'lab-2@lab.contoso.edu'];

export interface HybridDemoOptions {
  dir: string;
  students: number;
  rooms: number;
  json: boolean;
}

/** Per mailbox: where it is delivered and what is there. */
export interface HybridMailboxReport {
  calendar: string;
  target: string | null;
  /** How its events came in. */
  source: 'api' | 'import';
  desired: number;
  delivered: number;
  /** Our events the calendar holds (each key counted once), and how many of them are there more than once. */
  inCalendar: number;
  duplicates: number;
}

export interface HybridDemoReport {
  sandbox: string;
  caldav: string;
  mailboxes: HybridMailboxReport[];
  move: { calendar: string; from: string; to: string; adopted: number; created: number; updated: number; duplicates: number } | null;
  ok: boolean;
}

/** Runs the hybrid demo; resolves with the report (the command prints it). */
export async function runHybridDemo(options: HybridDemoOptions, say: (line?: string) => void): Promise<HybridDemoReport> {
  const seed = defaultTenantSeed({ students: options.students, rooms: options.rooms });
  const students = seed.mailboxes.filter((m) => m.kind === 'user' && /^s\d+@/.test(m.address)).map((m) => m.address);
  const rooms = seed.mailboxes.filter((m) => m.kind === 'room').map((m) => m.address);
  // Rooms and the first half of the students live on-premises, the other students in Exchange Online.
  const onPremises = new Set([...rooms, ...students.slice(0, Math.ceil(students.length / 2))]);
  for (const mailbox of seed.mailboxes) if ([...students, ...rooms].includes(mailbox.address)) mailbox.home = onPremises.has(mailbox.address) ? 'onPremises' : 'online';
  const sandbox = await startSandbox({ tenant: seed });
  const dav = await startRadicale(join(options.dir, 'radicale')).catch((error: unknown) => ({ skipped: `Radicale did not start: ${(error as Error).message}` }));
  try {
    const config = writeConfig(options.dir, sandbox, 'url' in dav ? dav : null);
    say(`calpush demo --hybrid — the sandbox plays an Exchange hybrid organisation at ${sandbox.url}:`);
    say(`  ${onPremises.size} mailboxes on-premises (EWS, service accounts ${EWS_DELEGATE_ACCOUNTS.slice(0, 2).join(', ')}), ${students.length + rooms.length - onPremises.size} in Exchange Online (Graph);`);
    say(`  routing: ${'url' in dav ? `*@lab.contoso.edu → CalDAV (Radicale at ${dav.url}); ` : ''}every other mailbox where on-premises Autodiscover says it lives.`);
    if (!('url' in dav)) say(`  CalDAV skipped: ${dav.skipped}`);
    const report = await deliverAndMove({ config, dir: options.dir, sandbox, students, rooms, dav: 'url' in dav ? dav : null, onPremises, say });
    return { ...report, sandbox: sandbox.url, caldav: 'url' in dav ? `Radicale at ${dav.url}` : `skipped: ${dav.skipped}` };
  } finally {
    if ('close' in dav) await dav.close();
    await sandbox.close();
  }
}

interface DemoContext {
  config: Config;
  dir: string;
  sandbox: Sandbox;
  students: string[];
  rooms: string[];
  dav: Radicale | null;
  onPremises: Set<string>;
  say: (line?: string) => void;
}

/** Events through the API and an import, delivered by serve; then the move. */
async function deliverAndMove(context: DemoContext): Promise<Omit<HybridDemoReport, 'sandbox' | 'caldav'>> {
  const { config, dir, students, rooms, say } = context;
  const timetable = sampleTimetable({ students, rooms, from: new Date(), weeks: 1, coursesPerStudent: 2 });
  const calendars = [...new Set(timetable.map((e) => e.calendar))].sort();
  // Half of the calendars through the API, the other half through an import; the lab's through the API.
  const viaImport = new Set(calendars.filter((_, index) => index % 2 === 1));
  const labEvents = context.dav ? LAB.flatMap((calendar) => [1, 2].map((n) => labSession(calendar, n))) : [];
  const summaries: MailboxSummary[] = [];
  const running = await startServer({ config, server: parseServerConfig({ port: 0, deliveryPollMs: 100 }), feeds: undefined, baseDir: dir, retryMinMs: 200, onDelivered: (s) => summaries.push(s) });
  try {
    const { key } = await createApiKey(running.store, { scope: 'write', name: 'calpush demo --hybrid' });
    const api = async (items: Array<EventInput | Record<string, unknown>>) => postBatch(running.url, key, items);
    await api([...timetable.filter((e) => !viaImport.has(e.calendar)), ...labEvents]);
    say(`Sent ${timetable.length - timetable.filter((e) => viaImport.has(e.calendar)).length + labEvents.length} events through serve's API and imported ${timetable.filter((e) => viaImport.has(e.calendar)).length} from a file.`);
    const file = join(dir, 'hybrid-import.ndjson');
    writeFileSync(file, `${timetable.filter((e) => viaImport.has(e.calendar)).map((e) => JSON.stringify(e)).join('\n')}\n`);
    // Recorded by the import, delivered by serve's loop: in one process they would share the lease owner (the process's worker id).
    const imported = await runImport({ config, baseDir: dir, paths: [file], deliver: false });
    for (const calendar of imported.calendars) running.loop.nudge(calendar, Number.MAX_SAFE_INTEGER);
    await running.loop.idle(120_000);

    const moved = calendars.find((c) => context.onPremises.has(c) && c.startsWith('s') && !viaImport.has(c))!;
    const move = await moveMailbox(context, running, moved, timetable, summaries, api);
    const mailboxes = await mailboxReports(context, running, [...calendars, ...(context.dav ? LAB : [])], viaImport);
    printReport(say, mailboxes, move);
    const ok = mailboxes.every((m) => m.duplicates === 0 && m.desired === m.delivered && m.delivered === m.inCalendar) && move.duplicates === 0 && move.to === 'online';
    return { mailboxes, move, ok };
  } finally {
    await running.close();
  }
}

/** The sandbox moves the mailbox to Exchange Online; a change for it through the API is delivered there. */
async function moveMailbox(
  context: DemoContext,
  running: RunningServer,
  calendar: string,
  timetable: EventInput[],
  summaries: MailboxSummary[],
  api: (items: Array<EventInput | Record<string, unknown>>) => Promise<void>,
): Promise<NonNullable<HybridDemoReport['move']>> {
  const { sandbox, say } = context;
  const before = (await running.store.mailbox(calendar))?.target ?? 'onprem';
  say();
  say(`Moving ${calendar} to Exchange Online (New-MoveRequest -Remote: its items and their named properties move with it) …`);
  sandbox.moveMailbox(calendar, 'online');
  const first = timetable.find((e) => e.calendar === calendar)!;
  summaries.length = 0;
  await api([{ ...first, subject: `${first.subject} (room changed)` }, labSession(calendar, 9)]);
  await running.loop.idle(120_000);
  const done = summaries.filter((s) => s.calendar === calendar && s.status === 'ok').at(-1);
  const adopted = summaries.find((s) => s.calendar === calendar && s.movedFrom)?.listed ?? 0;
  const { duplicates } = countOurs(sandbox, calendar);
  const after = (await running.store.mailbox(calendar))?.target ?? before;
  say(`${calendar}: ${before} → ${after}; ${adopted} tagged events found in Exchange Online and adopted, ${done?.created ?? 0} created, ${done?.updated ?? 0} updated, ${duplicates} duplicates.`);
  return { calendar, from: before, to: after, adopted, created: done?.created ?? 0, updated: done?.updated ?? 0, duplicates };
}

async function mailboxReports(context: DemoContext, running: RunningServer, calendars: string[], viaImport: Set<string>): Promise<HybridMailboxReport[]> {
  const reports: HybridMailboxReport[] = [];
  for (const calendar of calendars) {
    const counts = await running.store.calendarCounts(calendar);
    const inCalendar = context.dav && LAB.includes(calendar) ? { unique: await context.dav.count(calendar), duplicates: 0 } : countOurs(context.sandbox, calendar);
    reports.push({
      calendar,
      target: (await running.store.mailbox(calendar))?.target ?? null,
      source: viaImport.has(calendar) ? 'import' : 'api',
      desired: counts.desired,
      delivered: counts.delivered,
      inCalendar: inCalendar.unique,
      duplicates: inCalendar.duplicates,
    });
  }
  return reports;
}

function printReport(say: (line?: string) => void, mailboxes: HybridMailboxReport[], move: NonNullable<HybridDemoReport['move']>): void {
  say('');
  const header = ['mailbox', 'target', 'via', 'desired', 'delivered', 'in calendar', 'duplicates'];
  const rows = mailboxes.map((m) => [m.calendar, m.target ?? '-', m.source, String(m.desired), String(m.delivered), String(m.inCalendar), String(m.duplicates)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  for (const row of [header, ...rows]) say(row.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  say();
  say(`Moved: ${move.calendar} from ${move.from} to ${move.to}, ${move.adopted} events adopted, ${move.duplicates} duplicates.`);
}

/** Our tagged events in a sandbox mailbox: how many keys, and how many events beyond one per key. */
function countOurs(sandbox: Sandbox, calendar: string): { unique: number; duplicates: number } {
  const keys = sandbox
    .listEvents(calendar)
    .map((e) => (e.singleValueExtendedProperties ?? []).find((p) => p.id.endsWith('Name CalpushKey'))?.value ?? '')
    .filter((value) => value.startsWith(`v1;${INSTANCE};`))
    .map((value) => value.split(';')[2]!);
  return { unique: new Set(keys).size, duplicates: keys.length - new Set(keys).size };
}

/** A session next year (the demo's events lie ahead, so nothing of them has ended). */
function labSession(calendar: string, n: number): EventInput {
  const date = `${new Date().getUTCFullYear() + 1}-03-${String(10 + n).padStart(2, '0')}`;
  return { calendar, id: `lab-session-${n}`, subject: `Lab session ${n}`, start: `${date}T14:00`, end: `${date}T16:00`, timeZone: 'Europe/Amsterdam', location: 'Lab B' };
}

async function postBatch(url: string, key: string, items: Array<EventInput | Record<string, unknown>>): Promise<void> {
  const answer = await fetch(`${url}/v1/events/batch`, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' }, body: JSON.stringify(items) });
  if (answer.status !== 202) throw new Error(`the API answered ${answer.status}: ${await answer.text()}`);
}

/** The demo's config: the sandbox's Graph and EWS sides and, when it runs, Radicale; the routing between them. */
function writeConfig(dir: string, sandbox: Sandbox, dav: Radicale | null): Config {
  const { secret } = prepareDemoFolder(dir, 'calpush-hybrid.sqlite', sandbox);
  secret('ews.pw', EWS_PASSWORD);
  if (dav) secret('caldav.pw', dav.password);
  const raw = {
    instance: INSTANCE,
    store: { sqlite: 'calpush-hybrid.sqlite' },
    timeZone: 'Europe/Amsterdam',
    targets: {
      online: {
        kind: 'graph',
        tenantId: sandbox.tenantId,
        clientId: sandbox.demoCredentials.clientId,
        credential: { kind: 'certificate', privateKey: { file: 'app-key.pem' }, certificate: { file: 'app-cert.pem' } },
        authorityHost: sandbox.url,
        graphBaseUrl: sandbox.graphBaseUrl,
        caFile: 'sandbox-ca.pem',
      },
      onprem: { kind: 'ews', url: sandbox.ewsUrl, access: 'delegate', auth: 'ntlm', accounts: EWS_DELEGATE_ACCOUNTS.slice(0, 2).map((username) => ({ username, password: { file: 'ews.pw' } })), caFile: 'sandbox-ca.pem' },
      ...(dav ? { dav: { kind: 'caldav', baseUrl: dav.url, calendarUrlTemplate: '{localpart}/timetable/', auth: { kind: 'basic', username: dav.username, password: { file: 'caldav.pw' } } } } : {}),
    },
    routing: {
      rules: [...(dav ? [{ match: ['*@lab.contoso.edu'], target: 'dav' }] : []), { lookup: 'exchange-hybrid', onPremises: 'onprem', online: 'online' }],
    },
  };
  writeFileSync(join(dir, 'calpush-hybrid.config.json'), `${JSON.stringify(raw, null, 2)}\n`);
  return parseConfig(raw, 'demo config');
}

// ---------------------------------------------------------------------------------------------------------------
// Radicale, started the way the tests start it (test/caldav/servers.ts), when `radicale` is on PATH.

interface Radicale {
  url: string;
  username: string;
  password: string;
  /** Our events in a lab calendar. */
  count(calendar: string): Promise<number>;
  close(): Promise<void>;
}

function onPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    try {
      accessSync(join(dir, name), constants.X_OK);
      return join(dir, name);
    } catch {
      // not here
    }
  }
  return null;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Radicale with one account (htpasswd) that may write every calendar, and a calendar per lab mailbox; null when not installed. */
async function startRadicale(dir: string): Promise<Radicale | { skipped: string }> {
  const executable = onPath('radicale');
  if (!executable) return { skipped: 'radicale is not installed (apt-get install radicale)' };
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(join(dir, 'collections'), { recursive: true });
  const [username, password] = ['calpush', 'calpush-demo-pw'];
  writeFileSync(join(dir, 'htpasswd'), `${username}:${password}\n`, { mode: 0o600 });
  writeFileSync(join(dir, 'rights'), ['[service]', `user: ${username}`, 'collection: .*', 'permissions: RWrw', ''].join('\n'));
  const port = await freePort();
  const config = ['[server]', `hosts = 127.0.0.1:${port}`, '[auth]', 'type = htpasswd', `htpasswd_filename = ${join(dir, 'htpasswd')}`, 'htpasswd_encryption = plain', 'delay = 0.1'];
  config.push('[rights]', 'type = from_file', `file = ${join(dir, 'rights')}`, '[storage]', 'type = multifilesystem', `filesystem_folder = ${join(dir, 'collections')}`, '[web]', 'type = none', '[logging]', 'level = error', '');
  writeFileSync(join(dir, 'config'), config.join('\n'));
  const child = spawn(executable, ['--config', join(dir, 'config')], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}/`;
  const auth = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  const request = (method: string, path: string, body?: string, headers: Record<string, string> = {}) => fetch(`${url}${path}`, { method, headers: { authorization: auth, ...headers }, ...(body ? { body } : {}) });
  try {
    await answering(url, child);
    for (const calendar of LAB) {
      const user = calendar.split('@')[0]!;
      await request('MKCOL', `${user}/`);
      await request('MKCALENDAR', `${user}/timetable/`);
    }
  } catch (error) {
    await stop(child);
    throw error;
  }
  return {
    url,
    username,
    password,
    count: async (calendar) => {
      const answer = await request('PROPFIND', `${calendar.split('@')[0]}/timetable/`, undefined, { depth: '1' });
      return ((await answer.text()).match(/\.ics<\/(\w+:)?href>/g) ?? []).length;
    },
    close: () => stop(child),
  };
}

/** Waits (bounded) until Radicale answers: a start-up, not a request to retry. */
async function answering(url: string, child: ChildProcess): Promise<void> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`it exited with status ${child.exitCode}`);
    if (await fetch(url, { method: 'OPTIONS', signal: AbortSignal.timeout(1000) }).then(() => true, () => false)) return;
    if (performance.now() > deadline) throw new Error('it did not answer within 20 s');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}
