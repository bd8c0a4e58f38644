// Delegated access end to end, over HTTP (the browser test walks the same in Chromium): a person connects their own
// calendar on calpush serve's consent page at the sandbox's Entra ID, events pushed through the API are written with
// their token; another person cannot connect it, nor the same person a second address of theirs; a refresh stores
// the new refresh token; a revoked consent marks the calendar disconnected and pauses it (nothing deleted) with a
// reconnect link; an admin and the person disconnect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CalpushClient } from 'calpush/client';
import { parseServerConfig } from '../../src/app/settings.ts';
import { defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { studentAddress } from '../../src/sandbox/tenant.ts';
import { createApiKey } from '../../src/server/auth.ts';
import { startServer, type RunningServer } from '../../src/server/index.ts';
import type { SqliteStore } from '../../src/store/sqlite.ts';
import { beforeTheLectures, lecture, tagged } from './harness.ts';
import { createDelegatedWorkspace, signInAtSandbox } from './delegated-harness.ts';

let sandbox: SandboxInternals;
let running: RunningServer;
let client: CalpushClient;
let adminKey: string;
const alice = studentAddress(1);
const bob = studentAddress(2);
const carol = studentAddress(3);

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: defaultTenantSeed({ students: 4, staff: 1, rooms: 1 }) });
  const ws = createDelegatedWorkspace(sandbox);
  running = await startServer({ config: ws.config, server: parseServerConfig({ port: 0, deliveryPollMs: 100 }), feeds: undefined, baseDir: ws.dir, retryMinMs: 200, clock: beforeTheLectures() });
  const clock = beforeTheLectures();
  client = new CalpushClient({ baseUrl: running.url, apiKey: (await createApiKey(running.store, { scope: 'write', clock })).key });
  adminKey = (await createApiKey(running.store, { scope: 'admin', clock })).key;
}, 60_000);
afterAll(async () => {
  await running?.close();
  await sandbox?.close();
});

const store = () => running.store as SqliteStore;

async function until(condition: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`not in time: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A person's browser on the consent page: starts the sign-in, signs in at the sandbox, comes back. */
async function connectAs(user: string, form: Record<string, string> = {}, path = '/connect'): Promise<{ status: number; text: string }> {
  const started = await fetch(`${running.url}${path}`, { method: 'POST', body: new URLSearchParams(form), redirect: 'manual' });
  expect(started.status).toBe(303);
  const binding = started.headers.get('set-cookie')!.split(';')[0]!;
  expect(started.headers.get('set-cookie')).toMatch(/HttpOnly/i);
  const authorize = started.headers.get('location')!;
  expect(new URL(authorize).searchParams.get('code_challenge_method')).toBe('S256');
  const { location } = await signInAtSandbox(sandbox, authorize, user);
  const back = await fetch(location, { headers: { cookie: binding }, redirect: 'manual' });
  return { status: back.status, text: await back.text() };
}

const api = (path: string, init: RequestInit = {}, key = adminKey) => fetch(`${running.url}${path}`, { ...init, headers: { authorization: `Bearer ${key}`, ...(init.headers ?? {}) } });

describe('delegated access through calpush serve', () => {
  it('the consent page says what calpush will do, before anyone signs in', async () => {
    const page = await (await fetch(`${running.url}/connect?mailbox=${encodeURIComponent(alice)}`)).text();
    expect(page).toContain('What calpush will do');
    expect(page).toContain('only the events it created');
    expect(page).toContain('Have full access to your calendars');
    expect(page).toContain(`value="${alice}"`);
    expect(page).not.toMatch(/<script/i);
  });

  it('a person connects their own calendar; events pushed for it are written with their token', async () => {
    const { status, text } = await connectAs(alice);
    expect(status, text).toBe(200);
    expect(text).toContain('Your calendar is connected');
    expect(await store().connection(alice)).toMatchObject({ state: 'connected', username: alice });
    await client.replaceEvents(alice, [lecture(alice, 1), lecture(alice, 2)]);
    await until(async () => tagged(sandbox, alice).length === 2, 'two events in alice’s calendar');
    const status2 = await (await api(`/v1/connections/${encodeURIComponent(alice)}`)).json();
    expect(status2).toMatchObject({ calendar: alice, state: 'connected', username: alice });
    expect(JSON.stringify(status2)).not.toMatch(/sbrt\.|eyJ/);
  });

  it('another person cannot connect it: only their own addresses', async () => {
    const { status, text } = await connectAs(bob, { mailbox: alice });
    expect(status).toBe(403);
    expect(text).toContain('is not one of your addresses');
    expect(await store().connection(alice)).toMatchObject({ userObjectId: expect.any(String), username: alice });
  });

  it('a calendar named by the person’s alias is theirs too, written at /me', async () => {
    const alias = sandbox.listMailboxes().find((m) => m.address === carol)!.aliases![0]!;
    const { status, text } = await connectAs(carol, { mailbox: alias });
    expect(status, text).toBe(200);
    await client.replaceEvents(alias, [lecture(alias, 1)]);
    await until(async () => tagged(sandbox, carol).length === 1, 'the alias’s event in carol’s mailbox');
  });

  it('the same person cannot connect a second address of theirs: it is the same mailbox, and each would delete the other’s events', async () => {
    const alias = sandbox.listMailboxes().find((m) => m.address === carol)!.aliases![0]!;
    // The sources name her both ways: events for her UPN too.
    await client.replaceEvents(carol, [lecture(carol, 2)]);
    const { status, text } = await connectAs(carol, { mailbox: carol });
    expect(status, text).toBe(409);
    expect(text).toContain('Your calendar is already connected');
    expect(text).toContain(`already connected to calpush as ${alias}`);
    expect(text).toContain('/disconnect');
    expect(await store().connection(carol)).toBeNull();
    expect(await store().connection(alias)).toMatchObject({ state: 'connected' });
    // Without a link she reconnects the address she connected (not the first of hers calpush has events for).
    const again = await connectAs(carol);
    expect(again.status, again.text).toBe(200);
    expect(again.text).toContain(alias);
    expect(await store().connection(carol)).toBeNull();
    expect(tagged(sandbox, carol)).toHaveLength(1);
  });

  it('a calendar nobody connected waits with the link to connect it', async () => {
    await client.replaceEvents(bob, [lecture(bob, 1)]);
    await until(async () => (await store().mailbox(bob))?.state === 'failed', 'bob fails');
    const mailbox = (await store().mailbox(bob))!;
    expect(mailbox.lastErrorCode).toBe('NotConnected');
    expect(mailbox.lastErrorRemedy).toContain(`/connect?mailbox=${encodeURIComponent(bob)}`);
    expect(tagged(sandbox, bob)).toEqual([]);
  });

  it('a refresh stores the new refresh token; the old one is kept nowhere', async () => {
    const before = await store().connectionTokenCache(alice);
    sandbox.faults.expireTokens();
    await client.putEvent(alice, 'lecture-3', lecture(alice, 3));
    await until(async () => tagged(sandbox, alice).length === 3, 'the third event');
    const after = (await store().connectionTokenCache(alice))!;
    const latest = sandbox.delegated.refreshTokensIssued().at(-1)!;
    expect(after).toContain(latest);
    const old = sandbox.delegated.refreshTokensIssued().filter((t) => before!.includes(t))[0]!;
    expect(old).not.toBe(latest);
    expect(after).not.toContain(old);
    expect((await store().connection(alice))!.lastRefreshAt).not.toBeNull();
  });

  it('a revoked consent: the calendar is disconnected and paused, nothing deleted, a reconnect link given', async () => {
    sandbox.delegated.revokeConsent(alice);
    await client.putEvent(alice, 'lecture-4', lecture(alice, 4));
    await until(async () => (await store().connection(alice))?.state === 'disconnected', 'alice disconnected');
    await until(async () => (await store().mailbox(alice))?.lastErrorCode === 'DelegatedAccessLost', 'alice’s delivery fails');
    expect(await store().connection(alice)).toMatchObject({ reason: 'ConsentRevoked' });
    expect(await store().connectionTokenCache(alice)).toBeNull();
    expect(tagged(sandbox, alice)).toHaveLength(3);
    expect((await store().desiredFor(alice)).length).toBe(4);
    const status = await (await api(`/v1/connections/${encodeURIComponent(alice)}`)).json();
    expect(status).toMatchObject({ state: 'disconnected', reason: 'ConsentRevoked', connectUrl: `/connect?mailbox=${encodeURIComponent(alice)}` });
    // She connects again: the waiting event is delivered.
    const again = await connectAs(alice, { mailbox: alice });
    expect(again.status, again.text).toBe(200);
    await until(async () => tagged(sandbox, alice).length === 4, 'the fourth event after reconnecting');
  });

  it('an admin disconnects a calendar (API); a read key may not', async () => {
    // carol connected the calendar her timetable names: her alias.
    const alias = encodeURIComponent(sandbox.listMailboxes().find((m) => m.address === carol)!.aliases![0]!);
    const write = await createApiKey(running.store, { scope: 'write', clock: beforeTheLectures() });
    expect((await api(`/v1/connections/${alias}`, { method: 'DELETE' }, write.key)).status).toBe(403);
    const answer = await api(`/v1/connections/${alias}`, { method: 'DELETE' });
    expect(answer.status).toBe(200);
    expect(await answer.json()).toMatchObject({ state: 'disconnected', reason: 'DisconnectedByAdmin' });
    expect((await api(`/v1/connections/${alias}`, { method: 'DELETE' })).status).toBe(404);
    expect(((await (await api('/v1/connections')).json()) as { connections: Array<{ calendar: string }> }).connections.map((c: { calendar: string }) => c.calendar).sort()).toEqual([alice, decodeURIComponent(alias)].sort());
  });

  it('the person disconnects on the disconnect page', async () => {
    const { status, text } = await connectAs(alice, {}, '/disconnect');
    expect(status, text).toBe(200);
    expect(text).toContain('Your calendar is disconnected');
    expect(await store().connection(alice)).toMatchObject({ state: 'disconnected', reason: 'DisconnectedByPerson' });
  });

  it('a callback that does not belong to this browser changes nothing', async () => {
    const started = await fetch(`${running.url}/connect`, { method: 'POST', body: new URLSearchParams({}), redirect: 'manual' });
    const { location } = await signInAtSandbox(sandbox, started.headers.get('location')!, bob);
    const stranger = await fetch(location, { headers: { cookie: 'calpush_consent=someone-else' } });
    expect(stranger.status).toBe(400);
    expect(await stranger.text()).toContain('This sign-in has expired');
    expect(await store().connection(bob)).toBeNull();
  });
});
