// The web dashboard of `calpush serve`, at /: the people who run calpush see mailboxes, errors with their fixes,
// throttling and progress, and an admin can deliver a mailbox now, list it again, and make and revoke API keys.
//
// Access: a person signs in with an API key of the admin or helpdesk scope, which is exchanged for a session
// (sessions.ts); every page, the live stream and the API docs need one — without it a page redirects to the
// sign-in page and anything else is answered 401 with no data. Only an admin may act; a helpdesk session sees
// everything and acts on nothing. Every POST carries the session's CSRF token. Sign-in failures count toward the
// push API's failed-authentication limit of the address (FailedAuthentications), so a key cannot be guessed here
// either.
//
// The dashboard is a fastify plugin of its own (encapsulated: its cookie and form parsing, hooks and error pages
// do not reach the push API's routes). Its routes carry auth "session", which the API's bearer-key hook leaves to
// this module.
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ApiKeyVerifier } from '../auth.ts';
import { asset, ASSET_PATHS } from './assets.ts';
import type { DashboardContext, DashboardOptions } from './context.ts';
import type { DashboardSources } from './data.ts';
import { LiveStreams } from './live.ts';
import { DeliveryMonitor } from './monitor.ts';
import { errorPage, type PageFrame } from './pages.ts';
import { registerPages } from './routes.ts';
import { DashboardSessions, tokensMatch, type DashboardSession } from './sessions.ts';

/** Who may reach a route: anyone (sign-in, assets), a session (pages), an admin session (actions). */
export type Access = 'public' | 'view' | 'act';

/**
 * The page's Content-Security-Policy (https://www.w3.org/TR/CSP3/): scripts, styles, images and connections only
 * from calpush itself — no inline script or style, no plugin, not framed. Swagger UI's stylesheet draws its icons
 * as data: SVG images, so its page allows those.
 */
export function contentSecurityPolicy(page: 'dashboard' | 'swagger'): string {
  const img = page === 'swagger' ? "img-src 'self' data:" : "img-src 'self'";
  return `default-src 'none'; script-src 'self'; style-src 'self'; ${img}; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'`;
}

/** What a dashboard route says in its config: `auth: 'session'` for the push API's hook, then who may reach it. */
export interface DashboardRouteConfig {
  auth: 'session';
  access: Access;
  csp?: 'dashboard' | 'swagger';
}

const routeConfig = (request: FastifyRequest): Partial<DashboardRouteConfig> => request.routeOptions.config as Partial<DashboardRouteConfig>;

export async function registerDashboard(app: FastifyInstance, options: DashboardOptions): Promise<void> {
  const settings = options.server.dashboard;
  const monitor = new DeliveryMonitor({
    ...(options.scheduler ? { stats: () => options.scheduler!.stats() } : {}),
    work: () => options.store.mailboxesWithWork(),
    clock: options.clock,
  });
  const sources: DashboardSources = { store: options.store, config: options.config, feeds: options.feeds, loop: options.loop, scheduler: options.scheduler, monitor };
  const sessions = new DashboardSessions(
    { idleMs: settings.sessionIdleMinutes * 60_000, maxAgeMs: settings.sessionMaxHours * 3_600_000, maxSessions: settings.maxSessions },
    options.clock,
  );
  const live = new LiveStreams(settings.maxLiveStreams);
  const bySession = new WeakMap<FastifyRequest, DashboardSession>();

  const context: DashboardContext = {
    sources,
    options,
    sessions,
    verifier: new ApiKeyVerifier(options.store, options.clock),
    live,
    session: (request) => bySession.get(request)!,
    cookieName: (request, which) => `${request.protocol === 'https' ? '__Host-' : ''}calpush_${which}`,
    sendPage: (reply, page, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(page.value),
    sendError: (request, reply, status, title, message) => {
      const frame: PageFrame = { title, session: bySession.get(request) ?? null };
      return reply.code(status).type('text/html; charset=utf-8').send(errorPage(frame, message).value);
    },
  };

  /** The session the request's cookie names, if it is open and its key still valid (not revoked meanwhile). */
  const currentSession = async (request: FastifyRequest): Promise<DashboardSession | null> => {
    const session = sessions.use(request.cookies[context.cookieName(request, 'session')]);
    if (!session) return null;
    const key = await options.store.apiKey(session.keyId);
    if (!key || key.revokedAt) {
      sessions.end(session.id);
      return null;
    }
    return session;
  };

  const refuseWithoutSession = (request: FastifyRequest, reply: FastifyReply) => {
    const wantsPage = request.method === 'GET' && (request.headers.accept ?? 'text/html').includes('text/html');
    if (wantsPage || (request.method === 'POST' && (request.headers.accept ?? '').includes('text/html'))) {
      const next = request.method === 'GET' ? request.url : '/';
      return reply.code(303).header('location', `/sign-in?next=${encodeURIComponent(next)}`).send();
    }
    return reply.code(401).type('text/plain; charset=utf-8').send('sign in at /sign-in');
  };

  await app.register(async (scope) => {
    await scope.register(cookie);
    await scope.register(formbody, { bodyLimit: 16 * 1024 });

    scope.addHook('onRequest', async (request, reply) => {
      const config = routeConfig(request);
      reply
        .header('content-security-policy', contentSecurityPolicy(config.csp ?? 'dashboard'))
        .header('x-content-type-options', 'nosniff')
        .header('x-frame-options', 'DENY')
        .header('referrer-policy', 'no-referrer')
        .header('cross-origin-opener-policy', 'same-origin')
        .header('cache-control', 'no-store');
      const access = config.access ?? 'view';
      if (access === 'public') return;
      const session = await currentSession(request);
      if (!session) return refuseWithoutSession(request, reply);
      bySession.set(request, session);
      if (access === 'act' && session.role !== 'admin') {
        return context.sendError(request, reply, 403, 'Not allowed', 'A helpdesk key sees everything but cannot act. Ask an admin, or sign in with an admin key.');
      }
    });

    // Every POST of a session carries the session's CSRF token (the sign-in form checks its own, in its handler).
    scope.addHook('preHandler', async (request, reply) => {
      if (request.method !== 'POST' || (routeConfig(request).access ?? 'view') === 'public') return;
      const token = (request.body as Record<string, unknown> | undefined)?._csrf;
      if (!tokensMatch(context.session(request).csrfToken, token)) {
        return context.sendError(request, reply, 403, 'Form expired', 'This form was not sent from a page of this session (its CSRF token is missing or wrong). Go back, reload the page and try again.');
      }
    });

    scope.setErrorHandler(async (error: Error & { statusCode?: number }, request, reply) => {
      const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
      if (status === 500) request.log.error({ err: error }, 'dashboard request failed');
      const message = status === 413 ? 'The form is larger than the dashboard accepts.' : status === 500 ? 'The page failed inside calpush; the log says why.' : 'The request could not be read.';
      return context.sendError(request, reply, status, status === 500 ? 'Something went wrong' : 'Bad request', message);
    });

    for (const path of ASSET_PATHS) {
      scope.get(path, { config: { auth: 'session', access: 'public' } }, async (request, reply) => {
        const file = asset(path)!;
        reply.header('cache-control', 'no-cache').header('etag', file.etag);
        if (request.headers['if-none-match'] === file.etag) return reply.code(304).send();
        return reply.type(file.type).send(file.body);
      });
    }

    registerPages(scope, context);
  });

  app.addHook('onReady', async () => monitor.start(options.sampleMs ?? 2_000));
  app.addHook('preClose', async () => {
    live.closeAll();
    await monitor.stop();
  });
}
