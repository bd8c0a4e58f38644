// The dashboard in a real browser: Debian's Chromium driven by playwright-core, against `calpush serve` over the
// sandbox. An operator signs in, finds the mailbox that answers 403 and reads its fix, gives a student's mailbox
// its access back and presses "deliver now" — the counts change on the page without a reload — and revokes a
// key. And the guards: no page without a session, a form without its CSRF token is refused, a helpdesk key
// cannot act, and everything works without JavaScript too.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { beforeTheLectures, lecture } from '../e2e/harness.ts';
import { launchChromium } from './chromium.ts';
import { startDashboardWorld, type DashboardWorld } from './harness.ts';

let world: DashboardWorld;
let browser: Browser;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  world = await startDashboardWorld({ clock: beforeTheLectures(), event: lecture });
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => undefined);
  await browser?.close();
  await world?.close();
});

/** A fresh browser profile's tab on the dashboard; every console error and failed request is kept. */
async function newPage(options: { javaScriptEnabled?: boolean } = {}): Promise<{ page: Page; problems: string[] }> {
  const context = await browser.newContext({ baseURL: world.running.url, javaScriptEnabled: options.javaScriptEnabled ?? true });
  contexts.push(context);
  const page = await context.newPage();
  const problems: string[] = [];
  page.on('console', (message) => {
    if (message.type() === 'error') problems.push(message.text());
  });
  page.on('pageerror', (error) => problems.push(error.message));
  page.on('requestfailed', (request) => {
    // A live stream cut when the page navigates away is not a problem.
    if (!request.url().includes('/live?')) problems.push(`${request.url()} ${request.failure()?.errorText}`);
  });
  return { page, problems };
}

async function signInWith(page: Page, key: string): Promise<void> {
  await page.goto('/');
  expect(new URL(page.url()).pathname).toBe('/sign-in');
  // By keyboard: the field is found by its label, the form sent with Enter.
  await page.getByLabel('API key with the admin or helpdesk scope').focus();
  await page.keyboard.type(key);
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.pathname === '/');
}

const field = (page: Page, name: string) => page.locator(`[data-field="${name}"]`);

describe('the dashboard in Chromium', () => {
  it('signs in with an admin key and shows the overview with live numbers', async () => {
    const { page, problems } = await newPage();
    await signInWith(page, world.keys.admin);
    await expect.poll(() => page.locator('#live-status').textContent()).toMatch(/^Live/);
    expect(await field(page, 'mailboxes.failed').textContent()).toBe('2');
    expect(await page.locator('[data-list="failures"]').textContent()).toContain('ErrorAccessDenied');
    const cookies = await page.context().cookies();
    const session = cookies.find((c) => c.name === 'calpush_session')!;
    expect(session).toMatchObject({ httpOnly: true, sameSite: 'Strict' });
    expect(JSON.stringify(cookies)).not.toContain(world.keys.admin.slice(17));
    // Browser-side expressions are strings here: the project's TypeScript has no DOM types.
    expect(await page.evaluate<string>('JSON.stringify({ ...localStorage, ...sessionStorage }) + document.cookie')).not.toContain('cpk_');
    expect(problems).toEqual([]);
  });

  it('finds the mailbox that answers 403 and shows its code and fix', async () => {
    const { page, problems } = await newPage();
    await signInWith(page, world.keys.helpdesk);
    await page.getByRole('link', { name: 'Mailboxes' }).click();
    await page.getByLabel('Mailbox address (or part of it)').fill('outofscope');
    await page.getByRole('button', { name: 'Search' }).click();
    await page.getByRole('link', { name: world.outOfScope }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe(world.outOfScope);
    expect(await field(page, 'error.code').textContent()).toBe('ErrorAccessDenied');
    expect(await field(page, 'error.fix').textContent()).toMatch(/RBAC for Applications management scope or the ApplicationAccessPolicy group/);
    expect(await field(page, 'state').textContent()).toBe('failed');
    expect(await page.getByText('No drift recorded.').count()).toBe(1);
    // A helpdesk key sees it but has no button to act with.
    expect(await page.getByRole('button', { name: 'Deliver now' }).count()).toBe(0);
    expect(problems).toEqual([]);
  });

  it('"deliver now" after the access is given back: the counts change on the page, without a reload', async () => {
    const { page, problems } = await newPage();
    await signInWith(page, world.keys.admin);
    await page.goto(`/mailboxes/${encodeURIComponent(world.recovering)}`);
    await expect.poll(() => page.locator('#live-status').textContent()).toMatch(/^Live/);
    expect(await field(page, 'delivered').textContent()).toBe('0');
    expect(await field(page, 'state').textContent()).toBe('failed');
    world.restore(); // the administrator fixed the access; the mailbox's back-off has ten minutes to go
    await new Promise((r) => setTimeout(r, 500));
    expect(await field(page, 'delivered').textContent()).toBe('0');
    await page.evaluate('window.notReloaded = true');
    await page.getByRole('button', { name: 'Deliver now' }).click();
    await expect.poll(() => page.locator('#notice').textContent()).toMatch(/^Delivery requested/);
    await expect.poll(() => field(page, 'delivered').textContent(), { timeout: 20_000 }).toBe(String(world.eventsPerMailbox));
    await expect.poll(() => field(page, 'state').textContent()).toBe('ok');
    expect(await page.locator('[data-list="events"] .badge-ok').count()).toBe(world.eventsPerMailbox);
    expect(await page.evaluate<boolean>('window.notReloaded === true')).toBe(true);
    expect(world.sandbox.listEvents(world.recovering).filter((e) => JSON.stringify(e).includes(';dashboard;'))).toHaveLength(world.eventsPerMailbox);
    expect(problems).toEqual([]);
  });

  it('revokes a key: the page shows it revoked and the push API refuses it', async () => {
    const { page, problems } = await newPage();
    await signInWith(page, world.keys.admin);
    await page.getByRole('link', { name: 'API keys' }).click();
    expect((await world.client.listCalendars()).calendars.length).toBeGreaterThan(0);
    await page.getByRole('button', { name: `Revoke key ${world.keys.writeId}` }).click();
    await expect.poll(() => page.locator('#notice').textContent()).toMatch(/^The key was revoked/);
    const row = page.locator('tr', { has: page.locator(`code:text-is("${world.keys.writeId}")`) });
    expect(await row.locator('.badge').textContent()).toBe('revoked');
    await expect(world.client.listCalendars()).rejects.toThrow(/401|revoked/);
    expect(problems).toEqual([]);
  });

  it('shows no page without a session: every address leads to the sign-in page', async () => {
    const { page } = await newPage();
    for (const path of ['/', '/mailboxes', `/mailboxes/${encodeURIComponent(world.outOfScope)}`, '/feeds', '/keys', '/api-docs']) {
      await page.goto(path);
      expect(new URL(page.url()).pathname, path).toBe('/sign-in');
      expect(await page.locator('main').innerText()).not.toMatch(/outofscope|ErrorAccessDenied|@contoso/);
    }
    const live = await page.request.get('/live?view=overview');
    expect(live.status()).toBe(401);
    expect(await live.text()).not.toMatch(/mailbox|@/);
  });

  it('refuses a form whose CSRF token is missing or forged', async () => {
    const { page } = await newPage();
    await signInWith(page, world.keys.admin);
    await page.goto(`/mailboxes/${encodeURIComponent(world.outOfScope)}`);
    const forged = await page.request.post(`/mailboxes/${encodeURIComponent(world.outOfScope)}/deliver`, { form: { _csrf: 'forged' } });
    expect(forged.status()).toBe(403);
    const none = await page.request.post(`/mailboxes/${encodeURIComponent(world.outOfScope)}/deliver`, { form: {} });
    expect(none.status()).toBe(403);
    // The page's own form with its token changed in the DOM: refused, and the page says so.
    await page.evaluate(`document.querySelector('form[action$="/deliver"] input[name="_csrf"]').value = 'forged'`);
    await page.getByRole('button', { name: 'Deliver now' }).click();
    await expect.poll(() => page.locator('#notice').textContent()).toMatch(/did not work \(HTTP 403\)/);
  });

  it('lets a helpdesk key look but not act, even with a valid token', async () => {
    const { page } = await newPage();
    await signInWith(page, world.keys.helpdesk);
    await page.goto('/keys');
    expect(await page.getByRole('button', { name: /Revoke/ }).count()).toBe(0);
    expect(await page.getByRole('button', { name: 'Make the key' }).count()).toBe(0);
    const token = await page.locator('input[name="_csrf"]').first().inputValue();
    const mailbox = world.delivered[1]!;
    const act = await page.request.post(`/mailboxes/${encodeURIComponent(mailbox)}/reinventory`, { form: { _csrf: token } });
    expect(act.status()).toBe(403);
    const make = await page.request.post('/keys', { form: { _csrf: token, scope: 'admin' } });
    expect(make.status()).toBe(403);
    expect((await world.running.store.mailbox(mailbox))!.inventoriedAt).not.toBeNull();
    expect((await world.running.store.apiKeys()).length).toBe(3);
  });

  it('works without JavaScript: sign in, read a mailbox, act with a plain form', async () => {
    const { page } = await newPage({ javaScriptEnabled: false });
    await signInWith(page, world.keys.admin);
    expect(await page.locator('#live-status').textContent()).toMatch(/live updates need JavaScript/);
    await page.goto(`/mailboxes/${encodeURIComponent(world.delivered[0]!)}`);
    expect(await field(page, 'delivered').textContent()).toBe(String(world.eventsPerMailbox));
    await page.getByRole('button', { name: 'Re-inventory' }).click();
    await page.waitForURL((url) => url.searchParams.get('notice') === 'reinventory');
    expect(await page.locator('#notice').textContent()).toMatch(/^Re-inventory requested/);
  });

  it('renders the API contract with Swagger UI from calpush itself, with no error under its CSP', async () => {
    const { page, problems } = await newPage();
    const requests: string[] = [];
    page.on('request', (request) => requests.push(request.url()));
    await signInWith(page, world.keys.helpdesk);
    await page.getByRole('link', { name: 'API docs' }).click();
    await page.locator('.swagger-ui .opblock').first().waitFor({ timeout: 20_000 });
    expect(await page.locator('.swagger-ui').textContent()).toContain('/v1/calendars/{calendar}/events/{eventId}');
    expect(requests.filter((url) => !url.startsWith(world.running.url) && !url.startsWith('data:'))).toEqual([]);
    expect(problems).toEqual([]);
  });
});
