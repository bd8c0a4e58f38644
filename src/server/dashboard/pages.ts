// The dashboard's pages: server-rendered HTML that works as it is, with forms for every action; the script
// (assets/dashboard.js) only makes the numbers live and sends the mailbox actions without leaving the page.
// Every value goes through html`` (html.ts), which escapes it.
import type { ApiKeyRow, FeedStateRow } from '../../store/store.ts';
import type { ConnectionRow } from '../../store/connections.ts';
import { redactUrl } from '../../sources/feeds.ts';
import { html, href, mailboxHref, type Html, type HtmlValue } from './html.ts';
import type { MailboxDetail, MailboxListing, MailboxSearch } from './data.ts';
import type { DashboardSession } from './sessions.ts';
import { LIST_ROWS, roleText, time, type Cell, type LiveView } from './views.ts';

/** A section of the dashboard in the navigation. Alerts and connected people join this list when they are built. */
export interface Section {
  path: string;
  title: string;
}

export const SECTIONS: readonly Section[] = [
  { path: '/', title: 'Overview' },
  { path: '/mailboxes', title: 'Mailboxes' },
  { path: '/feeds', title: 'Feeds' },
  { path: '/connections', title: 'Connections' },
  { path: '/keys', title: 'API keys' },
  { path: '/api-docs', title: 'API docs' },
];

export interface PageFrame {
  title: string;
  /** The section the page belongs to (marked in the navigation). */
  section?: string;
  session?: DashboardSession | null;
  /** The live stream this page follows (/live?…); none: a static page. */
  live?: string;
  /** A message shown at the top (what an action did). */
  notice?: string | null;
}

export function layout(frame: PageFrame, body: HtmlValue): Html {
  const { session } = frame;
  const nav = session
    ? html`<nav aria-label="Dashboard"><ul>${SECTIONS.map(
        (s) => html`<li><a href="${s.path}"${s.path === frame.section ? html` aria-current="page"` : ''}>${s.title}</a></li>`,
      )}</ul></nav>
      <div class="who"><span>Signed in with key <code>${session.keyId}</code> (${roleText(session.role)})</span>
        <form method="post" action="/sign-out">${csrfField(session)}<button type="submit">Sign out</button></form></div>`
    : '';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} — calpush</title>
<link rel="icon" href="/favicon.ico" type="image/png">
<link rel="stylesheet" href="/assets/dashboard.css">
<script src="/assets/dashboard.js" defer></script>
</head>
<body${frame.live ? html` data-live="${frame.live}"` : ''}>
<a class="skip" href="#main">Skip to the content</a>
<header><p class="brand">calpush</p>${nav}</header>
<main id="main">
<h1>${frame.title}</h1>
<p id="notice" role="status" class="notice"${frame.notice ? '' : html` hidden`}>${frame.notice ?? ''}</p>
${frame.live ? html`<p class="live" id="live-status" aria-live="polite">Updated when the page was made; live updates need JavaScript.</p>` : ''}
${body}
</main>
</body>
</html>
`;
}

export function csrfField(session: DashboardSession): Html {
  return html`<input type="hidden" name="_csrf" value="${session.csrfToken}">`;
}

export function cellHtml(cell: Cell | undefined): Html {
  if (!cell) return html``;
  if (cell.href) return html`<a href="${cell.href}">${cell.text}</a>`;
  if (cell.badge) return html`<span class="badge badge-${cell.badge}">${cell.text}</span>`;
  return html`${cell.text}`;
}

/** A value of the live view in an element the script can find again. */
function field(view: LiveView, name: string): Html {
  return html`<span data-field="${name}">${cellHtml(view.fields[name])}</span>`;
}

function table(view: LiveView, name: string, caption: string, headers: string[], empty: string): Html {
  const rows = view.lists[name] ?? [];
  return html`<table><caption>${caption}</caption>
<thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead>
<tbody data-list="${name}" data-empty="${empty}" data-columns="${headers.length}">${
    rows.length ? rows.map((row) => html`<tr>${row.map((cell) => html`<td>${cellHtml(cell)}</td>`)}</tr>`) : html`<tr><td colspan="${headers.length}">${empty}</td></tr>`
  }</tbody></table>`;
}

function meter(view: LiveView, name: string, label: string): Html {
  const m = view.meters[name] ?? { value: 0, max: 1 };
  return html`<progress data-meter="${name}" aria-label="${label}" value="${m.value}" max="${m.max}">${m.value} of ${m.max}</progress>`;
}

export function overviewPage(frame: PageFrame, view: LiveView): Html {
  const f = (name: string) => field(view, name);
  return layout(
    frame,
    html`<section aria-labelledby="delivery-h"><h2 id="delivery-h">Delivery</h2>
<dl class="facts">
  <dt>Delivery loop</dt><dd>${f('loop.state')}</dd>
  <dt>Stopped by</dt><dd>${f('loop.fatal')}</dd>
  <dt>Fix</dt><dd>${f('loop.fix')}</dd>
  <dt>Tried again at</dt><dd>${f('loop.retry')}</dd>
  <dt>Last delivery ended</dt><dd>${f('loop.lastRun')}</dd>
</dl></section>

<section aria-labelledby="mailboxes-h"><h2 id="mailboxes-h">Mailboxes by state</h2>
<dl class="tiles">
  <div><dt>All</dt><dd>${f('mailboxes.total')}</dd></div>
  <div><dt><a href="/mailboxes?state=ok">Last delivery ok</a></dt><dd>${f('mailboxes.ok')}</dd></div>
  <div><dt><a href="/mailboxes?state=pending">Never delivered yet</a></dt><dd>${f('mailboxes.pending')}</dd></div>
  <div><dt><a href="/mailboxes?state=failed">Failed</a></dt><dd>${f('mailboxes.failed')}</dd></div>
  <div><dt>With changes waiting</dt><dd>${f('mailboxes.waiting')}</dd></div>
  <div><dt>Being delivered now</dt><dd>${f('mailboxes.delivering')}</dd></div>
  <div><dt>Throttled now</dt><dd>${f('mailboxes.throttled')}</dd></div>
</dl></section>

<section aria-labelledby="drain-h"><h2 id="drain-h">Current drain</h2>
<p>${f('drain.summary')} (${f('drain.percent')})</p>
${meter(view, 'drain', 'Mailboxes done in the current drain')}
<dl class="facts">
  <dt>Done in</dt><dd>${f('drain.eta')}</dd>
  <dt>Began</dt><dd>${f('drain.started')}</dd>
  <dt>Previous drain</dt><dd>${f('drain.last')}</dd>
  <dt>Operations pending</dt><dd>${f('ops.pending')}</dd>
</dl></section>

<section aria-labelledby="traffic-h"><h2 id="traffic-h">Traffic to the target</h2>
<dl class="tiles">
  <div><dt>Requests</dt><dd>${f('rates.requests')}</dd></div>
  <div><dt>Throttled (429) share</dt><dd>${f('rates.throttled')}</dd></div>
  <div><dt>Requests since start</dt><dd>${f('rates.totalRequests')}</dd></div>
  <div><dt>Throttling answers since start</dt><dd>${f('rates.totalThrottled')}</dd></div>
</dl>
<p class="hint">Rates ${f('rates.window')}. A $batch counts as one request.</p>
${table(view, 'throttled', `Mailboxes being throttled now (at most ${LIST_ROWS}, longest wait first)`, ['Mailbox', 'Sends again in', 'Requests at once'], 'No mailbox is being throttled.')}
</section>

<section aria-labelledby="failures-h"><h2 id="failures-h">Failures by cause</h2>
${table(view, 'failures', 'Failed mailboxes by error code', ['Error code', 'Mailboxes'], 'No mailbox has failed.')}
<p>Events whose last attempt failed: ${f('ops.failed')}. Events wanted: ${f('events.desired')}; delivered: ${f('events.delivered')}.</p>
</section>

<section aria-labelledby="now-h"><h2 id="now-h">Being delivered now</h2>
${table(view, 'delivering', `Mailboxes being delivered now (at most ${LIST_ROWS})`, ['Mailbox'], 'None right now.')}
</section>`,
  );
}

const STATES = ['', 'ok', 'pending', 'failed'] as const;

export function mailboxesPage(frame: PageFrame, search: MailboxSearch, listing: MailboxListing): Html {
  const pageLink = (page: number, label: string) => html`<a href="${href('/mailboxes', { q: search.text, state: search.state, code: search.code, page })}">${label}</a>`;
  return layout(
    frame,
    html`<form method="get" action="/mailboxes" class="search" role="search">
  <div><label for="q">Mailbox address (or part of it)</label>
  <input id="q" name="q" type="search" value="${search.text}" maxlength="320" autocomplete="off"></div>
  <div><label for="state">State</label>
  <select id="state" name="state">${STATES.map((s) => html`<option value="${s}"${s === search.state ? html` selected` : ''}>${s || 'any'}</option>`)}</select></div>
  ${search.code ? html`<input type="hidden" name="code" value="${search.code}">` : ''}
  <button type="submit">Search</button>
</form>
${search.code ? html`<p>Only failed mailboxes whose last error is <code>${search.code}</code>. <a href="${href('/mailboxes', { q: search.text, state: search.state })}">Show all</a></p>` : ''}
<p>${listing.matches} mailbox${listing.matches === 1 ? '' : 'es'} found${listing.pages > 1 ? html`, page ${listing.page} of ${listing.pages}` : ''}.</p>
<table><caption>Mailboxes</caption>
<thead><tr><th scope="col">Mailbox</th><th scope="col">State</th><th scope="col">Events wanted</th><th scope="col">Now</th><th scope="col">Last error</th><th scope="col">Last delivery</th></tr></thead>
<tbody>${
      listing.rows.length
        ? listing.rows.map(
            (r) => html`<tr><td><a href="${mailboxHref(r.mailbox.calendar)}">${r.mailbox.calendar}</a></td>
<td>${cellHtml({ text: r.mailbox.state, badge: r.mailbox.state })}</td><td>${r.desired}</td>
<td>${r.throttled ? 'throttled' : r.delivering ? 'delivering' : ''}</td>
<td>${r.mailbox.lastErrorCode ? html`<code>${r.mailbox.lastErrorCode}</code>` : ''}</td><td>${time(r.mailbox.lastSyncAt)}</td></tr>`,
          )
        : html`<tr><td colspan="6">No mailbox matches.</td></tr>`
    }</tbody></table>
<nav aria-label="Pages" class="pages">${listing.page > 1 ? pageLink(listing.page - 1, 'Previous page') : ''} ${listing.page < listing.pages ? pageLink(listing.page + 1, 'Next page') : ''}</nav>`,
  );
}

export function mailboxPage(frame: PageFrame, detail: MailboxDetail, view: LiveView): Html {
  const f = (name: string) => field(view, name);
  const session = frame.session!;
  const action = (path: string, label: string, help: string) =>
    html`<form method="post" action="${mailboxHref(detail.calendar)}/${path}" data-action>${csrfField(session)}<button type="submit">${label}</button> <span class="hint">${help}</span></form>`;
  const pageLink = (page: number, label: string) => html`<a href="${href(mailboxHref(detail.calendar), { page })}">${label}</a>`;
  return layout(
    frame,
    html`<p><a href="/mailboxes">All mailboxes</a></p>
<section aria-labelledby="state-h"><h2 id="state-h">State</h2>
<dl class="facts">
  <dt>State</dt><dd>${f('state')}</dd>
  <dt>Up to date</dt><dd>${f('upToDate')}</dd>
  <dt>Now</dt><dd>${f('activity')}</dd>
  <dt>Last delivery</dt><dd>${f('lastSync')}</dd>
  <dt>Last listed</dt><dd>${f('inventoried')}</dd>
  <dt>Failed deliveries in a row</dt><dd>${f('failures')}</dd>
</dl></section>

<section aria-labelledby="counts-h"><h2 id="counts-h">Desired and delivered</h2>
<dl class="tiles">
  <div><dt>Events wanted</dt><dd>${f('desired')}</dd></div>
  <div><dt>Items delivered</dt><dd>${f('delivered')}</dd></div>
  <div><dt>Operations pending</dt><dd>${f('pending')}</dd></div>
  <div><dt>Events failing</dt><dd>${f('failedOps')}</dd></div>
</dl>
${meter(view, 'delivered', 'Items delivered of the events wanted')}
</section>

<section aria-labelledby="error-h"><h2 id="error-h">Last error</h2>
<dl class="facts error">
  <dt>Code</dt><dd><code>${f('error.code')}</code></dd>
  <dt>Message</dt><dd>${f('error.message')}</dd>
  <dt>Fix</dt><dd>${f('error.fix')}</dd>
</dl></section>

<section aria-labelledby="actions-h"><h2 id="actions-h">Actions</h2>
${
  session.role === 'admin'
    ? html`${action('deliver', 'Deliver now', 'forget the back-off after a failure and deliver this mailbox before the others waiting')}
${action('reinventory', 'Re-inventory', 'list the calendar for calpush’s events again and adopt or remove what it finds, then deliver')}`
    : html`<p>A helpdesk key sees everything but cannot act: ask an admin to deliver this mailbox now or list it again.</p>`
}
</section>

${detail.feed ? feedSection(detail.feed) : ''}

<section aria-labelledby="drift-h"><h2 id="drift-h">Drift log</h2>
<p>No drift recorded. (Changes people make to calpush’s events in the calendar will be listed here.)</p>
</section>

<section aria-labelledby="events-h"><h2 id="events-h">Events</h2>
<p>${detail.eventCount} event${detail.eventCount === 1 ? '' : 's'}, soonest first${detail.pages > 1 ? html`; page ${detail.page} of ${detail.pages}` : ''}.</p>
${table(view, 'events', 'Events and their delivery state', ['Id', 'Subject', 'Starts', 'State', 'Pending', 'Last error'], 'No events.')}
<nav aria-label="Pages" class="pages">${detail.page > 1 ? pageLink(detail.page - 1, 'Previous page') : ''} ${detail.page < detail.pages ? pageLink(detail.page + 1, 'Next page') : ''}</nav>
</section>`,
  );
}

function feedSection(feed: { url: string; state: FeedStateRow | null }): Html {
  return html`<section aria-labelledby="feed-h"><h2 id="feed-h">Feed</h2>${feedFacts(feed.url, feed.state)}</section>`;
}

function feedFacts(url: string, state: FeedStateRow | null): Html {
  return html`<dl class="facts">
  <dt>From</dt><dd><code>${redactUrl(url)}</code> (the rest of the address is a secret)</dd>
  <dt>Last poll</dt><dd>${time(state?.lastFetchAt)}</dd>
  <dt>Result</dt><dd>${state?.lastOutcome ? cellHtml({ text: state.lastOutcome, badge: state.lastOutcome === 'failed' ? 'failed' : state.lastOutcome === 'empty-unconfirmed' ? 'pending' : 'ok' }) : 'not polled yet'}</dd>
  <dt>Error</dt><dd>${state?.lastError ?? 'none'}</dd>
  <dt>Last change</dt><dd>${time(state?.lastChangeAt)}</dd>
</dl>`;
}

export function feedsPage(frame: PageFrame, feeds: Array<{ calendar: string; url: string; state: FeedStateRow | null }>): Html {
  return layout(
    frame,
    feeds.length
      ? html`<p>${feeds.length} calendar${feeds.length === 1 ? ' is' : 's are'} fed by an iCalendar feed. Feed addresses often hold a token, so only their origin is shown.</p>
<table><caption>Feeds</caption>
<thead><tr><th scope="col">Calendar</th><th scope="col">From</th><th scope="col">Last poll</th><th scope="col">Result</th><th scope="col">Error</th><th scope="col">Last change</th></tr></thead>
<tbody>${feeds.map(
          ({ calendar, url, state }) => html`<tr><td><a href="${mailboxHref(calendar)}">${calendar}</a></td><td><code>${redactUrl(url)}</code></td>
<td>${time(state?.lastFetchAt)}</td><td>${state?.lastOutcome ? cellHtml({ text: state.lastOutcome, badge: state.lastOutcome === 'failed' ? 'failed' : 'ok' }) : 'not polled yet'}</td>
<td>${state?.lastError ?? ''}</td><td>${time(state?.lastChangeAt)}</td></tr>`,
        )}</tbody></table>`
      : html`<p>No feeds are configured (the config’s <code>feeds</code> section).</p>`,
  );
}

/** The people's connections of their calendars (delegated access), with an admin's disconnect. */
export function connectionsPage(frame: PageFrame, connections: ConnectionRow[] | null, connectUrl: (calendar: string) => string): Html {
  const session = frame.session!;
  if (!connections) return layout(frame, html`<p>This calpush writes calendars with an application’s access (target kind <code>${'graph'}</code>, EWS or CalDAV): nobody connects a calendar. Delegated access is target kind <code>graph-delegated</code> (docs/delegated.md).</p>`);
  const state = (c: ConnectionRow) => cellHtml({ text: c.state === 'connected' ? 'connected' : `disconnected (${c.reason ?? 'unknown'})`, badge: c.state === 'connected' ? 'ok' : c.reason === 'DisconnectedByPerson' || c.reason === 'DisconnectedByAdmin' ? 'pending' : 'failed' });
  return layout(
    frame,
    connections.length
      ? html`<p>${connections.length} calendar${connections.length === 1 ? ' was' : 's were'} connected by their person. A disconnected calendar waits for its person to connect again at the link shown; nothing is deleted meanwhile.</p>
<table><caption>Connections</caption>
<thead><tr><th scope="col">Calendar</th><th scope="col">State</th><th scope="col">Signed in as</th><th scope="col">Since</th><th scope="col">Last refresh</th><th scope="col">Reconnect link</th>${session.role === 'admin' ? html`<th scope="col">Action</th>` : ''}</tr></thead>
<tbody>${connections.map(
          (c) => html`<tr><td><a href="${mailboxHref(c.calendar)}">${c.calendar}</a></td><td>${state(c)}${c.reasonMessage ? html`<br><span class="hint">${c.reasonMessage}</span>` : ''}</td><td>${c.username}</td><td>${time(c.changedAt)}</td><td>${time(c.lastRefreshAt)}</td>
<td><code>${connectUrl(c.calendar)}</code></td>${
            session.role === 'admin'
              ? html`<td>${c.state === 'connected' ? html`<form method="post" action="/connections/${encodeURIComponent(c.calendar)}/disconnect">${csrfField(session)}<button type="submit">Disconnect</button></form>` : ''}</td>`
              : ''
          }</tr>`,
        )}</tbody></table>`
      : html`<p>Nobody has connected a calendar yet. People connect theirs at <code>${connectUrl('')}</code>.</p>`,
  );
}

export const SCOPE_HELP: Record<ApiKeyRow['scope'], string> = {
  read: 'read: GET on the push API',
  write: 'write: also PUT, DELETE and batch',
  admin: 'admin: write, plus this dashboard and its actions',
  helpdesk: 'helpdesk: read, plus this dashboard without its actions',
};

export function keysPage(frame: PageFrame, keys: Array<Omit<ApiKeyRow, 'hash'>>, created: { key: string; row: Omit<ApiKeyRow, 'hash'> } | null): Html {
  const session = frame.session!;
  const admin = session.role === 'admin';
  return layout(
    frame,
    html`${
      created
        ? html`<section aria-labelledby="created-h" class="created"><h2 id="created-h">Key ${created.row.id} made</h2>
<p>Copy it now: this is the only time it is shown. calpush keeps only its hash.</p>
<p><label for="new-key">The new ${created.row.scope} key</label> <input id="new-key" type="text" readonly value="${created.key}" size="70" autocomplete="off"></p></section>`
        : ''
    }
${
  admin
    ? html`<section aria-labelledby="create-h"><h2 id="create-h">Make a key</h2>
<form method="post" action="/keys" class="stack">${csrfField(session)}
  <label for="key-name">What it is for</label> <input id="key-name" name="name" maxlength="200" autocomplete="off">
  <label for="key-scope">Scope</label>
  <select id="key-scope" name="scope">${(Object.keys(SCOPE_HELP) as Array<ApiKeyRow['scope']>).map((s) => html`<option value="${s}">${SCOPE_HELP[s]}</option>`)}</select>
  <label for="key-calendars">Only these calendars (patterns with * and ?, separated by commas; read and write keys only)</label> <input id="key-calendars" name="calendars" maxlength="2000" autocomplete="off">
  <button type="submit">Make the key</button>
</form></section>`
    : html`<p>A helpdesk key sees the keys but cannot make or revoke one.</p>`
}
<table><caption>API keys (never the keys themselves)</caption>
<thead><tr><th scope="col">Id</th><th scope="col">For</th><th scope="col">Scope</th><th scope="col">Calendars</th><th scope="col">Made</th><th scope="col">Last used</th><th scope="col">State</th></tr></thead>
<tbody>${
      keys.length
        ? keys.map(
            (k) => html`<tr><td><code>${k.id}</code></td><td>${k.name}</td><td>${k.scope}</td><td>${k.calendars ? k.calendars.join(', ') : 'all'}</td>
<td>${time(k.createdAt)}</td><td>${time(k.lastUsedAt)}</td>
<td>${
              k.revokedAt
                ? html`${cellHtml({ text: 'revoked', badge: 'failed' })} ${time(k.revokedAt)}`
                : admin
                  ? html`${cellHtml({ text: 'active', badge: 'ok' })} <form method="post" action="/keys/${k.id}/revoke" class="inline">${csrfField(session)}<button type="submit" aria-label="Revoke key ${k.id}">Revoke</button></form>`
                  : cellHtml({ text: 'active', badge: 'ok' })
            }</td></tr>`,
          )
        : html`<tr><td colspan="7">No keys yet.</td></tr>`
    }</tbody></table>`,
  );
}

export function signInPage(frame: PageFrame, options: { csrfToken: string; next: string; error?: string | null }): Html {
  return layout(
    frame,
    html`${options.error ? html`<p class="error" role="alert">${options.error}</p>` : ''}
<form method="post" action="/sign-in" class="stack">
  <input type="hidden" name="_csrf" value="${options.csrfToken}">
  <input type="hidden" name="next" value="${options.next}">
  <label for="key">API key with the admin or helpdesk scope</label>
  <input id="key" name="key" type="password" required autocomplete="off" spellcheck="false" maxlength="200">
  <button type="submit">Sign in</button>
</form>
<p class="hint">Make one with <code>npx calpush apikey create -c calpush.config.json --scope admin</code> (or <code>--scope helpdesk</code> for a read-only one). The key is sent once and exchanged for a session; it is not kept in the browser.</p>`,
  );
}

export function apiDocsPage(frame: PageFrame): Html {
  return layout(
    frame,
    html`<p>The push API’s contract (OpenAPI 3.1), also as <a href="/api-docs/openapi.json">JSON</a>. To try a request, press Authorize and give an API key: the dashboard’s session does not sign API requests.</p>
<link rel="stylesheet" href="/assets/swagger-ui/swagger-ui.css">
<div id="swagger-ui" data-spec="/api-docs/openapi.json"><p>The interactive view needs JavaScript; the <a href="/api-docs/openapi.json">JSON document</a> says the same.</p></div>
<script src="/assets/swagger-ui/swagger-ui-bundle.js" defer></script>
<script src="/assets/swagger-init.js" defer></script>`,
  );
}

export function errorPage(frame: PageFrame, message: string): Html {
  return layout(frame, html`<p class="error" role="alert">${message}</p><p><a href="/">Back to the overview</a></p>`);
}
