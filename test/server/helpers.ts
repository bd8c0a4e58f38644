// Shared set-up for the push API tests: an app over an in-memory store, keys of every kind, a stub delivery loop.
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import { parseConfig, type Config } from '../../src/app/config.ts';
import { fixedClock, type Clock } from '../../src/model/clock.ts';
import { validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { buildApp } from '../../src/server/app.ts';
import { createApiKey } from '../../src/server/auth.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import type { ServerConfigInput } from '../../src/server/config.ts';
import type { DeliveryLoopStatus } from '../../src/engine/loop.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';

export const coreConfig = (extra: Record<string, unknown> = {}): Config =>
  parseConfig({
    instance: 'api-test',
    timeZone: 'Europe/Amsterdam',
    target: { kind: 'graph', tenantId: 'tenant', clientId: 'client', credential: { kind: 'secret', secret: { env: 'UNUSED_SECRET' } } },
    ...extra,
  });

export interface ApiFixture {
  app: FastifyInstance;
  store: SqliteStore;
  keys: { write: string; read: string; rooms: string; revoked: string };
  nudges: string[];
  call(options: InjectOptions & { key?: keyof ApiFixture['keys'] | null }): Promise<LightMyRequestResponse>;
  close(): Promise<void>;
}

/** "Now" for the API tests: before every event they write (December 2026), so retention keeps none of them. */
export const API_TEST_NOW = '2026-11-01T00:00:00Z';

export async function apiFixture(
  options: { mailboxes?: string[]; feeds?: Map<string, string>; server?: ServerConfigInput; clock?: Clock; config?: Record<string, unknown> } = {},
): Promise<ApiFixture> {
  const store = new SqliteStore(':memory:');
  const config = coreConfig({ ...(options.mailboxes ? { mailboxes: options.mailboxes } : {}), ...options.config });
  const nudges: string[] = [];
  const loop = {
    nudge: (calendar?: string) => void (calendar && nudges.push(calendar)),
    status: (): DeliveryLoopStatus => ({ state: 'running', delivering: [], fatal: null, lastRunAt: null }),
  };
  const app = await buildApp({
    store,
    config,
    server: parseServerConfig({ port: 0, ...options.server }),
    ...(options.feeds ? { feeds: options.feeds } : {}),
    loop,
    metrics: createMetrics({ store, defaultMetrics: false }),
    clock: options.clock ?? fixedClock(API_TEST_NOW),
  });
  const keys = {
    write: (await createApiKey(store, { scope: 'write', name: 'writer' })).key,
    read: (await createApiKey(store, { scope: 'read', name: 'reader' })).key,
    rooms: (await createApiKey(store, { scope: 'write', calendars: ['room-*@contoso.edu', '*@rooms.contoso.edu'] })).key,
    revoked: '',
  };
  const revoked = await createApiKey(store, { scope: 'write' });
  await store.revokeApiKey(revoked.row.id);
  keys.revoked = revoked.key;
  return {
    app,
    store,
    keys,
    nudges,
    call({ key = 'write', ...inject }) {
      const headers = { ...(inject.headers ?? {}) } as Record<string, string>;
      if (key) headers.authorization = `Bearer ${keys[key]}`;
      return app.inject({ ...inject, headers });
    },
    async close() {
      await app.close();
      await store.close();
    },
  };
}

export const CAL = 's0001@contoso.edu';
export const ROOM = 'room-a-101@contoso.edu';

export function eventBody(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const day = String(1 + (n % 28)).padStart(2, '0');
  return { subject: `Lecture ${n}`, start: `2026-12-${day}T09:00`, end: `2026-12-${day}T10:45`, timeZone: 'Europe/Amsterdam', location: `Room ${n}`, ...extra };
}

export function desired(calendar: string, id: string, extra: Record<string, unknown> = {}): DesiredEvent {
  const result = validateEvent({ calendar, id, ...eventBody(1), ...extra });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.desired;
}

export const eventUrl = (calendar: string, id: string) => `/v1/calendars/${encodeURIComponent(calendar)}/events/${encodeURIComponent(id)}`;
export const calendarUrl = (calendar: string) => `/v1/calendars/${encodeURIComponent(calendar)}`;
