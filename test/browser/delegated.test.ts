// Delegated access in a real browser: Debian's Chromium (playwright-core) against `calpush serve` (the real command)
// and the sandbox's Entra ID. A person opens /connect, signs in at the sandbox, consents, and is back on calpush's
// "connected" page; an event pushed for them is delivered to their calendar. Then the sandbox revokes the consent: the
// calendar is disconnected (status API), an alert arrives at the test's webhook receiver. Throughout, neither the
// store (its raw bytes and sqlite3's .dump) nor serve's debug log holds a refresh token, the feed's token, the
// webhook secret or the person's password.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CalpushClient } from 'calpush/client';
import { studentAddress } from '../../src/sandbox/tenant.ts';
import { lecture, tagged } from '../e2e/harness.ts';
import { requireTool } from '../support/tools.ts';
import { launchChromium } from './chromium.ts';
import { startDelegatedWorld, type DelegatedWorld } from './delegated-harness.ts';

let world: DelegatedWorld;
let browser: Browser;
const alice = studentAddress(1);

beforeAll(async () => {
  world = await startDelegatedWorld();
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await world?.close();
});

async function until<T>(probe: () => Promise<T>, ok: (value: T) => boolean, what: string, timeoutMs = 30_000): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (ok(value)) return value;
    if (performance.now() > deadline) throw new Error(`not in time: ${what} (last: ${JSON.stringify(value)})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const connection = async (calendar: string) =>
  (await (await fetch(`${world.url}/v1/connections/${encodeURIComponent(calendar)}`, { headers: { authorization: `Bearer ${world.writeKey}` } })).json()) as { state: string; reason: string | null; connectUrl: string };

describe('delegated access in Chromium', () => {
  let page: Page;

  it('a person connects their calendar: /connect, sign-in and consent at Microsoft, back to “connected”', async () => {
    // The sandbox's certificate is its own: this browser profile trusts it, as a test CA would be trusted.
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    page = await context.newPage();
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(error.message));
    await page.goto(`${world.url}/connect`);
    expect(await page.locator('h1').textContent()).toBe('Connect your calendar');
    expect(await page.getByRole('heading', { name: 'What calpush will do' }).isVisible()).toBe(true);
    // By keyboard: the one button is reached with Tab and pressed with Enter.
    await page.keyboard.press('Tab');
    await page.keyboard.press('Tab');
    await page.getByRole('button', { name: 'Sign in with Microsoft and connect' }).focus();
    await page.keyboard.press('Enter');
    await page.waitForURL((url) => url.origin === new URL(world.sandbox.url).origin);
    await page.getByLabel('Email address').fill(alice);
    await page.getByLabel('Password').fill(world.sandbox.delegated.userPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    expect(await page.locator('h1').textContent()).toBe('Permissions requested');
    await page.getByRole('button', { name: 'Accept' }).click();
    await page.waitForURL((url) => url.pathname === '/connect/callback');
    expect(await page.locator('h1').textContent()).toBe('Your calendar is connected');
    expect(await page.locator('[data-field="calendar"]').textContent()).toBe(alice);
    expect(problems).toEqual([]);
    expect(await connection(alice)).toMatchObject({ state: 'connected' });
  });

  it('an event pushed for the person is delivered to their calendar', async () => {
    const client = new CalpushClient({ baseUrl: world.url, apiKey: world.writeKey });
    await client.replaceEvents(alice, [lecture(alice, 1)]);
    await until(async () => tagged(world.sandbox, alice).length, (n) => n === 1, 'the event in alice’s calendar');
  });

  it('the consent is revoked at Microsoft: the calendar is disconnected and an alert arrives', async () => {
    world.sandbox.delegated.revokeConsent(alice);
    const client = new CalpushClient({ baseUrl: world.url, apiKey: world.writeKey });
    await client.putEvent(alice, 'lecture-2', lecture(alice, 2));
    const status = await until(() => connection(alice), (s) => s.state === 'disconnected', 'alice disconnected');
    expect(status).toMatchObject({ reason: 'ConsentRevoked', connectUrl: `/connect?mailbox=${encodeURIComponent(alice)}` });
    const alert = await until(async () => world.hook.received.find((r) => r.body.kind === 'consent-revoked'), (r) => r !== undefined, 'the alert');
    expect(alert!.signatureValid).toBe(true);
    expect(alert!.body).toMatchObject({ event: 'firing', subject: alice });
    // Nothing was deleted: the first event is still in the calendar.
    expect(tagged(world.sandbox, alice)).toHaveLength(1);
    // The person opens the reconnect link: the page names their calendar.
    await page.goto(`${world.url}${status.connectUrl}`);
    expect(await page.locator('form input[name="mailbox"]').getAttribute('value')).toBe(alice);
  });

  it('no refresh token, feed token, webhook secret or password in the store (bytes, .dump) or the debug log', async () => {
    // The feed was polled (its URL, token and all, was used), and serve logged at debug level.
    const feedCalendar = async () => (await (await fetch(`${world.url}/v1/calendars/t0001%40contoso.edu`, { headers: { authorization: `Bearer ${world.writeKey}` } })).json()) as { desired?: number };
    await until(feedCalendar, (c) => c.desired === 1, 'the feed’s event recorded');
    const secrets = [...world.sandbox.delegated.refreshTokensIssued(), world.feedToken, world.webhookSecret, world.sandbox.delegated.userPassword];
    expect(secrets.length).toBeGreaterThan(3);
    const bytes = ['', '-wal', '-shm'].map((s) => (existsSync(world.storePath + s) ? readFileSync(world.storePath + s).toString('latin1') : '')).join('');
    const dump = execFileSync(requireTool('sqlite3'), [world.storePath, '.dump'], { encoding: 'utf8' });
    const log = world.log();
    expect(log).toMatch(/"level":20/);
    expect(dump).toContain(alice);
    for (const secret of secrets) {
      expect(bytes.includes(secret), 'the store file').toBe(false);
      expect(dump.includes(secret), 'sqlite3 .dump').toBe(false);
      expect(log.includes(secret), 'the debug log').toBe(false);
    }
    // Nor the authorization code's query string.
    expect(log).not.toMatch(/[?&]code=/);
  });
});
