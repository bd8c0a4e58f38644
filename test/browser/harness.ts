// The world the browser tests (and `npm run screenshots`) look at: the sandbox (Microsoft 365 stand-in) and
// `calpush serve` with its dashboard over it, API keys of each kind, and a timetable pushed through the API to a
// few students — among them outofscope@, outside the app's RBAC scope (403 ErrorAccessDenied), and a student whose
// calendar the app has lost access to (faults.revokeMailbox, also 403) until the test gives it back.
import { CalpushClient } from 'calpush/client';
import type { Clock } from '../../src/model/clock.ts';
import type { EventInput } from '../../src/model/event.ts';
import { defaultTenantSeed, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { OUT_OF_SCOPE_MAILBOX, studentAddress } from '../../src/sandbox/tenant.ts';
import { createApiKey } from '../../src/server/auth.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { createWorkspace } from '../e2e/harness.ts';

export interface DashboardWorld {
  sandbox: Sandbox;
  running: RunningServer;
  keys: { admin: string; helpdesk: string; write: string; writeId: string };
  client: CalpushClient;
  /** Students whose timetable is delivered. */
  delivered: string[];
  /** A student the app cannot reach until `restore()` (403 meanwhile). */
  recovering: string;
  outOfScope: string;
  /** Events pushed per mailbox. */
  eventsPerMailbox: number;
  restore(): void;
  close(): Promise<void>;
}

export interface WorldOptions {
  clock?: Clock;
  /** Events of each timetable: (calendar, n) → event. */
  event: (calendar: string, n: number) => EventInput;
  eventsPerMailbox?: number;
  students?: number;
  liveIntervalMs?: number;
  /** The back-off after a failed mailbox (long: only "deliver now" brings the recovering student back soon). */
  retryMinMs?: number;
  port?: number;
}

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export async function startDashboardWorld(options: WorldOptions): Promise<DashboardWorld> {
  const students = options.students ?? 4;
  const sandbox = await startSandbox({ tenant: defaultTenantSeed({ students, staff: 2, rooms: 2 }) });
  const ws = createWorkspace(sandbox, 'secret', { instance: 'dashboard' });
  const running = await startServer({
    config: ws.config,
    server: parseServerConfig({ port: options.port ?? 0, deliveryPollMs: 100, dashboard: { liveIntervalMs: options.liveIntervalMs ?? 300 } }),
    feeds: undefined,
    baseDir: ws.dir,
    retryMinMs: options.retryMinMs ?? 600_000,
    ...(options.clock ? { clock: options.clock } : {}),
  });
  const made = async (scope: 'admin' | 'helpdesk' | 'write', name: string) => createApiKey(running.store, { scope, name, ...(options.clock ? { clock: options.clock } : {}) });
  const admin = await made('admin', 'Operations');
  const helpdesk = await made('helpdesk', 'Service desk');
  const write = await made('write', 'Timetable system');
  const client = new CalpushClient({ baseUrl: running.url, apiKey: write.key });

  const all = Array.from({ length: students }, (_, i) => studentAddress(i + 1));
  const recovering = all[1]!;
  const delivered = all.filter((s) => s !== recovering);
  sandbox.faults.revokeMailbox(recovering);
  const count = options.eventsPerMailbox ?? 6;
  for (const calendar of [...all, OUT_OF_SCOPE_MAILBOX]) {
    await client.replaceEvents(calendar, Array.from({ length: count }, (_, n) => options.event(calendar, n)));
  }
  const state = async (calendar: string) => (await running.store.mailbox(calendar))?.state;
  await until(async () => (await state(OUT_OF_SCOPE_MAILBOX)) === 'failed' && (await state(recovering)) === 'failed', 'the two mailboxes fail');
  for (const calendar of delivered) await until(async () => (await state(calendar)) === 'ok', `${calendar} delivered`);

  return {
    sandbox,
    running,
    keys: { admin: admin.key, helpdesk: helpdesk.key, write: write.key, writeId: write.row.id },
    client,
    delivered,
    recovering,
    outOfScope: OUT_OF_SCOPE_MAILBOX,
    eventsPerMailbox: count,
    restore: () => sandbox.faults.revokeMailbox(recovering, false),
    async close() {
      await running.close();
      await sandbox.close();
    },
  };
}
