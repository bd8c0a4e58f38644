// Every HTTP client of calpush against a hostile server (test/hostile/hostile-server.ts): 600 MB of answer, an
// endless trickle, a 600 MB Content-Length. Each must stop reading at its limit (the bytes the server got out
// and the process's memory stay bounded) or at its time limit, and say clearly what happened.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.ts';
import { startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { generateServerCertificate } from '../../src/sandbox/tls.ts';
import { AddressPolicy, fetchFeed, FeedError } from '../../src/sources/feeds.ts';
import { CalDavTarget } from '../../src/targets/caldav/target.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { DEFAULT_MAX_RESPONSE_BYTES, HttpClient } from '../../src/targets/http.ts';
import { TargetError } from '../../src/targets/target.ts';
import { hostileServer, measured, MiB, type HostileMode, type HostileServer } from './hostile-server.ts';

/** What a bounded client may let through beyond its limit: chunks in flight and the sockets' buffers on loopback. */
const SLACK = 16 * MiB;

async function expectTargetError(promise: Promise<unknown>, code: string): Promise<TargetError> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error, `expected a TargetError ${code}`).toBeInstanceOf(TargetError);
  expect((error as TargetError).code).toBe(code);
  return error as TargetError;
}

describe('the targets’ HTTP client', () => {
  const servers: HostileServer[] = [];
  const serve = async (mode: HostileMode) => {
    const server = await hostileServer({ mode });
    servers.push(server);
    return server;
  };
  afterAll(async () => {
    for (const server of servers) await server.close();
  });

  it('cuts a 600 MB answer at the default limit (32 MiB): memory stays bounded, the error names host, limit and setting', async () => {
    const server = await serve('huge');
    const client = new HttpClient({ timeoutMs: 30_000 });
    try {
      const { outcome, rssGrowth } = await measured(() => expectTargetError(client.request({ method: 'GET', url: `${server.url}/big` }), 'AnswerTooLarge'));
      expect(outcome.status).toBe('fulfilled');
      const error = (outcome as PromiseFulfilledResult<TargetError>).value;
      expect(error.scope).toBe('mailbox');
      expect(error.message).toContain(new URL(server.url).host);
      expect(error.message).toContain(String(DEFAULT_MAX_RESPONSE_BYTES));
      expect(error.message).toContain('target.maxResponseBytes');
      expect(error.remedy).toMatch(/raise target\.maxResponseBytes/);
      expect(server.sent()).toBeLessThan(DEFAULT_MAX_RESPONSE_BYTES + SLACK);
      expect(rssGrowth).toBeLessThan(256 * MiB);
    } finally {
      client.close();
    }
  }, 20_000);

  it('refuses a Content-Length over the limit before reading the body', async () => {
    const server = await serve('huge-length');
    const client = new HttpClient({ timeoutMs: 30_000, maxResponseBytes: MiB });
    try {
      const error = await expectTargetError(client.request({ method: 'GET', url: `${server.url}/big` }), 'AnswerTooLarge');
      expect(error.message).toContain(`${600 * MiB} bytes (its Content-Length)`);
    } finally {
      client.close();
    }
  });

  it('ends an endless trickle after timeoutMs for the whole answer, though no second is ever silent', async () => {
    const server = await serve('trickle');
    const client = new HttpClient({ timeoutMs: 1000 });
    try {
      const started = performance.now();
      const error = await expectTargetError(client.request({ method: 'GET', url: `${server.url}/slow` }), 'AnswerTooSlow');
      expect(performance.now() - started).toBeLessThan(5000);
      expect(error.scope).toBe('transient');
      expect(error.message).toMatch(/did not complete its answer within 1000 ms/);
      expect(error.remedy).toMatch(/requestTimeoutMs/);
    } finally {
      client.close();
    }
  }, 15_000);

  it('still reads ordinary answers, and keeps the connection for the next request', async () => {
    let connections = 0;
    const body = JSON.stringify({ value: Array.from({ length: 1000 }, (_, i) => ({ id: `AAMkAD${i}`.padEnd(150, 'x'), changeKey: 'DwAAABYAAA' })) });
    const server: Server = createServer((_request, response) => response.writeHead(200, { 'content-type': 'application/json' }).end(body));
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = new HttpClient({ timeoutMs: 5000, maxResponseBytes: 1024 * 1024 });
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
      for (let i = 0; i < 3; i++) expect((await client.request({ method: 'GET', url })).body).toBe(body);
      expect(connections).toBe(1);
    } finally {
      client.close();
      server.close();
    }
  });

  it('a smaller limit for one request (a token endpoint’s) names no setting', async () => {
    const server = await serve('huge');
    const client = new HttpClient({ timeoutMs: 30_000 });
    try {
      const error = await expectTargetError(client.request({ method: 'GET', url: `${server.url}/token`, maxResponseBytes: 1024 * 1024 }), 'AnswerTooLarge');
      expect(error.message).toContain('at most 1048576 bytes for this kind of answer');
      expect(server.sent()).toBeLessThan(MiB + SLACK);
    } finally {
      client.close();
    }
  });
});

describe('Microsoft Graph and its token endpoint', () => {
  let sandbox: Sandbox;
  let tls: { certPem: string; keyPem: string };
  beforeAll(async () => {
    sandbox = await startSandbox();
    tls = generateServerCertificate();
  });
  afterAll(async () => {
    await sandbox.close();
  });

  const graphTarget = (graphBaseUrl: string, extra: { authorityHost?: string; caPem?: string; requestTimeoutMs?: number; maxResponseBytes?: number } = {}) =>
    new GraphTarget({
      instance: 'hostile',
      tenantId: sandbox.tenantId,
      clientId: sandbox.demoCredentials.clientId,
      credential: { kind: 'secret', secret: sandbox.demoCredentials.clientSecret },
      authorityHost: extra.authorityHost ?? sandbox.url,
      graphBaseUrl,
      scope: 'https://graph.microsoft.com/.default',
      caPem: extra.caPem ?? sandbox.caPem,
      allDayTimeZone: 'Europe/Amsterdam',
      ...(extra.requestTimeoutMs ? { requestTimeoutMs: extra.requestTimeoutMs } : {}),
      ...(extra.maxResponseBytes ? { maxResponseBytes: extra.maxResponseBytes } : {}),
    });

  it('a listing page of 600 MB stops the mailbox at maxResponseBytes', async () => {
    const server = await hostileServer({ mode: 'huge', contentType: 'application/json' });
    const target = graphTarget(`${server.url}/v1.0`, { maxResponseBytes: 4 * MiB });
    try {
      const { outcome, rssGrowth } = await measured(() => expectTargetError(target.listOwned('s0001@contoso.edu'), 'AnswerTooLarge'));
      expect(outcome.status).toBe('fulfilled');
      expect((outcome as PromiseFulfilledResult<TargetError>).value.scope).toBe('mailbox');
      expect(server.sent()).toBeLessThan(4 * MiB + SLACK);
      expect(rssGrowth).toBeLessThan(256 * MiB);
    } finally {
      await target.close();
      await server.close();
    }
  }, 20_000);

  it('a trickling listing page is cut after requestTimeoutMs', async () => {
    const server = await hostileServer({ mode: 'trickle', contentType: 'application/json' });
    const target = graphTarget(`${server.url}/v1.0`, { requestTimeoutMs: 1500 });
    try {
      const started = performance.now();
      await expectTargetError(target.listOwned('s0001@contoso.edu'), 'AnswerTooSlow');
      expect(performance.now() - started).toBeLessThan(6000);
    } finally {
      await target.close();
      await server.close();
    }
  }, 15_000);

  it('a token endpoint host that answers 600 MB is cut at 1 MiB and reported as a token failure', async () => {
    const server = await hostileServer({ mode: 'huge', tls, contentType: 'application/json' });
    const target = graphTarget(`${server.url}/v1.0`, { authorityHost: server.url, caPem: tls.certPem });
    try {
      const error = await target.listOwned('s0001@contoso.edu').then(
        () => null,
        (e: unknown) => e as TargetError,
      );
      expect(error).toBeInstanceOf(TargetError);
      expect(error!.scope).toBe('fatal');
      expect(error!.code).toBe('AnswerTooLarge');
      expect(error!.message).toMatch(/^could not get a token for Microsoft Graph: 127\.0\.0\.1:\d+ sent an answer of more than 1048576 bytes/);
      expect(server.sent()).toBeLessThan(MiB + SLACK);
    } finally {
      await target.close();
      await server.close();
    }
  });
});

describe('Exchange Web Services', () => {
  const ewsTarget = (url: string, extra: { requestTimeoutMs?: number; maxResponseBytes?: number } = {}) =>
    new EwsTarget({
      instance: 'hostile',
      url: `${url}/EWS/Exchange.asmx`,
      serverVersion: 'Exchange2016',
      access: 'delegate',
      auth: 'basic',
      accounts: [{ username: 'svc-calpush', password: 'not-a-secret' }],
      allowInsecureHttp: true,
      allDayTimeZone: 'Europe/Amsterdam',
      busyRetries: 0,
      log: () => {},
      ...extra,
    });

  it('a FindItem answer of 600 MB (once 2.6 GB and a crash) is cut at the default limit', async () => {
    const server = await hostileServer({ mode: 'huge', contentType: 'text/xml; charset=utf-8' });
    const target = ewsTarget(server.url);
    try {
      const { outcome, rssGrowth } = await measured(() => expectTargetError(target.listOwned('s0001@contoso.edu'), 'AnswerTooLarge'));
      expect(outcome.status).toBe('fulfilled');
      expect((outcome as PromiseFulfilledResult<TargetError>).value.message).toContain('target.maxResponseBytes');
      expect(server.sent()).toBeLessThan(DEFAULT_MAX_RESPONSE_BYTES + SLACK);
      expect(rssGrowth).toBeLessThan(256 * MiB);
    } finally {
      await target.close();
      await server.close();
    }
  }, 20_000);

  it('a huge Content-Length is refused at the headers', async () => {
    const server = await hostileServer({ mode: 'huge-length', contentType: 'text/xml; charset=utf-8' });
    const target = ewsTarget(server.url, { maxResponseBytes: MiB });
    try {
      const error = await expectTargetError(target.listOwned('s0001@contoso.edu'), 'AnswerTooLarge');
      expect(error.message).toMatch(/Content-Length/);
    } finally {
      await target.close();
      await server.close();
    }
  });

  it('an endless trickle is cut after requestTimeoutMs', async () => {
    const server = await hostileServer({ mode: 'trickle', contentType: 'text/xml; charset=utf-8' });
    const target = ewsTarget(server.url, { requestTimeoutMs: 1000 });
    try {
      const started = performance.now();
      await expectTargetError(target.listOwned('s0001@contoso.edu'), 'AnswerTooSlow');
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await target.close();
      await server.close();
    }
  }, 15_000);
});

describe('CalDAV', () => {
  const caldavTarget = (url: string, extra: { requestTimeoutMs?: number; maxResponseBytes?: number } = {}) =>
    new CalDavTarget({
      instance: 'hostile',
      baseUrl: `${url}/dav/`,
      calendarUrlTemplate: 'calendars/{localpart}/timetable/',
      auth: { kind: 'basic', username: 'calpush', password: 'not-a-secret' },
      allDayTimeZone: 'Europe/Amsterdam',
      ...extra,
    });

  it('a 600 MB multi-status answer is cut at the default limit', async () => {
    const server = await hostileServer({ mode: 'huge', contentType: 'application/xml; charset=utf-8' });
    const target = caldavTarget(server.url);
    try {
      const { outcome, rssGrowth } = await measured(() => expectTargetError(target.listOwned('s0001@contoso.edu'), 'AnswerTooLarge'));
      expect(outcome.status).toBe('fulfilled');
      expect(server.sent()).toBeLessThan(DEFAULT_MAX_RESPONSE_BYTES + SLACK);
      expect(rssGrowth).toBeLessThan(256 * MiB);
    } finally {
      await target.close();
      await server.close();
    }
  }, 20_000);

  it('a huge Content-Length is refused at the headers, an endless trickle after requestTimeoutMs', async () => {
    const big = await hostileServer({ mode: 'huge-length', contentType: 'application/xml' });
    const slow = await hostileServer({ mode: 'trickle', contentType: 'application/xml' });
    const refusing = caldavTarget(big.url, { maxResponseBytes: MiB });
    const trickled = caldavTarget(slow.url, { requestTimeoutMs: 1000 });
    try {
      await expectTargetError(refusing.listOwned('s0001@contoso.edu'), 'AnswerTooLarge');
      expect(big.sent()).toBeLessThan(MiB);
      const started = performance.now();
      await expectTargetError(trickled.listOwned('s0001@contoso.edu'), 'AnswerTooSlow');
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await refusing.close();
      await trickled.close();
      await big.close();
      await slow.close();
    }
  }, 15_000);
});

describe('iCalendar feeds', () => {
  const options = (extra: Partial<Parameters<typeof fetchFeed>[1]> = {}) => ({ timeoutMs: 30_000, maxBytes: 2 * MiB, maxRedirects: 0, policy: new AddressPolicy(['127.0.0.1/32']), ...extra });
  const feedError = async (promise: Promise<unknown>): Promise<FeedError> => {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FeedError);
    return error as FeedError;
  };

  it('a 600 MB feed is cut at maxBytes while it streams, a huge Content-Length at the headers, a trickle at timeoutSeconds', async () => {
    const huge = await hostileServer({ mode: 'huge', contentType: 'text/calendar' });
    const length = await hostileServer({ mode: 'huge-length', contentType: 'text/calendar' });
    const trickle = await hostileServer({ mode: 'trickle', contentType: 'text/calendar' });
    try {
      const { outcome, rssGrowth } = await measured(() => feedError(fetchFeed(`${huge.url}/a.ics`, options())));
      expect((outcome as PromiseFulfilledResult<FeedError>).value.code).toBe('too-large');
      expect(huge.sent()).toBeLessThan(2 * MiB + SLACK);
      expect(rssGrowth).toBeLessThan(256 * MiB);
      expect((await feedError(fetchFeed(`${length.url}/a.ics`, options()))).message).toMatch(/629145600 bytes, more than feeds\.maxBytes/);
      const started = performance.now();
      expect((await feedError(fetchFeed(`${trickle.url}/a.ics`, options({ timeoutMs: 1000 })))).code).toBe('timeout');
      expect(performance.now() - started).toBeLessThan(5000);
    } finally {
      await huge.close();
      await length.close();
      await trickle.close();
    }
  }, 20_000);

  it('a gzip bomb (1 GB of blanks in 1 MB) is cut at maxBytes of inflated text', async () => {
    // 64 MiB of blanks compress to ~64 KB; sent 16 times over it would inflate to 1 GiB.
    const block = gzipSync(Buffer.alloc(64 * MiB, ' '));
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/calendar', 'content-encoding': 'gzip' });
      // Concatenated gzip members are one valid gzip stream (RFC 1952, section 2.2).
      let members = 0;
      const pump = () => {
        while (!response.destroyed && members < 16) {
          members++;
          if (!response.write(block)) return void response.once('drain', pump);
        }
        response.end();
      };
      pump();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/bomb.ics`;
      const { outcome, rssGrowth } = await measured(() => feedError(fetchFeed(url, options())));
      expect((outcome as PromiseFulfilledResult<FeedError>).value.code).toBe('too-large');
      expect((outcome as PromiseFulfilledResult<FeedError>).value.message).toMatch(/larger than feeds\.maxBytes/);
      expect(rssGrowth).toBeLessThan(256 * MiB);
    } finally {
      server.closeAllConnections();
      server.close();
    }
  });
});

describe('the maxResponseBytes setting', () => {
  const graph = { kind: 'graph', tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'UNUSED' } } };
  const ews = { kind: 'ews', url: 'https://mail.example.edu/EWS/Exchange.asmx', access: 'delegate', auth: 'basic', accounts: [{ username: 'svc', password: { env: 'UNUSED' } }] };
  const caldav = { kind: 'caldav', baseUrl: 'https://dav.example.edu/', calendarUrlTemplate: 'calendars/{localpart}/', auth: { kind: 'basic', username: 'u', password: { env: 'UNUSED' } } };

  it('defaults to 32 MiB for every target and is settable per target within 64 KiB … 256 MiB', () => {
    for (const target of [graph, ews, caldav]) {
      expect((parseConfig({ target }).target as { maxResponseBytes: number }).maxResponseBytes).toBe(DEFAULT_MAX_RESPONSE_BYTES);
      expect((parseConfig({ target: { ...target, maxResponseBytes: 128 * MiB } }).target as { maxResponseBytes: number }).maxResponseBytes).toBe(128 * MiB);
      expect(() => parseConfig({ target: { ...target, maxResponseBytes: 1000 } })).toThrow(/target\.maxResponseBytes: must be at least 65536/);
      expect(() => parseConfig({ target: { ...target, maxResponseBytes: 1024 * MiB } })).toThrow(/target\.maxResponseBytes: must be at most 268435456/);
    }
  });
});
