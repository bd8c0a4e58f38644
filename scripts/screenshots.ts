// `npm run screenshots`: the dashboard's pictures in docs/images/ (shown in the README), taken from a real run —
// the sandbox, `calpush serve` over it with a timetable pushed through the API, and Debian's Chromium driven by
// playwright-core (as the browser tests do) — and the consent pages of delegated access (a person connecting their
// calendar at the sandbox's sign-in). Run by hand after a change to the pages; not part of `npm test`.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import type { EventInput } from '../src/model/event.ts';
import { studentAddress } from '../src/sandbox/tenant.ts';
import { launchChromium } from '../test/browser/chromium.ts';
import { startDashboardWorld } from '../test/browser/harness.ts';
import { startDelegatedWorld } from '../test/browser/delegated-harness.ts';

const out = join(import.meta.dirname, '..', 'docs', 'images');
const COURSES = ['Calculus I', 'Linear Algebra', 'Organic Chemistry', 'Statistics', 'Academic Writing', 'Microeconomics', 'Data Structures', 'Cell Biology'];

/** A lecture of the coming weeks: weekdays, 9:00 to 17:00, Amsterdam time. */
function lectureFrom(start: Date) {
  return (calendar: string, n: number): EventInput => {
    const day = new Date(start.getTime() + Math.floor(n / 3) * 86_400_000);
    while (day.getUTCDay() === 0 || day.getUTCDay() === 6) day.setUTCDate(day.getUTCDate() + 1);
    const date = day.toISOString().slice(0, 10);
    const hour = 9 + (n % 3) * 3;
    return {
      calendar,
      id: `${calendar.split('@')[0]}-${n}`,
      subject: COURSES[(n + calendar.length) % COURSES.length]!,
      start: `${date}T${String(hour).padStart(2, '0')}:00`,
      end: `${date}T${String(hour + 1).padStart(2, '0')}:45`,
      timeZone: 'Europe/Amsterdam',
      location: `Room ${1 + (n % 12)}.0${n % 4}`,
    };
  };
}

/** Waits until the live field's text passes `check` (the page's CSP forbids string-evaluated waits). */
async function untilField(page: Page, name: string, check: (text: string) => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check((await page.locator(`[data-field="${name}"]`).textContent()) ?? '')) {
    if (performance.now() > deadline) throw new Error(`${name} did not change in time`);
    await page.waitForTimeout(200);
  }
}

async function shoot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(out, `dashboard-${name}.png`), fullPage: true });
  console.error(`docs/images/dashboard-${name}.png`);
}

mkdirSync(out, { recursive: true });
const nextMonday = new Date();
nextMonday.setUTCDate(nextMonday.getUTCDate() + ((8 - nextMonday.getUTCDay()) % 7 || 7));
const event = lectureFrom(nextMonday);
const world = await startDashboardWorld({ event, students: 24, eventsPerMailbox: 12, liveIntervalMs: 1_000 });
const browser = await launchChromium();
try {
  const page = await (await browser.newContext({ baseURL: world.running.url, viewport: { width: 1200, height: 900 }, deviceScaleFactor: 1 })).newPage();
  await page.goto('/sign-in');
  await shoot(page, 'sign-in');
  await page.getByLabel('API key with the admin or helpdesk scope').fill(world.keys.admin);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((url) => url.pathname === '/');

  // A new term for everyone, against a slower, stricter Microsoft 365: a drain in progress, with throttling.
  world.sandbox.setLatency({ roundTripMs: 20, perRequestMs: 60 });
  world.sandbox.setThrottling({ requestsPerWindow: 12, windowMs: 5_000 });
  for (let i = 1; i <= 24; i++) {
    const calendar = studentAddress(i);
    await world.client.replaceEvents(calendar, Array.from({ length: 30 }, (_, n) => event(calendar, n)));
  }
  await untilField(page, 'mailboxes.throttled', (text) => Number(text) > 0);
  await page.waitForTimeout(1_500);
  await shoot(page, 'overview');

  await page.getByRole('link', { name: 'Mailboxes' }).click();
  await page.getByLabel('State').selectOption('failed');
  await page.getByRole('button', { name: 'Search' }).click();
  await shoot(page, 'mailboxes');
  await page.goto(`/mailboxes/${encodeURIComponent(world.outOfScope)}`);
  await page.waitForTimeout(500);
  await shoot(page, 'mailbox-403');

  world.sandbox.setLatency({ roundTripMs: 0, perRequestMs: 0 });
  world.sandbox.setThrottling({ requestsPerWindow: 10_000, windowMs: 600_000 });
  world.restore();
  await page.goto(`/mailboxes/${encodeURIComponent(world.recovering)}`);
  await page.getByRole('button', { name: 'Deliver now' }).click();
  await untilField(page, 'state', (text) => text === 'ok');
  await page.waitForTimeout(500);
  await shoot(page, 'deliver-now');

  await page.goto('/keys');
  await shoot(page, 'keys');
  await page.goto('/api-docs');
  await page.locator('.swagger-ui .opblock').first().waitFor();
  await page.screenshot({ path: join(out, 'dashboard-api-docs.png') });
  console.error('docs/images/dashboard-api-docs.png');
} finally {
  await browser.close();
  await world.close();
}

// Delegated access: the consent page, and the page a person sees once their calendar is connected.
const delegated = await startDelegatedWorld();
const consentBrowser = await launchChromium();
try {
  const page = await (await consentBrowser.newContext({ viewport: { width: 1000, height: 900 }, deviceScaleFactor: 1, ignoreHTTPSErrors: true })).newPage();
  await page.goto(`${delegated.url}/connect`);
  await page.screenshot({ path: join(out, 'consent-connect.png'), fullPage: true });
  console.error('docs/images/consent-connect.png');
  await page.getByRole('button', { name: 'Sign in with Microsoft and connect' }).click();
  await page.getByLabel('Email address').fill(studentAddress(1));
  await page.getByLabel('Password').fill(delegated.sandbox.delegated.userPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Accept' }).click();
  await page.waitForURL((url) => url.pathname === '/connect/callback');
  await page.screenshot({ path: join(out, 'consent-connected.png'), fullPage: true });
  console.error('docs/images/consent-connected.png');
} finally {
  await consentBrowser.close();
  await delegated.close();
}
