// The dashboard's pages and actions. A page works as plain HTML with forms; an action answers a form with a
// redirect back (303, the page then says what was done) or, when the script sent it (Accept: application/json),
// with {"notice": …} so the page stays where it is.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CalpushError } from '../../model/errors.ts';
import type { ApiKeyScope } from '../../store/store.ts';
import { createApiKey, DASHBOARD_SCOPES } from '../auth.ts';
import { readFeeds, readKeys, readMailbox, readOverview, searchMailboxes, type MailboxSearch } from './data.ts';
import type { DashboardContext } from './context.ts';
import { apiDocsPage, connectionsPage, feedsPage, keysPage, mailboxesPage, mailboxPage, overviewPage, signInPage, type PageFrame } from './pages.ts';
import { randomToken, tokensMatch, type DashboardRole } from './sessions.ts';
import { mailboxView, overviewView } from './views.ts';

/** What an action did, by the word its redirect carries (never text from the request). */
const NOTICES: Record<string, string> = {
  deliver: 'Delivery requested: the mailbox goes before the others waiting, and this page shows how it goes.',
  reinventory: 'Re-inventory requested: calpush lists the calendar again, adopts or removes what it finds, then delivers.',
  revoked: 'The key was revoked: the push API refuses it from now on, and its dashboard sessions have ended.',
  disconnected: 'The calendar was disconnected: calpush deleted its tokens and stopped writing it; its person can connect again at the link shown.',
  'signed-out': 'You are signed out.',
};

const ADDRESS = /^[^\s@/]+@[^\s@/]+$/;

function calendarParam(request: FastifyRequest): string | null {
  const raw = (request.params as { calendar?: string }).calendar ?? '';
  const calendar = raw.trim().toLowerCase();
  return calendar.length <= 320 && ADDRESS.test(calendar) ? calendar : null;
}

function pageParam(value: unknown): number {
  const page = Number(value);
  return Number.isInteger(page) && page >= 1 && page <= 1_000_000 ? page : 1;
}

/** A path of this site to go to after sign-in; anything else (another site, a scheme) is the overview. */
function safeNext(value: unknown): string {
  return typeof value === 'string' && value.length <= 2000 && /^\/(?![/\\])[^\s\\]*$/.test(value) && !value.startsWith('/sign-') ? value : '/';
}

function notice(request: FastifyRequest): string | null {
  const word = (request.query as { notice?: unknown }).notice;
  return typeof word === 'string' ? (NOTICES[word] ?? null) : null;
}

function wantsJson(request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('application/json');
}

/** The answer to an action: JSON for the script, else back to `location` with the notice's word. */
function acted(request: FastifyRequest, reply: FastifyReply, word: string, location: string): FastifyReply {
  if (wantsJson(request)) return reply.send({ notice: NOTICES[word] });
  return reply.code(303).header('location', `${location}${location.includes('?') ? '&' : '?'}notice=${word}`).send();
}

export function registerPages(app: FastifyInstance, context: DashboardContext): void {
  const { sources, sessions, options } = context;
  const view = { config: { auth: 'session', access: 'view' as const } };
  const act = { config: { auth: 'session', access: 'act' as const } };
  const frame = (request: FastifyRequest, title: string, section: string, extra: Partial<PageFrame> = {}): PageFrame => ({
    title,
    section,
    session: context.session(request),
    notice: notice(request),
    ...extra,
  });

  // --- Signing in and out ----------------------------------------------------------------------------------
  const signInForm = (request: FastifyRequest, reply: FastifyReply, status: number, error: string | null, next: string) => {
    // The pre-session token: a cookie only this site can set, and the same value in the form (double submit).
    const name = context.cookieName(request, 'signin');
    const existing = request.cookies[name];
    const token = existing && /^[A-Za-z0-9_-]{43}$/.test(existing) ? existing : randomToken();
    reply.setCookie(name, token, { path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https', maxAge: 1800 });
    return context.sendPage(reply, signInPage({ title: 'Sign in' }, { csrfToken: token, next, error }), status);
  };

  app.get('/sign-in', { config: { auth: 'session', access: 'public' } }, async (request, reply) => {
    return signInForm(request, reply, 200, notice(request), safeNext((request.query as { next?: unknown }).next));
  });

  app.post('/sign-in', { config: { auth: 'session', access: 'public' } }, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    const signinCookie = request.cookies[context.cookieName(request, 'signin')];
    if (!signinCookie || !tokensMatch(signinCookie, body._csrf)) {
      return signInForm(request, reply, 403, 'The sign-in form had expired or did not come from this site. Try again.', next);
    }
    const key = typeof body.key === 'string' ? body.key.trim() : '';
    const result = await context.verifier.verify(key ? `Bearer ${key}` : undefined);
    if (!result.ok) {
      options.metrics.authFailures.inc({ reason: result.reason });
      const waitMs = options.failures.retryAfterMs(request.ip);
      options.failures.record(request.ip);
      if (waitMs > 0) {
        options.metrics.authLimited.inc();
        const seconds = Math.ceil(waitMs / 1000);
        reply.header('retry-after', String(seconds));
        return signInForm(request, reply, 429, `Too many failed sign-ins from this address; try again in ${seconds} s.`, next);
      }
      return signInForm(request, reply, 401, result.reason === 'revoked' ? 'That key was revoked.' : 'That is not a valid API key.', next);
    }
    const { scope, keyId } = result.principal;
    if (!DASHBOARD_SCOPES.includes(scope)) {
      return signInForm(request, reply, 403, `That key has the ${scope} scope; the dashboard needs a key with the admin or helpdesk scope.`, next);
    }
    const session = sessions.open(keyId, scope as DashboardRole);
    request.log.info({ keyId, role: session.role }, 'dashboard: signed in');
    const secure = request.protocol === 'https';
    reply.clearCookie(context.cookieName(request, 'signin'), { path: '/', httpOnly: true, sameSite: 'strict', secure });
    reply.setCookie(context.cookieName(request, 'session'), session.id, { path: '/', httpOnly: true, sameSite: 'strict', secure, maxAge: sessions.maxAgeSeconds(session) });
    return reply.code(303).header('location', next).send();
  });

  app.post('/sign-out', view, async (request, reply) => {
    sessions.end(context.session(request).id);
    reply.clearCookie(context.cookieName(request, 'session'), { path: '/', httpOnly: true, sameSite: 'strict', secure: request.protocol === 'https' });
    return reply.code(303).header('location', '/sign-in?notice=signed-out').send();
  });

  // --- Pages -------------------------------------------------------------------------------------------------
  app.get('/', view, async (request, reply) => {
    const page = overviewPage(frame(request, 'Overview', '/', { live: '/live?view=overview' }), overviewView(await readOverview(sources)));
    return context.sendPage(reply, page);
  });

  app.get('/mailboxes', view, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const state = typeof query.state === 'string' && ['ok', 'pending', 'failed'].includes(query.state) ? (query.state as MailboxSearch['state']) : '';
    const search: MailboxSearch = {
      text: typeof query.q === 'string' ? query.q.slice(0, 320) : '',
      state,
      code: typeof query.code === 'string' ? query.code.slice(0, 200) : '',
      page: pageParam(query.page),
    };
    return context.sendPage(reply, mailboxesPage(frame(request, 'Mailboxes', '/mailboxes'), search, await searchMailboxes(sources, search)));
  });

  app.get('/mailboxes/:calendar', view, async (request, reply) => {
    const calendar = calendarParam(request);
    const page = pageParam((request.query as { page?: unknown }).page);
    const detail = calendar ? await readMailbox(sources, calendar, page) : null;
    if (!calendar || !detail) return context.sendError(request, reply, 404, 'No such mailbox', 'calpush knows no mailbox with this address.');
    const live = `/live?view=mailbox&calendar=${encodeURIComponent(calendar)}&page=${detail.page}`;
    return context.sendPage(reply, mailboxPage(frame(request, calendar, '/mailboxes', { live }), detail, mailboxView(detail)));
  });

  app.get('/feeds', view, async (request, reply) => context.sendPage(reply, feedsPage(frame(request, 'Feeds', '/feeds'), await readFeeds(sources))));

  app.get('/connections', view, async (request, reply) => {
    const delegated = options.delegated;
    const rows = delegated ? await delegated.connections.connections() : null;
    return context.sendPage(reply, connectionsPage(frame(request, 'Connections', '/connections'), rows, (calendar) => delegated?.connectUrl(calendar || undefined) ?? '/connect'));
  });

  app.get('/keys', view, async (request, reply) => context.sendPage(reply, keysPage(frame(request, 'API keys', '/keys'), await readKeys(sources), null)));

  app.get('/api-docs', { config: { auth: 'session', access: 'view', csp: 'swagger' } }, async (request, reply) =>
    context.sendPage(reply, apiDocsPage(frame(request, 'API docs', '/api-docs'))),
  );

  app.get('/api-docs/openapi.json', view, async (_request, reply) => reply.type('application/json').send(options.openApi()));

  // --- Live updates ------------------------------------------------------------------------------------------
  app.get('/live', view, async (request, reply) => {
    const query = request.query as Record<string, unknown>;
    const session = context.session(request);
    const open = async () => {
      if (!sessions.isOpen(session)) return false;
      const key = await options.store.apiKey(session.keyId);
      return !!key && !key.revokedAt;
    };
    const onError = (error: unknown) => request.log.error({ err: error }, 'dashboard: live update failed');
    const intervalMs = options.server.dashboard.liveIntervalMs;
    if (query.view === 'mailbox') {
      const calendar = typeof query.calendar === 'string' ? query.calendar.trim().toLowerCase() : '';
      if (!ADDRESS.test(calendar) || calendar.length > 320) return reply.code(400).type('text/plain; charset=utf-8').send('calendar must be a mailbox address');
      const page = pageParam(query.page);
      return context.live.serve(request, reply, {
        intervalMs,
        open,
        onError,
        view: async () => {
          const detail = await readMailbox(sources, calendar, page);
          return detail ? mailboxView(detail) : { fields: {}, lists: {}, meters: {} };
        },
      });
    }
    return context.live.serve(request, reply, { intervalMs, open, onError, view: async () => overviewView(await readOverview(sources)) });
  });

  // --- Actions (admin) ---------------------------------------------------------------------------------------
  const deliverNow = (calendar: string) => (options.loop?.deliverNow ? options.loop.deliverNow(calendar) : options.loop?.nudge(calendar, 1));

  const mailboxAction = (word: 'deliver' | 'reinventory') =>
    async function (request: FastifyRequest, reply: FastifyReply) {
      const calendar = calendarParam(request);
      if (!calendar || !(await sources.store.hasCalendar(calendar))) return context.sendError(request, reply, 404, 'No such mailbox', 'calpush knows no mailbox with this address.');
      // Listing again: forget the inventory, so the next delivery lists the calendar first (as after a lost store).
      if (word === 'reinventory') await sources.store.invalidateInventory(calendar);
      deliverNow(calendar);
      request.log.info({ keyId: context.session(request).keyId, calendar }, word === 'deliver' ? 'dashboard: deliver now' : 'dashboard: re-inventory');
      return acted(request, reply, word, `/mailboxes/${encodeURIComponent(calendar)}`);
    };
  app.post('/mailboxes/:calendar/deliver', act, mailboxAction('deliver'));
  app.post('/mailboxes/:calendar/reinventory', act, mailboxAction('reinventory'));

  app.post('/connections/:calendar/disconnect', act, async (request, reply) => {
    const calendar = calendarParam(request);
    const delegated = options.delegated;
    if (!calendar || !delegated || !(await delegated.connections.disconnect(calendar, 'DisconnectedByAdmin', `disconnected on the dashboard (key ${context.session(request).keyId})`))) {
      return context.sendError(request, reply, 404, 'Not connected', 'There is no connected calendar with this address.');
    }
    request.log.info({ keyId: context.session(request).keyId, calendar }, 'dashboard: calendar disconnected');
    return acted(request, reply, 'disconnected', '/connections');
  });

  app.post('/keys', act, async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const scope = typeof body.scope === 'string' && ['read', 'write', 'admin', 'helpdesk'].includes(body.scope) ? (body.scope as ApiKeyScope) : null;
    if (!scope) return context.sendError(request, reply, 400, 'Bad request', 'Choose a scope: read, write, admin or helpdesk.');
    const name = typeof body.name === 'string' ? body.name.trim().slice(0, 200) : '';
    const calendars = typeof body.calendars === 'string' ? body.calendars.split(',').map((c) => c.trim()).filter(Boolean).slice(0, 100) : [];
    let created;
    try {
      created = await createApiKey(sources.store, { scope, name, ...(calendars.length ? { calendars } : {}), clock: options.clock });
    } catch (error) {
      if (error instanceof CalpushError) return context.sendError(request, reply, 400, 'Key not made', error.message);
      throw error;
    }
    request.log.info({ keyId: context.session(request).keyId, created: created.row.id, scope }, 'dashboard: API key made');
    const { hash: _hash, ...row } = created.row;
    return context.sendPage(reply, keysPage(frame(request, 'API keys', '/keys'), await readKeys(sources), { key: created.key, row }));
  });

  app.post('/keys/:id/revoke', act, async (request, reply) => {
    const id = (request.params as { id: string }).id;
    if (!/^[0-9a-f]{12}$/.test(id) || !(await sources.store.revokeApiKey(id))) {
      return context.sendError(request, reply, 404, 'No such key', 'There is no active API key with this id.');
    }
    sessions.endForKey(id);
    request.log.info({ keyId: context.session(request).keyId, revoked: id }, 'dashboard: API key revoked');
    // Revoking the key this session was opened with signs this browser out too.
    if (id === context.session(request).keyId) return reply.code(303).header('location', '/sign-in?notice=revoked').send();
    return acted(request, reply, 'revoked', '/keys');
  });
}
