// The consent pages: what a person sees when they connect (or disconnect) their own calendar. Plain HTML that works
// without JavaScript (there is none), one small stylesheet from calpush itself, labelled controls in reading order, a
// heading and a landmark per page, and text that says what calpush will do with the access before anyone signs in.
// Every value goes through html`` (../dashboard/html.ts), which escapes it.
import { createHash } from 'node:crypto';
import { html, type Html, type HtmlValue } from '../dashboard/html.ts';

/** The pages' stylesheet, served at /connect/style.css (no inline style: the CSP allows only calpush's own files). */
export const CONSENT_CSS = `
:root { color-scheme: light dark; --accent: #0b5cad; }
body { font: 1.05rem/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; padding: 2rem 1rem; }
main { max-width: 40rem; margin: 0 auto; }
h1 { font-size: 1.6rem; line-height: 1.25; }
.brand { font-weight: 700; letter-spacing: .02em; color: var(--accent); margin: 0 0 1rem; }
ul { padding-left: 1.3rem; }
li { margin: .3rem 0; }
.box { border: 1px solid #8888; border-radius: .5rem; padding: .25rem 1rem; margin: 1rem 0; }
button { font: inherit; font-weight: 600; padding: .65rem 1.2rem; border-radius: .4rem; border: 2px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; }
button.secondary { background: transparent; color: inherit; }
button:focus-visible, a:focus-visible { outline: 3px solid #f5a000; outline-offset: 2px; }
.ok { border-left: .4rem solid #2e7d32; padding-left: .8rem; }
.problem { border-left: .4rem solid #c62828; padding-left: .8rem; }
small, .muted { color: #666; }
@media (prefers-color-scheme: dark) { small, .muted { color: #aaa; } }
`;
export const CONSENT_CSS_ETAG = `"${createHash('sha256').update(CONSENT_CSS).digest('base64url').slice(0, 16)}"`;

export interface ConsentPageContext {
  /** Who runs this calpush (the config's instance), as the person knows it. */
  instance: string;
}

function layout(title: string, body: HtmlValue): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} — calpush</title>
<link rel="stylesheet" href="/connect/style.css">
</head>
<body>
<main>
<p class="brand">calpush</p>
<h1>${title}</h1>
${body}
</main>
</body>
</html>`;
}

const WHAT_IT_DOES = html`<div class="box">
<h2>What calpush will do</h2>
<ul>
<li>Put the events your institution’s systems schedule for you — lectures, exams, room bookings — into your Outlook calendar, keep them up to date, and remove them when they are cancelled.</li>
<li>Change and delete <strong>only the events it created</strong>: each carries calpush’s mark. Your own appointments are never changed or deleted.</li>
<li>Keep its access while you are not signed in, so that your calendar stays up to date. Its tokens are stored encrypted, and never shown to anyone.</li>
</ul>
<h2>What Microsoft will ask you to allow</h2>
<ul>
<li><strong>Have full access to your calendars</strong> (Calendars.ReadWrite): needed to write the events. It is all Microsoft offers for writing a calendar; calpush uses it for its own events only.</li>
<li><strong>Sign you in and read your profile</strong> (User.Read): to know which addresses are yours.</li>
<li><strong>Maintain access to data you have given it access to</strong> (offline_access): to keep your calendar up to date later.</li>
</ul>
</div>`;

export function connectPage(context: ConsentPageContext, calendar: string | null): Html {
  return layout(
    'Connect your calendar',
    html`<p>calpush keeps the timetable your institution’s systems hold for you in your Outlook calendar${context.instance !== 'default' ? html` (this service: <em>${context.instance}</em>)` : ''}. ${calendar ? html`This link is for the calendar of <strong>${calendar}</strong>: sign in with that account.` : 'Sign in with your own account: calpush connects your calendar only.'}</p>
${WHAT_IT_DOES}
<form method="post" action="/connect">
${calendar ? html`<input type="hidden" name="mailbox" value="${calendar}">` : ''}
<p><button type="submit">Sign in with Microsoft and connect</button></p>
</form>
<p class="muted">You can disconnect at any time on <a href="/disconnect">the disconnect page</a>, or remove calpush’s permission in Microsoft’s My Apps (myapps.microsoft.com).</p>`,
  );
}

export function connectedPage(calendar: string, username: string, others: string[]): Html {
  return layout(
    'Your calendar is connected',
    html`<p class="ok" role="status">calpush now keeps your timetable in the calendar of <strong data-field="calendar">${calendar}</strong>. The first events arrive within a minute or two.</p>
<p>You signed in as ${username}.${others.length ? html` Your other addresses (${others.join(', ')}) are the same calendar.` : ''}</p>
<p>Nothing else in your calendar is touched. To stop, use <a href="/disconnect">the disconnect page</a>: calpush then forgets its access at once.</p>`,
  );
}

export function disconnectPage(): Html {
  return layout(
    'Disconnect your calendar',
    html`<p>calpush stops writing your calendar and deletes the tokens it keeps for it, at once. Sign in with your account to confirm it is you.</p>
<ul>
<li>The events calpush already put in your calendar stay there: delete them in Outlook if you no longer want them.</li>
<li>To remove the permission itself too, go to Microsoft’s My Apps (myapps.microsoft.com) afterwards.</li>
</ul>
<form method="post" action="/disconnect">
<p><button type="submit">Sign in with Microsoft and disconnect</button></p>
</form>`,
  );
}

export function disconnectedPage(calendars: string[], username: string): Html {
  return layout(
    calendars.length ? 'Your calendar is disconnected' : 'Nothing was connected',
    calendars.length
      ? html`<p class="ok" role="status">calpush no longer has access to the calendar of <strong>${calendars.join(', ')}</strong> and has deleted its tokens.</p>
<p>You signed in as ${username}. You can <a href="/connect">connect again</a> whenever you like.</p>`
      : html`<p role="status">You signed in as ${username}; calpush had no connection for your calendar, so there was nothing to disconnect.</p>`,
  );
}

export function refusedPage(title: string, message: string, again: string): Html {
  return layout(title, html`<p class="problem" role="alert">${message}</p><p><a href="${again}">Start again</a></p>`);
}
