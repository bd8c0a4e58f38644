// The consent pages of `calpush serve` (target kind "graph-delegated"): /connect (and its callback
// /connect/callback, the redirect URI `calpush setup graph-delegated` registers as `<server.publicUrl>/connect/callback`)
// and /disconnect. A fastify plugin of its own (cookies and forms do not reach the push API's routes); its routes
// carry auth "none" for the API's key hook: a person signs in with Microsoft, not with a calpush key.
import cookie from '@fastify/cookie';
import formbody from '@fastify/formbody';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Clock } from '../../model/clock.ts';
import type { ConnectionStore } from '../../store/connections.ts';
import type { ConsentClient } from '../../targets/graph/consent.ts';
import type { Html } from '../dashboard/html.ts';
import { ConsentFlow } from './flow.ts';
import { connectedPage, connectPage, CONSENT_CSS, CONSENT_CSS_ETAG, disconnectedPage, disconnectPage, refusedPage } from './pages.ts';

export interface ConsentOptions {
  store: ConnectionStore;
  client: ConsentClient;
  clock: Clock;
  instance: string;
  /** server.publicUrl: the origin people reach calpush at; else the request's own. */
  publicUrl: string | undefined;
  /** Entra ID's origin (the sign-in form is there): allowed as a form's destination by the CSP. */
  authorityOrigin: string;
  mailboxes: Set<string> | null;
  knows: (calendar: string) => Promise<boolean>;
  onConnected?: (calendar: string) => void;
  /** Sign-ins one address may start per minute (a bound on what a stranger can make calpush store). */
  startsPerMinute?: number;
}

const ADDRESS = /^[^\s@/]+@[^\s@/]+$/;
const BINDING_COOKIE = 'calpush_consent';

/** The mailbox a form or link names, lower case; null when none or not an address. */
function mailboxOf(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const calendar = value.trim().toLowerCase();
  return calendar && calendar.length <= 320 && ADDRESS.test(calendar) ? calendar : null;
}

/** At most `max` sign-ins started per address per minute; the table of addresses is bounded too. */
class StartLimiter {
  private readonly starts = new Map<string, number[]>();
  private readonly max: number;
  private readonly clock: Clock;
  constructor(max: number, clock: Clock) {
    this.max = max;
    this.clock = clock;
  }
  allow(address: string): boolean {
    const now = this.clock.now();
    const recent = (this.starts.get(address) ?? []).filter((t) => t > now - 60_000);
    if (recent.length >= this.max) return false;
    recent.push(now);
    this.starts.delete(address);
    this.starts.set(address, recent);
    if (this.starts.size > 10_000) this.starts.delete(this.starts.keys().next().value!);
    return true;
  }
}

export async function registerConsent(app: FastifyInstance, options: ConsentOptions): Promise<void> {
  const flow = new ConsentFlow({ store: options.store, client: options.client, clock: options.clock, mailboxes: options.mailboxes, knows: options.knows, ...(options.onConnected ? { onConnected: options.onConnected } : {}) });
  const limiter = new StartLimiter(options.startsPerMinute ?? 20, options.clock);
  const origin = (request: FastifyRequest) => options.publicUrl ?? `${request.protocol}://${request.host}`;
  const redirectUri = (request: FastifyRequest) => `${origin(request)}/connect/callback`;
  const page = (reply: FastifyReply, body: Html, status = 200) => reply.code(status).type('text/html; charset=utf-8').send(body.value);
  const secure = (request: FastifyRequest) => origin(request).startsWith('https:');
  const config = { auth: 'none' as const };

  await app.register(async (scope) => {
    await scope.register(cookie);
    await scope.register(formbody, { bodyLimit: 4 * 1024 });
    scope.addHook('onRequest', async (_request, reply) => {
      // Forms go to calpush and, by the redirect that follows, to Entra ID's sign-in (CSP form-action covers redirects).
      reply
        .header('content-security-policy', `default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' ${options.authorityOrigin}; frame-ancestors 'none'; base-uri 'none'`)
        .header('x-content-type-options', 'nosniff')
        .header('x-frame-options', 'DENY')
        .header('referrer-policy', 'no-referrer')
        .header('cache-control', 'no-store');
    });

    scope.get('/connect/style.css', { config }, async (request, reply) => {
      reply.header('cache-control', 'no-cache').header('etag', CONSENT_CSS_ETAG);
      if (request.headers['if-none-match'] === CONSENT_CSS_ETAG) return reply.code(304).send();
      return reply.type('text/css; charset=utf-8').send(CONSENT_CSS);
    });

    scope.get('/connect', { config }, async (request, reply) => page(reply, connectPage({ instance: options.instance }, mailboxOf((request.query as { mailbox?: unknown }).mailbox))));
    scope.get('/disconnect', { config }, async (_request, reply) => page(reply, disconnectPage()));

    const start = (purpose: 'connect' | 'disconnect') =>
      async function (request: FastifyRequest, reply: FastifyReply) {
        if (!limiter.allow(request.ip)) {
          return page(reply.header('retry-after', '60'), refusedPage('Too many sign-ins', 'Too many sign-ins were started from this address in the last minute. Wait a minute and start again.', `/${purpose}`), 429);
        }
        const calendar = purpose === 'connect' ? mailboxOf((request.body as { mailbox?: unknown } | undefined)?.mailbox) : null;
        const { url, binding } = await flow.start(purpose, calendar, redirectUri(request));
        // Lax: the cookie must come back on Entra ID's top-level redirect to the callback (a cross-site GET).
        reply.setCookie(BINDING_COOKIE, binding, { path: '/', httpOnly: true, sameSite: 'lax', secure: secure(request), maxAge: 15 * 60 });
        request.log.info({ purpose, calendar }, 'consent: sign-in started');
        return reply.code(303).header('location', url).send();
      };
    scope.post('/connect', { config }, start('connect'));
    scope.post('/disconnect', { config }, start('disconnect'));

    scope.get('/connect/callback', { config }, async (request, reply) => {
      const query = request.query as Record<string, string | undefined>;
      const outcome = await flow.finish(query, request.cookies[BINDING_COOKIE], redirectUri(request));
      reply.clearCookie(BINDING_COOKIE, { path: '/', httpOnly: true, sameSite: 'lax', secure: secure(request) });
      switch (outcome.kind) {
        case 'connected':
          request.log.info({ calendar: outcome.calendar }, 'consent: calendar connected');
          return page(reply, connectedPage(outcome.calendar, outcome.username, outcome.others));
        case 'disconnected':
          request.log.info({ calendars: outcome.calendars }, 'consent: disconnected by the person');
          return page(reply, disconnectedPage(outcome.calendars, outcome.username));
        case 'refused':
          request.log.warn({ title: outcome.title }, 'consent: sign-in refused');
          return page(reply, refusedPage(outcome.title, outcome.message, '/connect'), outcome.status);
      }
    });
  });
}
