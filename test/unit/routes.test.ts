// Delivery through routes (src/engine/routes.ts, engine/mailbox.ts): each mailbox through its own target and that
// target's scheduler; a failure no mailbox of one target can get past stops that target only; a mailbox whose
// looked-up target refuses it is looked up again and delivered through its new target in the same run; no route is
// a failure of that mailbox alone.
import { describe, expect, it } from 'vitest';
import { deliver } from '../../src/engine/delivery.ts';
import type { DeliveryScheduler, MailboxRoute, MailboxRoutes } from '../../src/engine/routes.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { TargetError } from '../../src/targets/target.ts';
import { MemoryTarget } from '../support/memory-target.ts';
import { desired } from '../server/helpers.ts';

const clock = fixedClock('2026-01-15T12:00:00Z');
const lecture = (calendar: string, n: number) => desired(calendar, `e${n}`, { start: '2026-03-0' + (n + 1) + 'T09:00', end: '2026-03-0' + (n + 1) + 'T10:00', timeZone: 'Europe/Amsterdam', subject: `Lecture ${n}` });

/**
 * Routes by a table that the test changes. `lookedUp`: the answers come "from a lookup" and are remembered (a changed
 * table is seen only when asked with `fresh`, as the router does with its remembered answers).
 */
function tableRoutes(targets: Record<string, MemoryTarget>, table: Map<string, string>, lookedUp = false): MailboxRoutes & { asked: Array<[string, boolean]> } {
  const schedulers = Object.fromEntries(Object.keys(targets).map((name) => [name, new Scheduler({ clock, maxAttempts: 1 })]));
  const asked: Array<[string, boolean]> = [];
  const remembered = new Map<string, string>();
  const routes = {
    asked,
    route: async (calendar: string, options: { fresh?: boolean } = {}): Promise<MailboxRoute> => {
      asked.push([calendar, options.fresh ?? false]);
      const name = lookedUp && !options.fresh && remembered.has(calendar) ? remembered.get(calendar) : table.get(calendar);
      if (name && lookedUp) remembered.set(calendar, name);
      if (!name) throw new TargetError('mailbox', 'NoRoute', `no route for ${calendar}`);
      return { name, target: targets[name]!, scheduler: schedulers[name]!, reason: `table: ${name}`, lookedUp };
    },
    schedulers: () => Object.values(schedulers),
    // The tests' schedulers are seen as they are: the routes themselves, whatever view is asked for.
    through: <T extends DeliveryScheduler>() => routes as unknown as MailboxRoutes<T>,
  };
  return routes;
}

const A = 'a@contoso.edu';
const B = 'b@contoso.edu';
const C = 'c@contoso.edu';

describe('delivery through routes', () => {
  it('each mailbox goes to its target; the store records which one delivered it', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const targets = { one: new MemoryTarget(), two: new MemoryTarget() };
    await store.applyDesiredOps([A, B].flatMap((calendar) => [0, 1].map((n) => ({ kind: 'upsert' as const, desired: lecture(calendar, n) }))));
    const summary = await deliver({ clock, store, routes: tableRoutes(targets, new Map([[A, 'one'], [B, 'two']])), instance: 'routes', calendars: [A, B] });
    expect(summary.mailboxes.map((m) => [m.calendar, m.target, m.created])).toEqual([[A, 'one', 2], [B, 'two', 2]]);
    expect(targets.one.subjects(A)).toHaveLength(2);
    expect(targets.two.subjects(A)).toHaveLength(0);
    expect(targets.two.subjects(B)).toHaveLength(2);
    expect((await store.mailbox(A))?.target).toBe('one');
    expect((await store.mailbox(B))?.target).toBe('two');
  });

  it('a failure of one target stops that target only: the other target\'s mailboxes are delivered; no route fails one mailbox', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const targets = { one: new MemoryTarget(), two: new MemoryTarget() };
    targets.one.fatal = new TargetError('fatal', 'InvalidClientSecret', 'the secret is wrong', { remedy: 'fix the secret' });
    await store.applyDesiredOps([A, B, C].map((calendar) => ({ kind: 'upsert' as const, desired: lecture(calendar, 0) })));
    const summary = await deliver({ clock, store, routes: tableRoutes(targets, new Map([[A, 'one'], [B, 'two']])), instance: 'routes', calendars: [A, B, C], parallelMailboxes: 1 });
    expect(summary.mailboxes.map((m) => [m.calendar, m.status, m.error?.code])).toEqual([
      [A, 'failed', 'InvalidClientSecret'],
      [B, 'ok', undefined],
      [C, 'failed', 'NoRoute'],
    ]);
    expect(summary.fatal).toMatchObject({ code: 'InvalidClientSecret' });
    expect(targets.two.subjects(B)).toEqual(['Lecture 0']);
    expect(await store.mailbox(C)).toMatchObject({ state: 'failed', lastErrorCode: 'NoRoute' });
  });

  it('a looked-up target that refuses the mailbox: asked again, delivered through the new target, adopting what is there', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const targets = { onprem: new MemoryTarget(), online: new MemoryTarget() };
    const table = new Map([[A, 'onprem']]);
    const routes = tableRoutes(targets, table, true);
    await store.applyDesiredOps([0, 1, 2].map((n) => ({ kind: 'upsert' as const, desired: lecture(A, n) })));
    await deliver({ clock, store, routes, instance: 'routes', calendars: [A] });
    // The mailbox moves, items and tags with it: the online side holds what on-premises held.
    const moved = targets.onprem.calendars.calendar(A);
    for (const [id, item] of moved) targets.online.calendars.calendar(A).set(id, item);
    moved.clear();
    targets.onprem.forbidden.add(A);
    table.set(A, 'online');
    await store.applyDesiredOps([{ kind: 'upsert', desired: lecture(A, 3) }]);
    routes.asked.length = 0;
    const writesBefore = targets.online.writes.length;
    const summary = await deliver({ clock, store, routes, instance: 'routes', calendars: [A] });
    expect(routes.asked).toEqual([[A, false], [A, true]]);
    expect(summary.mailboxes[0]).toMatchObject({ status: 'ok', target: 'online', movedFrom: 'onprem', listed: 3, created: 1 });
    expect(targets.online.subjects(A).sort()).toEqual(['Lecture 0', 'Lecture 1', 'Lecture 2', 'Lecture 3']);
    expect(targets.online.writes.length - writesBefore).toBe(1);
    expect(await store.mailbox(A)).toMatchObject({ state: 'ok', target: 'online' });
  });

  it('a route that does not come from a lookup is not asked again: the refusal is the mailbox\'s failure', async () => {
    const store = new SqliteStore(':memory:', { clock });
    const targets = { one: new MemoryTarget(), two: new MemoryTarget() };
    targets.one.forbidden.add(A);
    const routes = tableRoutes(targets, new Map([[A, 'one']]));
    await store.applyDesiredOps([{ kind: 'upsert', desired: lecture(A, 0) }]);
    const summary = await deliver({ clock, store, routes, instance: 'routes', calendars: [A] });
    expect(routes.asked).toEqual([[A, false]]);
    expect(summary.mailboxes[0]).toMatchObject({ status: 'failed', target: 'one', error: { code: 'ErrorAccessDenied' } });
  });
});
