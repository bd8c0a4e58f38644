// The proxy settings (src/config/proxy.ts): NO_PROXY as curl reads it, the environment's variables, the config key and
// which one wins.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { environmentProxy, noProxyMatcher, proxyConfigSchema, resolveProxy } from '../../src/config/proxy.ts';
import { parseConfig } from '../../src/app/config.ts';

const bypassed = (list: string, url: string) => noProxyMatcher(list.split(','))(new URL(url));

describe('NO_PROXY, as curl reads it', () => {
  it('a name matches itself and the names below it, never a name that merely ends the same', () => {
    expect(bypassed('example.edu', 'https://example.edu/')).toBe(true);
    expect(bypassed('example.edu', 'https://mail.example.edu/')).toBe(true);
    expect(bypassed('example.edu', 'https://badexample.edu/')).toBe(false);
    expect(bypassed('.example.edu', 'https://mail.example.edu/')).toBe(true);
    expect(bypassed('.example.edu', 'https://example.edu/')).toBe(true);
    expect(bypassed('*.example.edu', 'https://a.b.example.edu/')).toBe(true);
    expect(bypassed('Example.EDU', 'https://MAIL.example.edu/')).toBe(true);
    expect(bypassed('example.edu', 'https://example.edu.evil.org/')).toBe(false);
  });

  it('"*" alone matches everything; empty entries and spaces are ignored', () => {
    expect(bypassed('*', 'https://graph.microsoft.com/')).toBe(true);
    expect(bypassed(' , example.edu ,', 'https://example.edu/')).toBe(true);
    expect(bypassed('', 'https://graph.microsoft.com/')).toBe(false);
  });

  it('IP addresses and CIDR ranges match address literals (names are not resolved)', () => {
    expect(bypassed('10.0.0.0/8', 'http://10.20.30.40:5232/')).toBe(true);
    expect(bypassed('10.0.0.0/8', 'http://11.0.0.1/')).toBe(false);
    expect(bypassed('192.168.1.10', 'http://192.168.1.10/')).toBe(true);
    expect(bypassed('192.168.1.10', 'http://192.168.1.11/')).toBe(false);
    expect(bypassed('fd00::/8', 'http://[fd12::1]/')).toBe(true);
    expect(bypassed('::1', 'http://[::1]:8080/')).toBe(true);
    expect(bypassed('127.0.0.0/8', 'http://localhost/')).toBe(false);
  });

  it('host:port matches that port only (the scheme’s default when the URL has none)', () => {
    expect(bypassed('dav.example.edu:8443', 'https://dav.example.edu:8443/')).toBe(true);
    expect(bypassed('dav.example.edu:8443', 'https://dav.example.edu/')).toBe(false);
    expect(bypassed('dav.example.edu:443', 'https://dav.example.edu/')).toBe(true);
    expect(bypassed('127.0.0.1:5232', 'http://127.0.0.1:5232/')).toBe(true);
    expect(bypassed('127.0.0.1:5232', 'http://127.0.0.1:5233/')).toBe(false);
    expect(bypassed('[::1]:5232', 'http://[::1]:5232/')).toBe(true);
  });
});

describe('the environment', () => {
  const at = (env: NodeJS.ProcessEnv, url: string) => environmentProxy(env).routeFor(new URL(url))?.display ?? 'direct';

  it('HTTPS_PROXY for https, HTTP_PROXY for http, ALL_PROXY for either; lower case first; NO_PROXY bypasses', () => {
    const env = { HTTPS_PROXY: 'http://secure-proxy:3128', http_proxy: 'plain-proxy:8080', NO_PROXY: 'intranet.example.edu' };
    expect(at(env, 'https://graph.microsoft.com/v1.0')).toBe('http://secure-proxy:3128');
    expect(at(env, 'http://dav.example.org/')).toBe('http://plain-proxy:8080');
    expect(at(env, 'https://intranet.example.edu/')).toBe('direct');
    expect(at({ ALL_PROXY: 'http://all:1' }, 'https://a.example/')).toBe('http://all:1');
    expect(at({ https_proxy: 'http://lower:1', HTTPS_PROXY: 'http://upper:1' }, 'https://a.example/')).toBe('http://lower:1');
    expect(at({ no_proxy: '*', HTTPS_PROXY: 'http://p:1' }, 'https://a.example/')).toBe('direct');
    expect(at({}, 'https://a.example/')).toBe('direct');
  });

  it('credentials in an environment proxy URL are used but never shown; a URL that is none is a ConfigError naming the variable', () => {
    const settings = environmentProxy({ HTTPS_PROXY: 'http://user:s3cret@proxy:3128' });
    const route = settings.routeFor(new URL('https://graph.microsoft.com/'))!;
    expect(route.authorization).toBe(`Basic ${Buffer.from('user:s3cret').toString('base64')}`);
    expect(route.url.href).toBe('http://proxy:3128/');
    expect(route.display).toBe('http://proxy:3128');
    expect(settings.source).toBe('the environment (HTTPS_PROXY)');
    expect(() => environmentProxy({ HTTPS_PROXY: 'socks5://proxy:1080' })).toThrow(/HTTPS_PROXY is not an http\(s\) proxy URL/);
  });
});

describe('the proxy key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'calpush-proxy-'));
  writeFileSync(join(dir, 'proxy.pw'), 'pa:ss wörd\n', { mode: 0o600 });

  it('the part’s own key, else the top level’s, else the environment; "direct" turns the environment off', () => {
    const env = { HTTPS_PROXY: 'http://env-proxy:3128' };
    const graph = new URL('https://graph.microsoft.com/');
    expect(resolveProxy([undefined, undefined], dir, 'target.proxy', env).routeFor(graph)?.display).toBe('http://env-proxy:3128');
    expect(resolveProxy([undefined, { url: 'http://top:3128' }], dir, 'target.proxy', env).routeFor(graph)?.display).toBe('http://top:3128');
    expect(resolveProxy([{ url: 'http://own:3128' }, { url: 'http://top:3128' }], dir, 'target.proxy', env).routeFor(graph)?.display).toBe('http://own:3128');
    expect(resolveProxy(['direct', { url: 'http://top:3128' }], dir, 'target.proxy', env).routeFor(graph)).toBeNull();
    expect(resolveProxy([undefined, 'direct'], dir, 'target.proxy', env).routeFor(graph)).toBeNull();
  });

  it('the password comes from its secret reference; noProxy bypasses; the display never carries credentials', () => {
    const settings = resolveProxy([{ url: 'http://proxy.example.edu:3128', username: 'calpush', password: { file: 'proxy.pw' }, noProxy: ['*.example.edu'] }], dir, 'target.proxy', {});
    const route = settings.routeFor(new URL('https://graph.microsoft.com/'))!;
    expect(Buffer.from(route.authorization!.replace(/^Basic /, ''), 'base64').toString('utf8')).toBe('calpush:pa:ss wörd');
    expect(route.url.href).toBe('http://proxy.example.edu:3128/');
    expect(route.display).toBe('http://proxy.example.edu:3128');
    expect(settings.routeFor(new URL('https://dav.example.edu/'))).toBeNull();
  });

  it('is checked where it is written: a URL with credentials, a path, no scheme or a password without a user are refused', () => {
    const problems = (proxy: unknown) => {
      const parsed = proxyConfigSchema.safeParse(proxy);
      return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    };
    expect(problems({ url: 'http://user:pw@proxy:3128' }).join()).toMatch(/must not carry a user name or password/);
    expect(problems({ url: 'http://proxy:3128/path' }).join()).toMatch(/origin only/);
    expect(problems({ url: 'socks5://proxy:1080' }).join()).toMatch(/http:\/\//);
    expect(problems({ url: 'http://proxy:3128', password: { env: 'PW' } }).join()).toMatch(/username: is required with a password/);
    expect(problems({ url: 'http://proxy:3128', password: 'inline' }).join()).toMatch(/"env"|"file"/);
    expect(problems('direct')).toEqual([]);
    expect(() =>
      parseConfig({
        target: { kind: 'caldav', baseUrl: 'https://dav.example.edu/', calendarUrlTemplate: '{localpart}/', auth: { kind: 'basic', username: 'u', password: { env: 'X' } }, proxy: { url: 'proxy:3128' } },
      }),
    ).toThrow(/target\.proxy\.url: "proxy:3128" is not a URL|target\.proxy/);
    expect(parseConfig({ proxy: { url: 'http://proxy:3128' }, feeds: { proxy: 'direct' }, target: { kind: 'graph', tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'S' } }, proxy: { url: 'http://other:3128' } } })).toMatchObject({
      proxy: { url: 'http://proxy:3128' },
      feeds: { proxy: 'direct' },
      target: { proxy: { url: 'http://other:3128' } },
    });
  });
});
