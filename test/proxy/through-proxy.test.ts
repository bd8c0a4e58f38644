// Outbound traffic through a real HTTP proxy the test starts on loopback (test/support/test-proxy.ts), shown by the
// proxy's own log: Microsoft Graph and its token endpoint (the sandbox), EWS with NTLM inside one kept-alive CONNECT
// tunnel per connection (the sandbox), CalDAV as absolute-URI requests (Radicale), a feed — and NO_PROXY bypassing it.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTarget } from '../../src/app/targets.ts';
import { parseConfig } from '../../src/app/config.ts';
import { environmentProxy, resolveProxy, type ProxyConfig } from '../../src/config/proxy.ts';
import { defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { AddressPolicy, FeedError, FeedPoller, feedsConfigSchema, fetchFeed } from '../../src/sources/feeds.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { TargetError } from '../../src/targets/target.ts';
import { address, useServer } from '../caldav/harness.ts';
import { usableStudents } from '../e2e/harness.ts';
import { startProxy, type TestProxy } from '../support/test-proxy.ts';
import { event } from '../targets/contract.ts';
import { rejection } from '../support/rejection.ts';
import { sandboxGraphOptions } from '../support/sandbox-graph.ts';

const seed = defaultTenantSeed();
const students = usableStudents(seed);
let sandbox: SandboxInternals;
let proxy: TestProxy;
let guarded: TestProxy;

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
  proxy = await startProxy();
  guarded = await startProxy({ username: 'calpush', password: 'proxy-pw' });
});
afterAll(async () => {
  await sandbox?.close();
  await proxy?.close();
  await guarded?.close();
});

const settings = (config: ProxyConfig) => resolveProxy([config], '.', 'target.proxy', {});
const sandboxHost = () => new URL(sandbox.url).host;

function graphTarget(extra: Partial<ConstructorParameters<typeof GraphTarget>[0]> = {}): GraphTarget {
  return new GraphTarget({
    ...sandboxGraphOptions(sandbox, 'proxied'),
    ...extra,
  });
}

describe('Microsoft Graph and its token endpoint', () => {
  it('go through CONNECT tunnels, with the sandbox’s CA checked inside the tunnel', async () => {
    proxy.log.length = 0;
    sandbox.resetStats();
    const target = graphTarget({ proxy: settings({ url: proxy.url }) });
    try {
      const calendar = students[0]!;
      const ref = await target.create(event(calendar, 1), 'tx-proxy-1');
      expect((await target.listOwned(calendar)).items.map((item) => item.itemId)).toEqual([ref.itemId]);
    } finally {
      await target.close();
    }
    expect(proxy.log.length).toBeGreaterThan(0);
    expect(new Set(proxy.log)).toEqual(new Set([`CONNECT ${sandboxHost()}`]));
    expect(sandbox.stats().tokenRequests).toBe(1);
  });

  it('the token request too: a proxy that wants credentials stops the token with the proxy’s own reason; with them it works', async () => {
    const without = graphTarget({ proxy: settings({ url: guarded.url }) });
    const refused = await rejection(without.listOwned(students[1]!));
    await without.close();
    expect(refused).toMatchObject({ scope: 'fatal', code: 'ProxyAuthenticationRequired' });
    expect(refused.message).toBe(`could not get a token for Microsoft Graph: the proxy ${guarded.url} asks calpush to authenticate (407) for ${sandboxHost()}`);
    expect(refused.remedy).toMatch(/target\.proxy\.username and target\.proxy\.password/);
    expect(JSON.stringify(refused)).not.toContain('proxy-pw');

    process.env.CALPUSH_TEST_PROXY_PW = 'proxy-pw';
    guarded.log.length = 0;
    const withCredentials = graphTarget({ proxy: resolveProxy([{ url: guarded.url, username: 'calpush', password: { env: 'CALPUSH_TEST_PROXY_PW' } }], '.', 'target.proxy', {}) });
    try {
      expect((await withCredentials.listOwned(students[1]!)).items).toEqual([]);
    } finally {
      await withCredentials.close();
      delete process.env.CALPUSH_TEST_PROXY_PW;
    }
    expect(guarded.tunnels()).toContain(`CONNECT ${sandboxHost()}`);
    expect(guarded.log.some((line) => line.endsWith('(407)'))).toBe(false);
  });

  it('from the environment (HTTPS_PROXY), and NO_PROXY sends it direct', async () => {
    proxy.log.length = 0;
    const viaEnv = graphTarget({ proxy: environmentProxy({ HTTPS_PROXY: proxy.url }) });
    await viaEnv.listOwned(students[2]!);
    await viaEnv.close();
    expect(proxy.tunnels()).toEqual([`CONNECT ${sandboxHost()}`]);

    proxy.log.length = 0;
    const bypassing = graphTarget({ proxy: environmentProxy({ HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.0/8' }) });
    await bypassing.listOwned(students[2]!);
    await bypassing.close();
    const configured = graphTarget({ proxy: settings({ url: proxy.url, noProxy: [sandboxHost()] }) });
    await configured.listOwned(students[2]!);
    await configured.close();
    expect(proxy.log).toEqual([]);
  });

  it('a proxy that is not there is named as such', async () => {
    const closed = await startProxy();
    await closed.close();
    const target = graphTarget({ proxy: settings({ url: closed.url }) });
    const error = await rejection(target.listOwned(students[3]!));
    await target.close();
    expect(error.message).toContain(`cannot reach the proxy ${closed.url} (ECONNREFUSED)`);
    expect(error.remedy).toBe('check the proxy (target.proxy): is it running, and are its host and port right?');
  });
});

describe('EWS with NTLM', () => {
  it('authenticates once per connection inside its tunnel, which stays open for the requests that follow', async () => {
    process.env.CALPUSH_TEST_PROXY_PW = 'proxy-pw';
    const ews = new EwsTarget({
      instance: 'proxied',
      url: sandbox.ews.url,
      serverVersion: 'Exchange2016',
      access: 'delegate',
      auth: 'ntlm',
      accounts: [{ username: EWS_DELEGATE_ACCOUNTS[0]!, password: EWS_PASSWORD, concurrency: 1 }],
      caPem: sandbox.caPem,
      allDayTimeZone: 'Europe/Amsterdam',
      proxy: resolveProxy([{ url: guarded.url, username: 'calpush', password: { env: 'CALPUSH_TEST_PROXY_PW' } }], '.', 'target.proxy', {}),
    });
    delete process.env.CALPUSH_TEST_PROXY_PW;
    guarded.log.length = 0;
    sandbox.resetStats();
    try {
      const calendar = students[4]!;
      const ref = await ews.create(event(calendar, 2), 'tx-ews-proxy-2');
      const updated = await ews.update(event(calendar, 2, { subject: 'Through the tunnel' }), ref);
      expect((await ews.listOwned(calendar)).items.map((item) => item.itemId)).toEqual([ref.itemId]);
      await ews.remove(calendar, updated);
      expect((await ews.listOwned(calendar)).items).toEqual([]);
    } finally {
      await ews.close();
    }
    const stats = sandbox.ews.stats();
    // Five EWS requests, one tunnel, one NTLM handshake (one 401 challenge, one login).
    expect(Object.values(stats.perAccount).reduce((sum, account) => sum + account.requests, 0)).toBe(5);
    expect(guarded.tunnels()).toEqual([`CONNECT ${sandboxHost()}`]);
    expect(stats.logins.ntlm).toBe(1);
    expect(stats.unauthorized).toBe(1);
  });
});

describe('CalDAV (Radicale) and the config', () => {
  const radicale = useServer('radicale', async (server) => {
    await server.makeCalendar('ann');
  });

  it('plain http goes as absolute-URI requests; the config’s top-level proxy (with its password from a secret reference) applies to the target', async () => {
    const server = radicale();
    guarded.log.length = 0;
    process.env.CALPUSH_TEST_DAV_PW = server.service!.password;
    process.env.CALPUSH_TEST_PROXY_PW = 'proxy-pw';
    const config = parseConfig({
      instance: 'proxied',
      proxy: { url: guarded.url, username: 'calpush', password: { env: 'CALPUSH_TEST_PROXY_PW' } },
      target: { kind: 'caldav', baseUrl: server.url, calendarUrlTemplate: '{localpart}/timetable/', auth: { kind: 'basic', username: server.service!.username, password: { env: 'CALPUSH_TEST_DAV_PW' } } },
    });
    const target = await createTarget(config, '.');
    delete process.env.CALPUSH_TEST_DAV_PW;
    delete process.env.CALPUSH_TEST_PROXY_PW;
    try {
      const calendar = address('ann');
      const ref = await target.create(event(calendar, 3), 'tx-dav-proxy');
      let cursor: string | undefined;
      const keys: string[] = [];
      do {
        const page = await target.listOwned(calendar, cursor);
        keys.push(...page.items.map((item) => item.itemId));
        cursor = page.next;
      } while (cursor);
      expect(keys).toEqual([ref.itemId]);
    } finally {
      await target.close();
    }
    const origin = server.url.replace(/\/$/, '');
    expect(guarded.log).toEqual(expect.arrayContaining([`PUT ${origin}${new URL(`ann/timetable/`, server.url).pathname}${ref_name(guarded.log)}`, `PROPFIND ${origin}/ann/timetable/`, `REPORT ${origin}/ann/timetable/`]));
    expect(guarded.log.every((line) => line.startsWith('PUT ') || line.startsWith('PROPFIND ') || line.startsWith('REPORT '))).toBe(true);
    expect(guarded.log.every((line) => line.includes(` ${origin}/`))).toBe(true);
  });
});

/** The resource name of the one PUT in the log. */
function ref_name(log: string[]): string {
  return log.find((line) => line.startsWith('PUT '))!.split('/').pop()!;
}

describe('feeds', () => {
  let feedServer: Server;
  let feedUrl: string;
  beforeAll(async () => {
    feedServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/calendar' });
      res.end('BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nEND:VCALENDAR\r\n');
    });
    await new Promise<void>((resolve) => feedServer.listen(0, '127.0.0.1', resolve));
    feedUrl = `http://127.0.0.1:${(feedServer.address() as AddressInfo).port}/ical/ann.ics?token=secret`;
  });
  afterAll(() => new Promise<void>((resolve) => feedServer.close(() => resolve())));

  const options = (policy: AddressPolicy, noProxy: string[] = []) => ({ timeoutMs: 5000, maxBytes: 100_000, maxRedirects: 2, policy, proxy: settings({ url: proxy.url, noProxy }) });

  it('are fetched through the proxy; NO_PROXY fetches them direct', async () => {
    proxy.log.length = 0;
    const fetched = await fetchFeed(feedUrl, options(new AddressPolicy(true)));
    expect(fetched.status).toBe(200);
    expect(proxy.log).toEqual([`GET ${feedUrl}`]);

    proxy.log.length = 0;
    expect((await fetchFeed(feedUrl, options(new AddressPolicy(true), ['127.0.0.1']))).status).toBe(200);
    expect(proxy.log).toEqual([]);
  });

  it('the poller of `calpush serve` passes its proxy (feeds.proxy resolved) to every fetch', async () => {
    proxy.log.length = 0;
    const store = new SqliteStore(':memory:');
    const feeds = feedsConfigSchema.parse({ allowPrivateAddresses: true });
    const poller = new FeedPoller({ store, feeds, urls: new Map([['ann@example.edu', feedUrl]]), timeZone: 'Europe/Amsterdam', proxy: resolveProxy([{ url: proxy.url }, undefined], '.', 'feeds.proxy', {}) });
    const result = await poller.poll('ann@example.edu');
    await poller.stop();
    await store.close();
    expect(result.outcome).not.toBe('failed');
    expect(proxy.log).toEqual([`GET ${feedUrl}`]);
  });

  it('through a proxy, what the URL shows is still checked: private literals and private names are refused before the proxy is asked', async () => {
    proxy.log.length = 0;
    const strict = new AddressPolicy(false);
    for (const url of [feedUrl, 'http://169.254.169.254/latest/meta-data/', 'http://localhost:8080/feed.ics', 'http://calendar.localhost/x.ics', 'https://metadata.google.internal/x', 'http://printer.local/x', 'http://nas.home.arpa/x']) {
      const error = await fetchFeed(url, options(strict)).then(
        () => null,
        (e: unknown) => e,
      );
      expect({ url, error: error instanceof FeedError ? error.code : String(error) }).toEqual({ url, error: 'refused-address' });
    }
    expect(proxy.log).toEqual([]);
    // Directly (NO_PROXY), the name is resolved and every address checked, as without a proxy.
    const direct = await fetchFeed('http://localhost:1/feed.ics', options(strict, ['localhost'])).then(
      () => null,
      (e: unknown) => e,
    );
    expect(direct).toMatchObject({ code: 'refused-address' });
    expect((direct as Error).message).toMatch(/resolves to/);
  });
});
