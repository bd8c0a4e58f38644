// What the dashboard is given (DashboardOptions, from serve) and what its routes share (DashboardContext, made by
// registerDashboard in index.ts and handed to routes.ts): in a module of their own, so that the routes need not
// import the module that registers them.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Config } from '../../app/config.ts';
import type { Clock } from '../../model/clock.ts';
import type { Store } from '../../store/store.ts';
import type { ConnectionStore } from '../../store/connections.ts';
import type { ApiKeyVerifier, FailedAuthentications } from '../auth.ts';
import type { ServerConfig } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import type { DashboardLoop, DashboardScheduler, DashboardSources } from './data.ts';
import type { Html } from './html.ts';
import type { LiveStreams } from './live.ts';
import type { DashboardSession, DashboardSessions } from './sessions.ts';

export interface DashboardOptions {
  store: Store;
  config: Config;
  server: ServerConfig;
  feeds: Map<string, string>;
  loop?: DashboardLoop | undefined;
  scheduler?: DashboardScheduler | undefined;
  /** The push API's failed authentications per address: sign-in failures count toward the same limit. */
  failures: FailedAuthentications;
  metrics: Metrics;
  clock: Clock;
  /** The push API's OpenAPI document. */
  openApi: () => Record<string, unknown>;
  /** How often the monitor samples (default 2 s). */
  sampleMs?: number;
  /** Delegated access: the people's connections and the link to connect a calendar. */
  delegated?: { connections: ConnectionStore; connectUrl: (calendar?: string) => string } | undefined;
}

export interface DashboardContext {
  sources: DashboardSources;
  options: DashboardOptions;
  sessions: DashboardSessions;
  verifier: ApiKeyVerifier;
  live: LiveStreams;
  /** The request's session (set by the gate for view and act routes). */
  session(request: FastifyRequest): DashboardSession;
  /** The session cookie's name for this request (__Host- prefixed over TLS). */
  cookieName(request: FastifyRequest, which: 'session' | 'signin'): string;
  sendPage(reply: FastifyReply, page: Html, status?: number): FastifyReply;
  sendError(request: FastifyRequest, reply: FastifyReply, status: number, title: string, message: string): FastifyReply;
}
