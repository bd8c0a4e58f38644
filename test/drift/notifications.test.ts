// calpush serve with server.publicUrl subscribes to Graph change notifications of the mailboxes it delivers: a
// student's edit reaches serve as a notification and is restored by a round of that mailbox — the watcher's cadence
// is not running here (watchMailboxes: false), so nothing but the notification can have started it. serve listens on
// loopback over HTTPS with its own certificate, which the sandbox's webhook client trusts (SandboxOptions.webhooks).
import { randomBytes } from 'node:crypto';
import { request } from 'node:https';
import { createServer, type AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { eventKey, validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { generateCertificate, SERVER_ALT_NAMES } from '../../src/sandbox/tls.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import { LIFECYCLE_PATH, MailboxSubscriptions, NOTIFICATION_PATH } from '../../src/engine/notifications.ts';
import { singleRoute, type MailboxRoutes } from '../../src/engine/routes.ts';
import { TargetError } from '../../src/targets/target.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { sandboxGraphOptions } from '../support/sandbox-graph.ts';
import { Keyring } from '../../src/store/sealed.ts';
import { createWorkspace } from '../e2e/harness.ts';

const STUDENT = 's0024@contoso.edu';
const START = Date.parse('2026-09-01T08:00:00Z');
let now = START;
const clock = { now: () => now };
// Its own subject name: a certificate named like the sandbox's would be looked up as the sandbox's issuer.
const serveCert = generateCertificate({ commonName: 'calpush serve under test', altNames: SERVER_ALT_NAMES, usage: 'server' });
let sandbox: SandboxInternals;
let running: RunningServer;
let publicUrl: string;
/** The deployment's clientState: derived from the store's encryption key, as serve derives it. */
let clientState: string;

function lectures(): DesiredEvent[] {
  return [1, 2].map((n) => {
    const result = validateEvent({ calendar: STUDENT, id: `lecture-${n}`, subject: `Lecture ${n}`, start: `2026-09-0${n + 2}T09:00`, end: `2026-09-0${n + 2}T10:00`, timeZone: 'UTC' });
    if (!result.ok) throw new Error('bad event');
    return result.desired;
  });
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** A POST to serve as Graph would send it (trusting serve's certificate). */
function post(path: string, body: string, contentType = 'application/json'): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${publicUrl}${path}`, { method: 'POST', ca: serveCert.certPem, headers: { 'content-type': contentType } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

const ours = () => sandbox.subscriptions.list().filter((s) => s.mailbox === STUDENT);

beforeAll(async () => {
  sandbox = await startSandbox({ clock, webhooks: { ca: [serveCert.certPem] } });
  const ws = createWorkspace(sandbox, 'secret', { store: { sqlite: 'state/calpush.sqlite', encryptionKeys: [{ id: 'k1', key: { file: 'store.key' } }] } });
  const key = randomBytes(32);
  writeFileSync(join(ws.dir, 'store.key'), key.toString('base64'), { mode: 0o600 });
  clientState = new Keyring([{ id: 'k1', key }]).derive('graph clientState test');
  writeFileSync(join(ws.dir, 'serve-cert.pem'), serveCert.certPem);
  writeFileSync(join(ws.dir, 'serve-key.pem'), serveCert.keyPem, { mode: 0o600 });
  const port = await freePort();
  publicUrl = `https://localhost:${port}`;
  const server = parseServerConfig({ host: '127.0.0.1', port, publicUrl, deliveryPollMs: 100, tls: { certificate: { file: 'serve-cert.pem' }, privateKey: { file: 'serve-key.pem' } } });
  running = await startServer({ config: ws.config, server, feeds: undefined, baseDir: ws.dir, watchMailboxes: false, clock });
  await running.store.applyDesired({ calendars: [STUDENT], events: lectures(), held: [] });
  running.loop.nudge(STUDENT);
  await running.loop.idle(20_000);
  // The first round: subscribes (Graph's validation reaches serve's endpoint) and reads the mailbox in full.
  await running.watcher.tick();
});
afterAll(async () => {
  await running?.close();
  await sandbox?.close();
});

describe('calpush serve with Graph change notifications', () => {
  it('subscribes the delivered mailbox with a clientState of its own, through the validation handshake', () => {
    expect(running.subscriptions!.subscribed()).toEqual([STUDENT]);
    const [subscription] = ours();
    expect(ours()).toHaveLength(1);
    expect(subscription).toMatchObject({ notificationUrl: `${publicUrl}${NOTIFICATION_PATH}`, lifecycleNotificationUrl: `${publicUrl}${LIFECYCLE_PATH}`, changeType: 'created,updated,deleted' });
    expect(sandbox.subscriptions.stats().validationFailures).toBe(0);
  });

  it('a student’s edit → a notification → a round of that mailbox → restored, without the poll', async () => {
    const rounds = running.watcher.rounds;
    const item = (await running.store.deliveredFor(STUDENT)).find((row) => row.key === eventKey(STUDENT, 'lecture-1'))!.itemId;
    sandbox.outlook(STUDENT).updateEvent(item, { subject: 'Lecture 1 (my notes)' });
    await sandbox.subscriptions.flush();
    expect(sandbox.subscriptions.stats().notificationsSent).toBeGreaterThan(0);
    await running.watcher.idle();
    await running.loop.idle(20_000);
    await vi.waitFor(() => expect(sandbox.listEvents(STUDENT).map((e) => e.subject).sort()).toEqual(['Lecture 1', 'Lecture 2']), { timeout: 20_000 });
    expect(running.watcher.rounds).toBeGreaterThan(rounds);
    expect(running.watcher.lastRound()!.mailboxes.map((m) => m.calendar)).toEqual([STUDENT]);
  });

  it('answers the validation token as text/plain; a notification with another clientState is accepted (202) and ignored', async () => {
    const query = new URLSearchParams({ validationToken: 'Validation: a token <b>' });
    const token = await post(`${NOTIFICATION_PATH}?${query}`, '', 'text/plain; charset=utf-8');
    expect(token).toMatchObject({ status: 200, body: 'Validation: a token <b>' });
    expect(token.type).toMatch(/^text\/plain/);
    const [subscription] = ours();
    const notification = (clientState: string) => JSON.stringify({ value: [{ subscriptionId: subscription!.id, clientState, changeType: 'updated', resource: 'Users/x/Events/y' }] });
    const rounds = running.watcher.rounds;
    expect((await post(NOTIFICATION_PATH, notification('not-the-secret'))).status).toBe(202);
    await running.watcher.idle();
    expect(running.watcher.rounds).toBe(rounds);
    expect((await post(NOTIFICATION_PATH, notification(clientState))).status).toBe(202);
    await running.watcher.idle();
    expect(running.watcher.rounds).toBe(rounds + 1);
    // Bounded: a body over 1 MiB is refused before it is read in full.
    expect((await post(NOTIFICATION_PATH, JSON.stringify({ value: [], pad: 'x'.repeat(1_100_000) }))).status).toBe(413);
  });

  it('lifecycle: missed → a full round of the mailbox; subscriptionRemoved → subscribed again', async () => {
    const [first] = ours();
    sandbox.subscriptions.lifecycle(first!.id, 'missed');
    await sandbox.subscriptions.flush();
    await running.watcher.idle();
    expect(running.watcher.lastRound()!.mailboxes).toMatchObject([{ calendar: STUDENT, status: 'full' }]);

    sandbox.subscriptions.lifecycle(first!.id, 'subscriptionRemoved');
    await sandbox.subscriptions.flush();
    await vi.waitFor(() => expect(ours().map((s) => s.id)).toEqual([expect.not.stringMatching(first!.id)]), { timeout: 20_000 });
    expect(running.subscriptions!.subscribed()).toEqual([STUDENT]);
  });

  it('renews before the expiration on the watcher’s cadence (an injected clock), keeping the subscription', async () => {
    const [before] = ours();
    now += 30 * 3_600_000;
    await running.watcher.tick();
    expect(ours()[0]!.expirationDateTime).toBe(before!.expirationDateTime);
    now += 20 * 3_600_000; // 50 hours in: less than a day left of the 72
    await running.watcher.tick();
    const [after] = ours();
    expect(after!.id).toBe(before!.id);
    expect(Date.parse(after!.expirationDateTime)).toBe(now + 72 * 3_600_000);
  });
});

describe('subscriptions in the store, the status and /metrics', () => {
  it('records the subscription per mailbox; /metrics counts subscriptions per state and notifications received and rejected per target', async () => {
    const [held] = ours();
    expect(await running.store.subscriptionRows()).toMatchObject([{ calendar: STUDENT, target: 'default', subscriptionId: held!.id, expiresAt: held!.expirationDateTime }]);
    const counts = await running.store.notificationCounts();
    const before = counts.find((c) => c.target === 'default') ?? { received: 0, rejected: 0 };
    const body = (state: string) => JSON.stringify({ value: [{ subscriptionId: held!.id, clientState: state, changeType: 'updated', resource: 'Users/x/Events/y' }] });
    await post(NOTIFICATION_PATH, body(clientState));
    await post(NOTIFICATION_PATH, body('not-the-secret'));
    await running.watcher.idle();
    await vi.waitFor(async () => expect((await running.store.notificationCounts()).find((c) => c.target === 'default')).toEqual({ target: 'default', received: before.received + 1, rejected: before.rejected + 1 }));
    const metrics = (await running.app.inject({ method: 'GET', url: '/metrics' })).body;
    expect(metrics).toContain('calpush_graph_subscriptions{target="default",state="active"} 1');
    expect(metrics).toContain('calpush_graph_subscriptions{target="default",state="failed"} 0');
    expect(metrics).toContain(`calpush_graph_notifications_total{target="default",outcome="received"} ${before.received + 1}`);
    expect(metrics).toContain(`calpush_graph_notifications_total{target="default",outcome="rejected"} ${before.rejected + 1}`);
    expect(metrics).not.toContain(clientState);
  });
});

describe('a mailbox calpush no longer watches there (DELETE /subscriptions/{id})', () => {
  it('left out of the upkeep (no longer delivered): deleted and forgotten; one Graph no longer has (404) counts as deleted', async () => {
    expect(ours()).toHaveLength(1);
    await running.subscriptions!.upkeep([]);
    expect(ours()).toEqual([]);
    expect(running.subscriptions!.subscribed()).toEqual([]);
    await running.subscriptions!.upkeep([STUDENT]);
    const [again] = ours();
    expect(again).toBeDefined();
    // Gone behind calpush's back: the DELETE's 404 is what deleting wanted.
    const graph = new GraphTarget(sandboxGraphOptions(sandbox, 'delete-test'));
    await graph.subscriptions!.remove(STUDENT, again!.id);
    expect(ours()).toEqual([]);
    await running.subscriptions!.upkeep([]);
    expect(running.subscriptions!.subscribed()).toEqual([]);
    await running.subscriptions!.upkeep([STUDENT]);
    expect(ours()).toHaveLength(1);
    await graph.close();
  });

  it('routed to another target, or no longer routed: deleted on the target it was made on; serve that stops watching deletes its own', async () => {
    const target = new GraphTarget(sandboxGraphOptions(sandbox, 'moved-test'));
    const scheduler = new Scheduler({ clock, globalConcurrency: 4, mailboxConcurrency: 4, maxAttempts: 3, baseBackoffMs: 10, maxBackoffMs: 100 });
    const graph = { name: 'online', target, scheduler, reason: 'test', lookedUp: false };
    // An EWS target cannot subscribe: the route moved on-premises.
    const onprem = { ...graph, name: 'onprem', target: { ...target, kind: 'ews', subscriptions: undefined } as unknown as GraphTarget };
    let current: typeof graph | null = graph;
    const routes = {
      route: async () => current ?? Promise.reject(new TargetError('mailbox', 'NoRoute', 'no rule matches')),
      schedulers: () => [scheduler],
      through: () => routes,
    } as unknown as MailboxRoutes;
    const subscriber = () => new MailboxSubscriptions({ routes, publicUrl, clientState, watchSoon: () => {}, clock });
    const moving = subscriber();
    await moving.upkeep([STUDENT]); // adopts serve's
    expect(moving.subscribed()).toEqual([STUDENT]);
    current = onprem;
    await moving.upkeep([STUDENT]);
    expect(ours()).toEqual([]);
    expect(moving.subscribed()).toEqual([]);
    current = graph;
    await moving.upkeep([STUDENT]);
    expect(ours()).toHaveLength(1);
    current = null;
    await moving.upkeep([STUDENT]);
    expect(ours()).toEqual([]);
    expect(moving.subscribed()).toEqual([]);
    // A serve without watching: what an earlier serve subscribed is read and deleted.
    current = graph;
    await moving.upkeep([STUDENT]);
    expect(ours()).toHaveLength(1);
    await subscriber().retireAll([STUDENT]);
    expect(ours()).toEqual([]);
    await target.close();
  });
});

describe('a rotated store key', () => {
  it('accepts notifications signed under any listed key, and makes the subscription again under the current key', async () => {
    const target = new GraphTarget(sandboxGraphOptions(sandbox, 'rekey-test'));
    const scheduler = new Scheduler({ clock, globalConcurrency: 4, mailboxConcurrency: 4, maxAttempts: 3, baseBackoffMs: 10, maxBackoffMs: 100 });
    const routes = singleRoute(target, scheduler);
    // Before the rotation: subscribed under the old key's clientState.
    const before = new MailboxSubscriptions({ routes, publicUrl, clientState, watchSoon: () => {}, clock });
    await before.upkeep([STUDENT]);
    const [old] = ours();
    expect(old).toBeDefined();
    // After: a new current key, the old one still listed.
    const rotated = new Keyring([{ id: 'k2', key: randomBytes(32) }, { id: 'k1', key: randomBytes(32) }]).deriveAll('graph clientState test');
    expect(rotated).toHaveLength(2);
    const after = new MailboxSubscriptions({ routes, publicUrl, clientState: rotated[0]!, earlierClientStates: [clientState], watchSoon: () => {}, clock });
    expect(after.acceptsClientState(clientState)).toBe(true);
    expect(after.acceptsClientState(rotated[0])).toBe(true);
    expect(after.acceptsClientState('not-the-secret')).toBe(false);
    await after.upkeep([STUDENT]);
    const [renewed] = ours();
    expect(ours()).toHaveLength(1);
    expect(renewed!.id).not.toBe(old!.id);
    expect(after.subscribed()).toEqual([STUDENT]);
    // Kept at the next upkeep: it is under the current key now.
    await after.upkeep([STUDENT]);
    expect(ours().map((s) => s.id)).toEqual([renewed!.id]);
    await after.retireAll([STUDENT]);
    await target.close();
  });
});

describe('a subscription Graph refuses', () => {
  it('leaves the mailbox on polling, with one warning that says what to fix', async () => {
    const target = new GraphTarget(sandboxGraphOptions(sandbox, 'refused-test'));
    const scheduler = new Scheduler({ clock, globalConcurrency: 4, mailboxConcurrency: 4, maxAttempts: 3, baseBackoffMs: 10, maxBackoffMs: 100 });
    const warnings: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const log = { debug: () => {}, info: () => {}, error: () => {}, warn: (fields: Record<string, unknown>, message: string) => warnings.push({ fields, message }) };
    // Nothing listens there: Graph's validation request fails, and Graph answers 400.
    const nowhere = `https://localhost:${await freePort()}`;
    const saved: Array<[string, unknown]> = [];
    const store = { saveSubscription: async (calendar: string, row: unknown) => void saved.push([calendar, row]), countNotifications: async () => {} };
    const subscriber = new MailboxSubscriptions({ routes: singleRoute(target, scheduler), publicUrl: nowhere, clientState: 'a-secret-state', watchSoon: () => {}, clock, log, store });
    const before = sandbox.subscriptions.stats().validationFailures;
    await subscriber.upkeep([STUDENT]);
    await subscriber.upkeep([STUDENT]);
    expect(subscriber.subscribed()).toEqual([]);
    expect(sandbox.subscriptions.stats().validationFailures).toBe(before + 1);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/polling only/);
    expect(String(warnings[0]!.fields['remedy'])).toContain(`${nowhere}${NOTIFICATION_PATH} reachable from Microsoft Graph over HTTPS`);
    expect(JSON.stringify(warnings)).not.toContain('a-secret-state');
    // The status sees it failed, with the reason, and never the clientState.
    expect(saved.at(-1)).toEqual([STUDENT, { target: 'default', subscriptionId: null, expiresAt: null, lastError: expect.stringContaining(':'), lastErrorAt: new Date(now).toISOString() }]);
    expect(JSON.stringify(saved)).not.toContain('a-secret-state');
    await target.close();
  });
});
