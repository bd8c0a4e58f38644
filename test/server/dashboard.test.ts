// The dashboard over HTTP (fastify inject): nothing without a session, the session cookie and its end, CSRF on
// every POST, helpdesk read-only, sign-in failures limited with the API's, actions wired to the delivery loop,
// hostile text escaped everywhere, feed URLs never shown beyond their origin, the page's security headers.
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { validateEvent } from '../../src/model/event.ts';
import { routeTable } from '../../src/server/app.ts';
import { escapeHtml, html } from '../../src/server/dashboard/html.ts';
import { cookiesOf, dashboardFixture, FORM, postSignIn, signIn, signInForm, type DashboardFixture } from './dashboard-helpers.ts';

let f: DashboardFixture;
beforeEach(async () => {
  f = await dashboardFixture({ server: { authFailureLimit: 3 } });
});
afterEach(async () => {
  await f.close();
});

const SECRET_MAILBOX = 'secret-student@contoso.edu';

function dashboardRoutes(): Array<{ method: string; url: string }> {
  return routeTable(f.app).filter((r) => r.auth === 'session' && r.method !== 'HEAD');
}

const concrete = (url: string) => url.replace(':calendar', encodeURIComponent(SECRET_MAILBOX)).replace(':id', 'aaaaaaaaaaaa');
const PUBLIC = new Set(['/sign-in', '/favicon.ico']);

describe('access', () => {
  it('reaches nothing without a session: pages redirect to the sign-in page, the rest is 401 with no data', async () => {
    await f.store.recordMailboxFailure(SECRET_MAILBOX, 'ErrorAccessDenied', 'denied');
    const routes = dashboardRoutes().filter((r) => !PUBLIC.has(r.url) && !r.url.startsWith('/assets/'));
    expect(routes.map((r) => `${r.method} ${r.url}`).sort()).toEqual([
      'GET /',
      'GET /api-docs',
      'GET /api-docs/openapi.json',
      'GET /connections',
      'GET /feeds',
      'GET /keys',
      'GET /live',
      'GET /mailboxes',
      'GET /mailboxes/:calendar',
      'POST /connections/:calendar/disconnect',
      'POST /keys',
      'POST /keys/:id/revoke',
      'POST /mailboxes/:calendar/deliver',
      'POST /mailboxes/:calendar/reinventory',
      'POST /sign-out',
    ]);
    for (const route of routes) {
      const url = concrete(route.url);
      for (const headers of [{}, { cookie: 'calpush_session=forged' }, { authorization: `Bearer ${f.keys.admin}` }]) {
        const page = await f.app.inject({ method: route.method as 'GET', url, headers: { ...headers, accept: 'text/html' } });
        expect(page.statusCode, `${route.method} ${url}`).toBe(303);
        expect(page.headers.location).toMatch(/^\/sign-in(\?next=|$)/);
        expect(page.body).toBe('');
        const other = await f.app.inject({ method: route.method as 'GET', url, headers: { ...headers, accept: 'application/json' } });
        expect(other.statusCode, `${route.method} ${url}`).toBe(401);
        expect(other.body).not.toContain('secret-student');
        expect(other.body.length).toBeLessThan(40);
      }
    }
    expect(f.asked).toEqual([]);
    const back = await f.app.inject({ method: 'GET', url: `/mailboxes?q=${encodeURIComponent('secret')}`, headers: { accept: 'text/html' } });
    expect(back.headers.location).toBe(`/sign-in?next=${encodeURIComponent('/mailboxes?q=secret')}`);
  });

  it('opens a session for an admin or helpdesk key: HttpOnly, SameSite=Strict, expiring; never for a read or write key', async () => {
    const signedIn = await postSignIn(f.app, f.keys.admin);
    expect(signedIn.statusCode).toBe(303);
    const setCookie = [signedIn.headers['set-cookie']].flat().find((c) => c!.startsWith('calpush_session='))!;
    expect(setCookie).toMatch(/; HttpOnly/);
    expect(setCookie).toMatch(/; SameSite=Strict/);
    expect(setCookie).toMatch(/; Max-Age=28800/);
    expect(setCookie).toMatch(/; Path=\//);
    expect(setCookie).not.toMatch(/Secure/); // plain HTTP: a Secure cookie would never come back
    expect(setCookie).not.toContain(f.keys.admin.slice(17)); // the key is not the session

    expect((await postSignIn(f.app, f.keys.helpdesk)).statusCode).toBe(303);
    for (const key of [f.keys.read, f.keys.write]) {
      const refused = await postSignIn(f.app, key);
      expect(refused.statusCode).toBe(403);
      expect(refused.body).toContain('needs a key with the admin or helpdesk scope');
      expect(cookiesOf(refused).has('calpush_session')).toBe(false);
    }
  });

  it('marks the cookies Secure with the __Host- prefix when served over TLS (here: a trusted proxy says https)', async () => {
    const tls = await dashboardFixture({ server: { trustProxy: true } });
    try {
      const headers = { 'x-forwarded-proto': 'https' };
      const form = await signInForm(tls.app, headers);
      expect(form.cookie).toMatch(/^__Host-calpush_signin=/);
      const signedIn = await postSignIn(tls.app, tls.keys.admin, headers);
      const setCookie = [signedIn.headers['set-cookie']].flat().find((c) => c!.startsWith('__Host-calpush_session='))!;
      expect(setCookie).toMatch(/; Secure/);
      expect(setCookie).toMatch(/; HttpOnly/);
      const cookie = setCookie.split(';')[0]!;
      expect((await tls.app.inject({ method: 'GET', url: '/', headers: { ...headers, cookie } })).statusCode).toBe(200);
    } finally {
      await tls.close();
    }
  });

  it('refuses a sign-in whose form did not come from this site (pre-session CSRF token)', async () => {
    const form = await signInForm(f.app);
    const attempts = [
      { cookie: undefined, token: form.token },
      { cookie: form.cookie, token: undefined },
      { cookie: form.cookie, token: 'x'.repeat(43) },
      { cookie: 'calpush_signin=' + 'y'.repeat(43), token: 'y'.repeat(42) + 'z' },
    ];
    for (const attempt of attempts) {
      const response = await f.app.inject({
        method: 'POST',
        url: '/sign-in',
        headers: { 'content-type': FORM, ...(attempt.cookie ? { cookie: attempt.cookie } : {}) },
        payload: new URLSearchParams({ key: f.keys.admin, ...(attempt.token ? { _csrf: attempt.token } : {}) }).toString(),
      });
      expect(response.statusCode).toBe(403);
      expect(cookiesOf(response).has('calpush_session')).toBe(false);
    }
  });

  it('counts failed sign-ins toward the API’s failed-authentication limit of the address', async () => {
    for (let i = 0; i < 3; i++) expect((await postSignIn(f.app, 'cpk_000000000000_' + 'A'.repeat(43), {}, '10.1.2.3')).statusCode).toBe(401);
    const limited = await postSignIn(f.app, 'not a key', {}, '10.1.2.3');
    expect(limited.statusCode).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.body).toContain('Too many failed sign-ins');
    // The same counter as the push API's: a bad bearer key from that address is limited too.
    const api = await f.app.inject({ method: 'GET', url: '/v1/calendars', remoteAddress: '10.1.2.3', headers: { authorization: 'Bearer nope' } });
    expect(api.statusCode).toBe(429);
    // A valid key is never limited; another address is not.
    expect((await postSignIn(f.app, f.keys.admin, {}, '10.1.2.3')).statusCode).toBe(303);
    expect((await postSignIn(f.app, 'nope', {}, '10.9.9.9')).statusCode).toBe(401);
    const metrics = await f.app.inject({ method: 'GET', url: '/metrics' });
    expect(metrics.body).toMatch(/^calpush_api_auth_rate_limited_total 2$/m);
  });

  it('ends the session at sign-out, when its key is revoked (also by another process), and when it expires', async () => {
    const admin = await signIn(f.app, f.keys.admin);
    expect((await admin.get('/')).statusCode).toBe(200);
    const out = await admin.post('/sign-out');
    expect(out.statusCode).toBe(303);
    expect(out.headers.location).toBe('/sign-in?notice=signed-out');
    expect((await admin.get('/')).statusCode).toBe(303);

    const helpdesk = await signIn(f.app, f.keys.helpdesk);
    await f.store.revokeApiKey(f.keyIds.helpdesk); // `calpush apikey revoke` in another process
    expect((await helpdesk.get('/')).statusCode).toBe(303);

    const again = await signIn(f.app, f.keys.admin);
    f.clock.advance(29 * 60_000);
    expect((await again.get('/')).statusCode).toBe(200); // used within the idle time: still open
    f.clock.advance(30 * 60_000);
    expect((await again.get('/')).statusCode).toBe(303); // idle for 30 minutes
  });
});

describe('CSRF and roles', () => {
  const POSTS = ['/mailboxes/a%40contoso.edu/deliver', '/mailboxes/a%40contoso.edu/reinventory', '/keys', '/keys/aaaaaaaaaaaa/revoke', '/sign-out'];

  it('refuses every POST of a session without the session’s own token', async () => {
    await f.store.applyDesiredOps([{ kind: 'upsert', desired: desiredEvent('a@contoso.edu', 'e1', 'Lecture') }]);
    const admin = await signIn(f.app, f.keys.admin);
    const other = await signIn(f.app, f.keys.admin);
    expect(other.csrf).not.toBe(admin.csrf);
    for (const url of POSTS) {
      for (const form of [{}, { _csrf: '' }, { _csrf: other.csrf }, { _csrf: admin.csrf.slice(0, -1) }] as Array<Record<string, string>>) {
        const response = await admin.post(url, { scope: 'admin', ...form });
        expect(response.statusCode, `${url} ${JSON.stringify(form)}`).toBe(403);
        expect(response.body).toContain('CSRF token');
      }
    }
    expect(f.asked).toEqual([]);
    expect((await f.store.apiKeys()).length).toBe(4);
    expect((await admin.get('/')).statusCode).toBe(200); // not signed out either
  });

  it('lets a helpdesk session see everything and act on nothing', async () => {
    await f.store.applyDesiredOps([{ kind: 'upsert', desired: desiredEvent('a@contoso.edu', 'e1', 'Lecture') }]);
    const helpdesk = await signIn(f.app, f.keys.helpdesk);
    for (const url of ['/', '/mailboxes', '/mailboxes/a%40contoso.edu', '/feeds', '/keys', '/api-docs', '/api-docs/openapi.json']) {
      expect((await helpdesk.get(url)).statusCode, url).toBe(200);
    }
    const detail = (await helpdesk.get('/mailboxes/a%40contoso.edu')).body;
    expect(detail).not.toContain('/deliver');
    expect(detail).toContain('A helpdesk key sees everything but cannot act');
    expect((await helpdesk.get('/keys')).body).not.toContain('/revoke');
    for (const url of POSTS.slice(0, 4)) {
      const response = await helpdesk.post(url, { _csrf: helpdesk.csrf, scope: 'admin' });
      expect(response.statusCode, url).toBe(403);
      expect(response.body).toContain('cannot act');
    }
    expect(f.asked).toEqual([]);
    expect((await f.store.apiKeys()).length).toBe(4);
    expect((await f.store.mailbox('a@contoso.edu'))!.inventoriedAt).toBeNull();
    expect((await helpdesk.post('/sign-out', { _csrf: helpdesk.csrf })).statusCode).toBe(303);
  });
});

function desiredEvent(calendar: string, id: string, subject: string) {
  const result = validateEvent({ calendar, id, subject, start: '2026-12-01T09:00', end: '2026-12-01T10:00', timeZone: 'Europe/Amsterdam' });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.desired;
}

describe('pages and actions', () => {
  it('shows a failed mailbox with its code and fix, and wires "deliver now" and "re-inventory" to the delivery loop', async () => {
    const calendar = 'outofscope@contoso.edu';
    await f.store.applyDesiredOps([{ kind: 'upsert', desired: desiredEvent(calendar, 'board-1', 'Board meeting') }]);
    await f.store.recordInventory(calendar, []);
    await f.store.recordMailboxFailure(calendar, 'ErrorAccessDenied', 'ErrorAccessDenied: Access to OData is disabled.', 'add the mailbox to the RBAC for Applications management scope');
    const admin = await signIn(f.app, f.keys.admin);
    const search = await admin.get('/mailboxes?q=outofscope');
    expect(search.body).toContain('href="/mailboxes/outofscope%40contoso.edu"');
    expect(search.body).toContain('<code>ErrorAccessDenied</code>');
    const page = (await admin.get('/mailboxes/outofscope%40contoso.edu')).body;
    expect(page).toContain('<span data-field="error.code">ErrorAccessDenied</span>');
    expect(page).toContain('add the mailbox to the RBAC for Applications management scope');
    expect(page).toContain('Board meeting');
    expect(page).toContain('No drift recorded.');
    expect(page).toMatch(/<td><span class="badge badge-failed">failed<\/span><\/td>/);

    const deliver = await admin.post('/mailboxes/outofscope%40contoso.edu/deliver');
    expect(deliver.statusCode).toBe(303);
    expect(deliver.headers.location).toBe('/mailboxes/outofscope%40contoso.edu?notice=deliver');
    expect((await admin.get(deliver.headers.location as string)).body).toContain('Delivery requested');
    const scripted = await admin.post('/mailboxes/outofscope%40contoso.edu/reinventory', undefined, { headers: { accept: 'application/json' } });
    expect(scripted.statusCode).toBe(200);
    expect(JSON.parse(scripted.body).notice).toMatch(/^Re-inventory requested/);
    expect((await f.store.mailbox(calendar))!.inventoriedAt).toBeNull();
    expect(f.asked).toEqual([`deliverNow ${calendar}`, `deliverNow ${calendar}`]);
    expect((await admin.post('/mailboxes/nobody%40contoso.edu/deliver')).statusCode).toBe(404);
  });

  it('makes a key (shown once), lists keys without them, and revokes one: the API refuses it, its sessions end', async () => {
    const admin = await signIn(f.app, f.keys.admin);
    const made = await admin.post('/keys', { _csrf: admin.csrf, scope: 'helpdesk', name: 'Service desk' });
    expect(made.statusCode).toBe(200);
    expect(made.headers['cache-control']).toBe('no-store');
    const key = /value="(cpk_[0-9a-f]{12}_[A-Za-z0-9_-]{43})"/.exec(made.body)![1]!;
    const id = key.slice(4, 16);
    expect((await admin.get('/keys')).body).not.toContain(key);
    expect((await admin.get('/keys')).body).toContain(`<code>${id}</code>`);
    const desk = await signIn(f.app, key);
    expect((await desk.get('/')).statusCode).toBe(200);
    expect((await f.app.inject({ method: 'GET', url: '/v1/calendars', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(200);

    const revoked = await admin.post(`/keys/${id}/revoke`);
    expect(revoked.statusCode).toBe(303);
    expect(revoked.headers.location).toBe('/keys?notice=revoked');
    expect((await f.store.apiKey(id))!.revokedAt).not.toBeNull();
    expect((await desk.get('/')).statusCode).toBe(303);
    expect((await f.app.inject({ method: 'GET', url: '/v1/calendars', headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(401);
    expect((await admin.post(`/keys/${id}/revoke`)).statusCode).toBe(404);
    // Calendar patterns only for read and write keys; a bad scope is refused.
    expect((await admin.post('/keys', { _csrf: admin.csrf, scope: 'admin', calendars: '*@rooms.contoso.edu' })).statusCode).toBe(400);
    expect((await admin.post('/keys', { _csrf: admin.csrf, scope: 'root' })).statusCode).toBe(400);
    const spaced = await admin.post('/keys', { _csrf: admin.csrf, scope: 'read', calendars: 'room a@contoso.edu' });
    expect(spaced.statusCode).toBe(400);
    expect(spaced.body).toContain('must not contain spaces');
    // Revoking its own key signs the browser out.
    const own = await admin.post(`/keys/${f.keyIds.admin}/revoke`);
    expect(own.headers.location).toBe('/sign-in?notice=revoked');
    expect((await admin.get('/')).statusCode).toBe(303);
  });

  it('shows the overview from real numbers: store totals, failures by cause, the scheduler’s throttled mailboxes', async () => {
    await f.store.applyDesiredOps([
      { kind: 'upsert', desired: desiredEvent('a@contoso.edu', 'e1', 'One') },
      { kind: 'upsert', desired: desiredEvent('b@contoso.edu', 'e2', 'Two') },
    ]);
    await f.store.recordMailboxFailure('b@contoso.edu', 'MailboxNotEnabledForRESTAPI', 'no licence');
    f.throttled.push({ mailbox: 'a@contoso.edu', resumesInMs: 12_000, concurrency: 2 });
    f.loopStatus.delivering.push('a@contoso.edu');
    const admin = await signIn(f.app, f.keys.admin);
    const page = (await admin.get('/')).body;
    expect(page).toContain('<span data-field="mailboxes.failed">1</span>');
    expect(page).toContain('<span data-field="mailboxes.pending">1</span>');
    expect(page).toContain('<span data-field="events.desired">2</span>');
    expect(page).toContain('<span data-field="mailboxes.throttled">1</span>');
    expect(page).toContain('<td><a href="/mailboxes/a%40contoso.edu">a@contoso.edu</a></td><td>12 s</td><td>2</td>');
    expect(page).toContain('<a href="/mailboxes?state=failed&amp;code=MailboxNotEnabledForRESTAPI">MailboxNotEnabledForRESTAPI</a>');
    expect(page).toMatch(/data-field="drain.summary">0 of 1 mailboxes done, 1 to go</);
    const byCode = (await admin.get('/mailboxes?state=failed&code=MailboxNotEnabledForRESTAPI')).body;
    expect(byCode).toContain('b@contoso.edu');
    expect(byCode).not.toContain('>a@contoso.edu<');
  });

  it('shows feeds by their origin only: the rest of a feed URL is a secret', async () => {
    const feeds = new Map([['s0001@contoso.edu', 'https://timetable.example.edu/ical/s0001?token=SECRET-TOKEN-123']]);
    const withFeeds = await dashboardFixture({ feeds });
    try {
      await withFeeds.store.saveFeedState({
        calendar: 's0001@contoso.edu', url: 'fingerprint', etag: null, lastModified: null, consecutiveEmpty: 0, lastFetchAt: '2026-10-31T23:00:00.000Z',
        lastFullFetchAt: null, lastOutcome: 'failed', lastError: 'HTTP 500 from https://timetable.example.edu/…', lastChangeAt: null,
      });
      const admin = await signIn(withFeeds.app, withFeeds.keys.admin);
      for (const url of ['/feeds', '/mailboxes/s0001%40contoso.edu']) {
        const body = (await admin.get(url)).body;
        expect(body).toContain('https://timetable.example.edu/…');
        expect(body).not.toMatch(/SECRET-TOKEN|token=|\/ical\/s0001/);
        expect(body).toContain('badge-failed');
      }
    } finally {
      await withFeeds.close();
    }
  });
});

describe('untrusted text and page safety', () => {
  const HOSTILE = ['<script>alert(1)</script>', '"><img src=x onerror=alert(1)>', "' onmouseover='alert(1)", '</textarea><svg onload=alert(1)>', '&lt;already escaped&gt;'];

  it('escapes mailbox addresses, error messages, fixes, event ids and subjects, key names', async () => {
    const calendar = '<b>x<i>@evil.test';
    await f.store.recordMailboxFailure(calendar, HOSTILE[1]!, HOSTILE[0]!, HOSTILE[2]!);
    await f.store.recordMailboxFailure('<img src=x onerror=alert(1)>@evil.test', 'Code', HOSTILE[3]!);
    await f.store.applyDesiredOps(HOSTILE.map((subject, n) => ({ kind: 'upsert' as const, desired: desiredEvent('s0001@contoso.edu', `${subject}-${n}`, subject) })));
    const admin = await signIn(f.app, f.keys.admin);
    await admin.post('/keys', { _csrf: admin.csrf, scope: 'read', name: HOSTILE[0]! });
    const pages = [
      (await admin.get('/mailboxes')).body,
      (await admin.get(`/mailboxes/${encodeURIComponent(calendar)}`)).body,
      (await admin.get('/mailboxes/s0001%40contoso.edu')).body,
      (await admin.get('/keys')).body,
      (await admin.get('/')).body,
    ];
    for (const page of pages) {
      expect(page).not.toMatch(/<script>alert|<img src=x|<svg onload|<b>x<i>|' onmouseover=|<\/textarea>/);
    }
    expect(pages[1]).toContain('&lt;b&gt;x&lt;i&gt;@evil.test');
    expect(pages[1]).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(pages[1]).toContain('&#39; onmouseover=&#39;alert(1)');
    expect(pages[2]).toContain('&amp;lt;already escaped&amp;gt;');
    expect(pages[3]).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
  });

  it('html`` escapes every value: whatever the text, the markup has only the template’s tags and quotes (fast-check)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.string(), (text, attribute) => {
        const out = html`<p title="${attribute}">${text}</p>`.value;
        expect(out.match(/</g)?.length).toBe(2);
        expect(out.match(/"/g)?.length).toBe(2);
        expect(out).toBe(`<p title="${escapeHtml(attribute)}">${escapeHtml(text)}</p>`);
        const decoded = escapeHtml(text).replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');
        expect(decoded).toBe(text);
      }),
    );
  });

  it('sends a Content-Security-Policy without inline script, and no inline script or handler in any page', async () => {
    await f.store.applyDesiredOps([{ kind: 'upsert', desired: desiredEvent('a@contoso.edu', 'e1', 'Lecture') }]);
    const admin = await signIn(f.app, f.keys.admin);
    for (const url of ['/sign-in', '/', '/mailboxes', '/mailboxes/a%40contoso.edu', '/feeds', '/keys', '/api-docs']) {
      const response = url === '/sign-in' ? await f.app.inject({ method: 'GET', url }) : await admin.get(url);
      const csp = String(response.headers['content-security-policy']);
      expect(csp, url).toMatch(/script-src 'self';/);
      expect(csp).toContain("default-src 'none'");
      expect(csp).toContain("frame-ancestors 'none'");
      expect(response.headers['x-content-type-options']).toBe('nosniff');
      expect(response.headers['referrer-policy']).toBe('no-referrer');
      for (const script of response.body.match(/<script[^>]*>/g) ?? []) expect(script, url).toMatch(/^<script src="\/assets\/[a-z/-]+\.js" defer>$/);
      expect(response.body).not.toMatch(/\son[a-z]+=/i);
      expect(response.body).not.toMatch(/https?:\/\//); // nothing from elsewhere
    }
  });

  it('serves Swagger UI and its own assets from the package, and the OpenAPI document to a session', async () => {
    const admin = await signIn(f.app, f.keys.admin);
    const docs = await admin.get('/api-docs');
    expect(docs.body).toContain('src="/assets/swagger-ui/swagger-ui-bundle.js"');
    expect(JSON.parse((await admin.get('/api-docs/openapi.json')).body).openapi).toBe('3.1.0');
    for (const [url, type] of [
      ['/assets/swagger-ui/swagger-ui-bundle.js', 'text/javascript'],
      ['/assets/swagger-ui/swagger-ui.css', 'text/css'],
      ['/assets/dashboard.js', 'text/javascript'],
      ['/assets/dashboard.css', 'text/css'],
      ['/assets/swagger-init.js', 'text/javascript'],
    ] as const) {
      const asset = await f.app.inject({ method: 'GET', url });
      expect(asset.statusCode, url).toBe(200);
      expect(asset.headers['content-type']).toContain(type);
      const again = await f.app.inject({ method: 'GET', url, headers: { 'if-none-match': String(asset.headers.etag) } });
      expect(again.statusCode).toBe(304);
    }
    // Only the named files: no folder is served (an unknown path is the push API's: 401 without a key).
    for (const [n, url] of ['/assets/../package.json', '/assets/swagger-ui/package.json', '/assets/swagger-ui/', '/assets/dashboard.ts'].entries()) {
      const response = await f.app.inject({ method: 'GET', url, remoteAddress: `10.0.0.${n + 1}` });
      expect(response.statusCode, url).toBe(401);
    }
  });
});
