// One calpush sync into a CalDAV calendar, as its own process (so the benchmark times it like vdirsyncer's: from
// process start to exit). The same path as `calpush sync`: read the input file, record it as the desired state in
// the SQLite store, deliver through the scheduler with the CalDAV target.
//
//   node bench/caldav/calpush-push.ts '<json: {baseUrl, template, username, password, instance, store, input, calendar, concurrency}>'
import { Scheduler } from '../../src/scheduler/scheduler.ts';
import { deliver } from '../../src/scheduler/delivery.ts';
import { collectEvents, type RawRecord } from '../../src/sources/records.ts';
import { readInputItems } from '../../src/sources/stream.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { CalDavTarget } from '../../src/targets/caldav/target.ts';

interface Args {
  baseUrl: string;
  template: string;
  username: string;
  password: string;
  instance: string;
  store: string;
  input: string;
  calendar: string;
  concurrency: number;
}

const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const started = performance.now();
// The same reader `calpush sync` uses; the events of one calendar fit in memory, so they are collected here.
const records: RawRecord[] = [];
for await (const item of readInputItems([args.input], { timeZone: 'Europe/Amsterdam', horizon: { fromMs: 0, toMs: Date.UTC(2100, 0, 1) } })) {
  if (item.kind === 'record') records.push(item.record);
  else if (item.kind === 'error') throw new Error(`input error: ${JSON.stringify(item.error)}`);
}
const parsed = collectEvents(records);
if (parsed.errors.length) throw new Error(`input errors: ${JSON.stringify(parsed.errors.slice(0, 3))}`);
const store = new SqliteStore(args.store);
const target = new CalDavTarget({
  instance: args.instance,
  baseUrl: args.baseUrl,
  calendarUrlTemplate: args.template,
  auth: { kind: 'basic', username: args.username, password: args.password },
  allDayTimeZone: 'Europe/Amsterdam',
});
try {
  await store.applyDesired({ calendars: [args.calendar], events: parsed.events, held: parsed.held });
  const summary = await deliver({
    store,
    target,
    scheduler: new Scheduler({ globalConcurrency: 64, mailboxConcurrency: args.concurrency, maxAttempts: 8 }),
    instance: args.instance,
    calendars: [args.calendar],
  });
  process.stdout.write(`${JSON.stringify({ totals: summary.totals, fatal: summary.fatal ?? null, inProcessMs: Math.round(performance.now() - started) })}\n`);
  if (summary.fatal || summary.totals.failed || summary.totals.failedMailboxes) process.exitCode = 1;
} finally {
  await target.close();
  await store.close();
}
