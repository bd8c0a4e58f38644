// Shared set-up for the dashboard tests: the app over an in-memory store with admin, helpdesk, read and write keys,
// a stub delivery loop and scheduler that record what the dashboard asks of them, and sign-in through the form.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { fixedClock } from '../../src/model/clock.ts';
import { buildApp } from '../../src/server/app.ts';
import { createApiKey } from '../../src/server/auth.ts';
import type { ServerConfigInput } from '../../src/server/config.ts';
import type { DashboardScheduler, ThrottledMailbox } from '../../src/server/dashboard/data.ts';
import type { DeliveryLoopStatus } from '../../src/engine/loop.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { API_TEST_NOW, coreConfig } from './helpers.ts';

export interface DashboardFixture {
  app: FastifyInstance;
  store: SqliteStore;
  clock: ReturnType<typeof fixedClock>;
  keys: { admin: string; helpdesk: string; read: string; write: string };
  keyIds: { admin: string; helpdesk: string };
  /** What the dashboard asked the delivery loop: ["deliverNow a@…", …]. */
  asked: string[];
  loopStatus: DeliveryLoopStatus;
  throttled: ThrottledMailbox[];
  stats: { started: number; throttled: number };
  close(): Promise<void>;
}

export async function dashboardFixture(options: { server?: ServerConfigInput; feeds?: Map<string, string> } = {}): Promise<DashboardFixture> {
  const store = new SqliteStore(':memory:');
  const clock = fixedClock(API_TEST_NOW);
  const asked: string[] = [];
  const fixture = {
    loopStatus: { state: 'running', delivering: [], fatal: null, lastRunAt: null } as DeliveryLoopStatus,
    throttled: [] as ThrottledMailbox[],
    stats: { started: 0, throttled: 0 },
  };
  const scheduler: DashboardScheduler = {
    stats: () => ({ ...fixture.stats, retried: 0, maxInFlight: 0, maxInFlightPerMailbox: 0 }),
    throttledMailboxes: () => fixture.throttled,
  };
  const app = await buildApp({
    store,
    config: coreConfig(),
    server: parseServerConfig({ port: 0, ...options.server }),
    ...(options.feeds ? { feeds: options.feeds } : {}),
    loop: {
      nudge: (calendar?: string) => void asked.push(`nudge ${calendar}`),
      deliverNow: (calendar: string) => void asked.push(`deliverNow ${calendar}`),
      status: () => fixture.loopStatus,
    },
    scheduler,
    metrics: createMetrics({ store, defaultMetrics: false }),
    clock,
  });
  const admin = await createApiKey(store, { scope: 'admin', name: 'ops' });
  const helpdesk = await createApiKey(store, { scope: 'helpdesk', name: 'helpdesk' });
  const keys = {
    admin: admin.key,
    helpdesk: helpdesk.key,
    read: (await createApiKey(store, { scope: 'read' })).key,
    write: (await createApiKey(store, { scope: 'write' })).key,
  };
  return Object.assign(fixture, {
    app,
    store,
    clock,
    keys,
    keyIds: { admin: admin.row.id, helpdesk: helpdesk.row.id },
    asked,
    async close() {
      await app.close();
      await store.close();
    },
  });
}

export const FORM = 'application/x-www-form-urlencoded';

/** The cookies a response sets, name → "name=value". */
export function cookiesOf(response: LightMyRequestResponse): Map<string, string> {
  const raw = response.headers['set-cookie'];
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return new Map(list.map((c) => [c.split('=')[0]!, c.split(';')[0]!]));
}

export function csrfOf(body: string): string {
  const token = /name="_csrf" value="([^"]+)"/.exec(body)?.[1];
  if (!token) throw new Error('no CSRF token in the page');
  return token;
}

/** The sign-in form's pre-session cookie and token. */
export async function signInForm(app: FastifyInstance, headers: Record<string, string> = {}): Promise<{ cookie: string; token: string; response: LightMyRequestResponse }> {
  const response = await app.inject({ method: 'GET', url: '/sign-in', headers });
  const cookie = [...cookiesOf(response).values()].find((c) => c.includes('calpush_signin='))!;
  return { cookie, token: csrfOf(response.body), response };
}

export async function postSignIn(app: FastifyInstance, key: string, headers: Record<string, string> = {}, remoteAddress = '127.0.0.1'): Promise<LightMyRequestResponse> {
  const form = await signInForm(app, headers);
  return app.inject({
    method: 'POST',
    url: '/sign-in',
    remoteAddress,
    headers: { ...headers, cookie: form.cookie, 'content-type': FORM },
    payload: new URLSearchParams({ _csrf: form.token, key, next: '/' }).toString(),
  });
}

export interface Browser {
  cookie: string;
  csrf: string;
  get(url: string, extra?: Partial<InjectOptions>): Promise<LightMyRequestResponse>;
  post(url: string, form?: Record<string, string>, extra?: { headers?: Record<string, string> }): Promise<LightMyRequestResponse>;
}

/** Signs in with the key and returns a client that sends the session cookie (and, to post, the page's token). */
export async function signIn(app: FastifyInstance, key: string): Promise<Browser> {
  const response = await postSignIn(app, key);
  if (response.statusCode !== 303) throw new Error(`sign-in answered ${response.statusCode}: ${response.body}`);
  const cookie = cookiesOf(response).get('calpush_session')!;
  const overview = await app.inject({ method: 'GET', url: '/', headers: { cookie } });
  const csrf = csrfOf(overview.body);
  return {
    cookie,
    csrf,
    get: (url, extra = {}) => app.inject({ method: 'GET', url, ...extra, headers: { cookie, ...(extra.headers as Record<string, string> | undefined) } }),
    post: (url, form = { _csrf: csrf }, extra = {}) =>
      app.inject({ method: 'POST', url, headers: { cookie, 'content-type': FORM, ...extra.headers }, payload: new URLSearchParams(form).toString() }),
  };
}
