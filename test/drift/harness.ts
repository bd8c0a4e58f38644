// Drift against the sandbox, over Graph or EWS: calpush pushes a timetable, a student edits or deletes a lecture in
// Outlook (sandbox.outlook), a watch round finds it, delivery restores what the policy says to restore.
import { eventKey, validateEvent, type DesiredEvent, type EventInput } from '../../src/model/event.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { deliver } from '../../src/engine/delivery.ts';
import { singleRoute } from '../../src/engine/routes.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { watchMailboxes, type WatchSummary } from '../../src/engine/watch.ts';
import type { DriftPolicies } from '../../src/planner/drift.ts';
import { EWS_SCHEDULING_ACCOUNT, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { graphIdFromEws } from '../../src/sandbox/ews/items.ts';
import type { GraphStoredEvent } from '../../src/sandbox/types.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import type { CalendarTarget } from '../../src/targets/target.ts';
import { sandboxGraphOptions } from '../support/sandbox-graph.ts';

export type Protocol = 'graph' | 'ews';
export const NOW = '2026-09-01T08:00:00Z';
export const INSTANCE = 'drift-test';

export function lecture(calendar: string, n: number, subject = `Lecture ${n}`): EventInput {
  return { calendar, id: `lecture-${n}`, subject, start: `2026-09-${String(7 + n).padStart(2, '0')}T09:00`, end: `2026-09-${String(7 + n).padStart(2, '0')}T10:45`, timeZone: 'Europe/Amsterdam', location: 'Room A1.02' };
}

function desired(inputs: EventInput[]): DesiredEvent[] {
  return inputs.map((input) => {
    const result = validateEvent(input);
    if (!result.ok) throw new Error(`bad test event: ${JSON.stringify(result.problems)}`);
    return result.desired;
  });
}

export interface DriftWorld {
  sandbox: SandboxInternals;
  store: SqliteStore;
  target: CalendarTarget;
  /** The source's desired state of `calendar`, then a delivery. */
  push(calendar: string, inputs: EventInput[]): Promise<void>;
  deliver(calendars: string[]): Promise<void>;
  watch(calendars: string[], policies?: Partial<DriftPolicies>): Promise<WatchSummary>;
  /** The calendar as the person sees it (Graph's view of the mailbox). */
  calendar(mailbox: string): GraphStoredEvent[];
  /** The sandbox's (Graph) id of the item calpush delivered for the event. */
  itemOf(mailbox: string, id: string): Promise<string>;
  close(): Promise<void>;
}

export async function startDriftWorld(protocol: Protocol, shared?: SandboxInternals): Promise<DriftWorld> {
  const clock = fixedClock(NOW);
  const sandbox = shared ?? (await startSandbox({ clock }));
  const store = new SqliteStore(':memory:', { clock });
  const target: GraphTarget | EwsTarget =
    protocol === 'graph'
      ? new GraphTarget(sandboxGraphOptions(sandbox, INSTANCE))
      : new EwsTarget({ instance: INSTANCE, url: sandbox.ewsUrl, caPem: sandbox.caPem, access: 'impersonation', auth: 'basic', accounts: [{ username: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD }], serverVersion: 'Exchange2013_SP1', allDayTimeZone: 'Europe/Amsterdam' });
  const scheduler = new Scheduler({ clock, globalConcurrency: 8, mailboxConcurrency: 4, maxAttempts: 3, baseBackoffMs: 10, maxBackoffMs: 100 });
  const routes = singleRoute(target, scheduler);
  const world: DriftWorld = {
    sandbox,
    store,
    target,
    async push(calendar, inputs) {
      await store.applyDesired({ calendars: [calendar], events: desired(inputs), held: [] });
      await world.deliver([calendar]);
    },
    async deliver(calendars) {
      const summary = await deliver({ store, routes, instance: INSTANCE, calendars, clock });
      const failed = summary.mailboxes.filter((m) => m.status === 'failed' || m.failed > 0);
      if (failed.length) throw new Error(`delivery failed: ${JSON.stringify(failed)}`);
    },
    watch: (calendars, policies = {}) =>
      watchMailboxes({ store, routes, calendars, clock, window: { pastDays: 1, futureDays: 400 }, policyOf: () => ({ edited: 'restore', deleted: 'restore', ...policies }) }),
    calendar: (mailbox) => sandbox.listEvents(mailbox),
    async itemOf(mailbox, id) {
      const row = (await store.deliveredFor(mailbox)).find((r) => r.key === eventKey(mailbox, id));
      if (!row) throw new Error(`nothing delivered for ${id}`);
      return protocol === 'ews' ? graphIdFromEws(row.itemId) : row.itemId;
    },
    async close() {
      await target.close();
      await store.close();
      if (!shared) await sandbox.close();
    },
  };
  return world;
}
