// The push API against hostile and sloppy clients: failed authentications limited per address, malformed
// requests answered without authenticating them or repeating them, wrong media types answered 415.
import net from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fixedClock } from '../../src/model/clock.ts';
import { buildApp } from '../../src/server/app.ts';
import { clientKey, createApiKey, FailedAuthentications } from '../../src/server/auth.ts';
import { createMetrics } from '../../src/server/metrics.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { apiFixture, CAL, coreConfig, eventBody, eventUrl, type ApiFixture } from './helpers.ts';

const json = (response: { body: string }) => JSON.parse(response.body);

describe('failed authentications per client address', () => {
  const clock = fixedClock('2026-03-02T10:00:00Z');
  let app: Awaited<ReturnType<typeof buildApp>>;
  let store: SqliteStore;
  let metrics: ReturnType<typeof createMetrics>;
  let key: string;
  beforeAll(async () => {
    store = new SqliteStore(':memory:');
    metrics = createMetrics({ store, defaultMetrics: false });
    app = await buildApp({ store, config: coreConfig(), server: parseServerConfig({ port: 0, authFailureLimit: 3, authFailureWindowSeconds: 60 }), metrics, clock });
    key = (await createApiKey(store, { scope: 'write' })).key;
  });
  afterAll(async () => {
    await app.close();
    await store.close();
  });

  const get = (remoteAddress: string, authorization?: string) =>
    app.inject({ method: 'GET', url: '/v1/calendars', remoteAddress, headers: authorization ? { authorization } : {} });

  it('answers 429 with Retry-After after authFailureLimit failures in the window; valid keys and other addresses go on', async () => {
    const attacker = '192.0.2.10';
    for (let i = 0; i < 3; i++) expect((await get(attacker, 'Bearer wrong')).statusCode).toBe(401);
    clock.advance(10_000);
    const limited = await get(attacker, 'Bearer wrong');
    expect(limited.statusCode).toBe(429);
    expect(limited.headers['retry-after']).toBe('50');
    expect(limited.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(json(limited)).toMatchObject({ status: 429, type: '/docs#problem-too-many-requests' });
    expect((await get(attacker)).statusCode).toBe(429);

    // A valid key from the same address (a shared NAT) is served, and does not count.
    expect((await get(attacker, `Bearer ${key}`)).statusCode).toBe(200);
    expect((await app.inject({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: eventBody(1), remoteAddress: attacker, headers: { authorization: `Bearer ${key}` } })).statusCode).toBe(202);
    // Another address is not affected.
    expect((await get('192.0.2.11', 'Bearer wrong')).statusCode).toBe(401);

    // Once the oldest of its latest failures has left the window, the address gets one more try.
    clock.advance(50_000);
    expect((await get(attacker, 'Bearer wrong')).statusCode).toBe(401);
    expect((await get(attacker, 'Bearer wrong')).statusCode).toBe(429);

    const text = await metrics.registry.metrics();
    expect(text).toMatch(/^calpush_api_auth_rate_limited_total 3$/m);
    expect(text).toMatch(/^calpush_api_auth_failures_total\{reason="unknown"\} 7$/m);
    expect(text).toMatch(/^calpush_api_auth_failures_total\{reason="missing"\} 1$/m);
  });

  it('the contract lists 429 on every route that needs a key', async () => {
    const document = json(await app.inject({ method: 'GET', url: '/openapi.json', headers: { authorization: `Bearer ${key}` } }));
    expect(document.paths['/v1/calendars/{calendar}/events/{eventId}'].put.responses['429'].headers['Retry-After']).toBeDefined();
    expect(document.paths['/v1/health'].get.responses['429']).toBeUndefined();
  });

  it('successful requests never count towards the limit', async () => {
    const busy = '192.0.2.20';
    for (let i = 0; i < 50; i++) expect((await get(busy, `Bearer ${key}`)).statusCode).toBe(200);
    expect((await get(busy, 'Bearer wrong')).statusCode).toBe(401);
  });

  it('counts IPv6 clients per /64 and IPv4-mapped ones as IPv4; remembers a bounded number of addresses', () => {
    expect(clientKey('2001:db8:1:2:aaaa::1')).toBe(clientKey('2001:db8:1:2:bbbb:cccc:dddd:eeee'));
    expect(clientKey('2001:db8:1:2::1')).not.toBe(clientKey('2001:db8:1:3::1'));
    expect(clientKey('2001:0db8:0001:0002::1')).toBe(clientKey('2001:db8:1:2::9'));
    expect(clientKey('::ffff:192.0.2.1')).toBe('192.0.2.1');
    const limiter = new FailedAuthentications({ max: 2, windowMs: 60_000 }, fixedClock(0), 100);
    for (let i = 0; i < 10_000; i++) limiter.record(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    expect(limiter.size).toBe(100);
    const off = new FailedAuthentications({ max: 0, windowMs: 60_000 });
    for (let i = 0; i < 100; i++) off.record('192.0.2.1');
    expect(off.retryAfterMs('192.0.2.1')).toBe(0);
  });
});

/** Sends raw bytes (what no HTTP client library would send) and returns the raw answer. */
function raw(port: number, request: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString('latin1')));
    socket.on('close', () => resolve(answer));
    socket.on('error', () => {});
  });
}

describe('malformed requests', () => {
  let f: ApiFixture;
  let port: number;
  beforeAll(async () => {
    f = await apiFixture({ server: { authFailureLimit: 1000 } });
    await f.app.listen({ port: 0, host: '127.0.0.1' });
    port = (f.app.server.address() as net.AddressInfo).port;
  });
  afterAll(async () => {
    await f.close();
  });

  const malformed: Array<[string, string]> = [
    ['bad percent-encoding', '/v1/calendars/SECRET%E0%A4%A/events/x'],
    ['a broken escape', '/v1/calendars/SECRET%ZZ@contoso.edu'],
    ['a 2 KB path part', `/v1/calendars/SECRET${'a'.repeat(2100)}@contoso.edu/events/x`],
  ];

  it('are answered 401 before anything else when unauthenticated, and never repeat the URL', async () => {
    for (const [what, path] of malformed) {
      const answer = await raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(answer, what).toMatch(/^HTTP\/1\.1 401 /);
      expect(answer, what).toMatch(/content-type: application\/problem\+json/i);
      expect(answer, what).not.toContain('SECRET');
    }
  });

  it('are answered 400 or 414 (problem+json, without the URL) once authenticated', async () => {
    const auth = `Authorization: Bearer ${f.keys.write}\r\n`;
    const [bad, broken, long] = await Promise.all(malformed.map(([, path]) => raw(port, `GET ${path} HTTP/1.1\r\nHost: x\r\n${auth}Connection: close\r\n\r\n`)));
    expect(bad).toMatch(/^HTTP\/1\.1 400 /);
    expect(bad).toContain('"type":"/docs#problem-invalid-request"');
    expect(broken).toMatch(/^HTTP\/1\.1 400 /);
    expect(long).toMatch(/^HTTP\/1\.1 414 /);
    expect(long).toContain('"type":"/docs#problem-uri-too-long"');
    for (const answer of [bad, broken, long]) expect(answer).not.toContain('SECRET');
  });

  it('a request head over 16 KB is 431 problem+json and the connection closed, before the request exists', async () => {
    const header = await raw(port, `GET /v1/calendars HTTP/1.1\r\nHost: x\r\nX-Padding: ${'SECRET'.repeat(3000)}\r\n\r\n`);
    expect(header).toMatch(/^HTTP\/1\.1 431 /);
    expect(header).toContain('"type":"/docs#problem-header-too-large"');
    expect(header).not.toContain('SECRET');
    const url = await raw(port, `GET /v1/calendars/${'SECRET'.repeat(3000)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(url).toMatch(/^HTTP\/1\.1 431 /);
    expect(url).not.toContain('SECRET');
    const garbage = await raw(port, 'NOT HTTP AT ALL SECRET\r\n\r\n');
    expect(garbage).toMatch(/^HTTP\/1\.1 400 /);
    expect(garbage).not.toContain('SECRET');
  });

  it('count as failed authentications', async () => {
    const limited = await apiFixture({ server: { authFailureLimit: 2 } });
    try {
      await limited.app.listen({ port: 0, host: '127.0.0.1' });
      const limitedPort = (limited.app.server.address() as net.AddressInfo).port;
      const statuses: string[] = [];
      for (let i = 0; i < 3; i++) statuses.push((await raw(limitedPort, `GET /v1/calendars/%ZZ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`)).slice(9, 12));
      expect(statuses).toEqual(['401', '401', '429']);
    } finally {
      await limited.close();
    }
  });
});

describe('media types', () => {
  let f: ApiFixture;
  beforeAll(async () => {
    f = await apiFixture();
  });
  afterEach(async () => {
    expect(await f.store.desiredFor(CAL)).toEqual([]);
  });
  afterAll(async () => {
    await f.close();
  });

  it('text/plain and other types are 415 problem+json on every route with a body, saying what the route takes', async () => {
    const cases = [
      { method: 'PUT' as const, url: eventUrl(CAL, 'a'), takes: /one JSON event \(application\/json\)/ },
      { method: 'PUT' as const, url: `/v1/calendars/${encodeURIComponent(CAL)}/events`, takes: /application\/json\) or NDJSON lines/ },
      { method: 'POST' as const, url: '/v1/events/batch', takes: /application\/json\) or NDJSON lines/ },
    ];
    for (const { method, url, takes } of cases) {
      for (const type of ['text/plain', 'text/plain; charset=utf-8', 'application/x-www-form-urlencoded', 'application/xml', 'multipart/form-data; boundary=x']) {
        const response = await f.call({ method, url, payload: '{"subject":"x"}', headers: { 'content-type': type } });
        expect(response.statusCode, `${method} ${url} ${type}`).toBe(415);
        expect(response.headers['content-type']).toMatch(/^application\/problem\+json/);
        expect(json(response)).toMatchObject({ status: 415, type: '/docs#problem-unsupported-media-type' });
        expect(json(response).detail).toMatch(takes);
      }
    }
  });

  it('NDJSON sent to the single-event PUT is 415 naming the routes that take it, not an internal field', async () => {
    const line = JSON.stringify({ subject: 'x', start: '2026-09-01T09:00', end: '2026-09-01T10:00', timeZone: 'UTC' });
    for (const type of ['application/x-ndjson', 'application/ndjson', 'application/jsonl']) {
      const response = await f.call({ method: 'PUT', url: eventUrl(CAL, 'a'), payload: `${line}\n${line}\n`, headers: { 'content-type': type } });
      expect(response.statusCode, type).toBe(415);
      expect(json(response).detail).toMatch(/one JSON event .* send many events as NDJSON to PUT \/v1\/calendars\/\{calendar\}\/events or POST \/v1\/events\/batch/);
      expect(response.body).not.toContain('Unrecognized key');
    }
  });

  it('a body on a route that takes none is 415; the unauthenticated get 401 first', async () => {
    const response = await f.call({ method: 'DELETE', url: eventUrl(CAL, 'a'), payload: 'x', headers: { 'content-type': 'text/plain' } });
    expect(response.statusCode).toBe(415);
    expect(json(response).detail).toBe('this route takes no body, not a body of type text/plain');
    const anonymous = await f.call({ key: null, method: 'PUT', url: eventUrl(CAL, 'a'), payload: 'x', headers: { 'content-type': 'text/plain' } });
    expect(anonymous.statusCode).toBe(401);
  });
});
