// calpush serve watches what it delivers: a student deletes a pushed lecture, the watcher's round finds it, the
// delivery loop restores it, and the metrics count the drift by policy and kind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventKey, validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { createWorkspace } from '../e2e/harness.ts';

const STUDENT = 's0023@contoso.edu';
let sandbox: SandboxInternals;
let running: RunningServer;

const day = (n: number) => new Date(Date.now() + n * 86_400_000).toISOString().slice(0, 10);
function lectures(): DesiredEvent[] {
  return [1, 2].map((n) => {
    const result = validateEvent({ calendar: STUDENT, id: `lecture-${n}`, subject: `Lecture ${n}`, start: `${day(n + 1)}T09:00`, end: `${day(n + 1)}T10:00`, timeZone: 'UTC' });
    if (!result.ok) throw new Error('bad event');
    return result.desired;
  });
}

beforeAll(async () => {
  sandbox = await startSandbox();
  const ws = createWorkspace(sandbox);
  // The watcher's cadence is the test's: it calls tick().
  running = await startServer({ config: ws.config, server: parseServerConfig({ port: 0, deliveryPollMs: 100 }), feeds: undefined, baseDir: ws.dir, watchMailboxes: false });
});
afterAll(async () => {
  await running?.close();
  await sandbox?.close();
});

describe('calpush serve watching', () => {
  it('restores a lecture a student deleted, and counts it in the metrics', async () => {
    await running.store.applyDesired({ calendars: [STUDENT], events: lectures(), held: [] });
    running.loop.nudge(STUDENT);
    await running.loop.idle(20_000);
    await running.watcher.tick();
    expect(running.watcher.lastRound()!.mailboxes).toMatchObject([{ calendar: STUDENT, status: 'full', drift: [] }]);

    const item = (await running.store.deliveredFor(STUDENT)).find((row) => row.key === eventKey(STUDENT, 'lecture-1'))!.itemId;
    sandbox.outlook(STUDENT).deleteEvent(item);
    await running.watcher.tick();
    expect(running.watcher.lastRound()!.toDeliver).toEqual([STUDENT]);
    await running.loop.idle(20_000);
    expect(sandbox.listEvents(STUDENT).map((e) => e.subject).sort()).toEqual(['Lecture 1', 'Lecture 2']);
    const metrics = await running.metrics.registry.metrics();
    expect(metrics).toContain('calpush_drift_total{policy="restore",kind="deleted"} 1');
  });
});
