// The reasons a token request fails, each with its own message and fix (src/targets/graph/token-errors.ts): the
// ones the end-to-end tests do not reach with the sandbox — a host that never answers, an unknown host name, a
// server that is no Entra ID authority — and the authority/tenant mistakes found before any request.
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { afterAll, describe, expect, it } from 'vitest';
import { generateServerCertificate } from '../../src/sandbox/index.ts';
import { GraphTokenProvider } from '../../src/targets/graph/auth.ts';
import { authorityProblem } from '../../src/targets/graph/token-errors.ts';
import { HttpClient } from '../../src/targets/http.ts';
import { TargetError } from '../../src/targets/target.ts';

const TENANT = '2f6d1e3a-7c4b-4e8f-9a15-0c3b5d7e9f21';
const tls = generateServerCertificate();
const servers: Array<TcpServer | HttpsServer> = [];
const sockets: Socket[] = [];
afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  for (const server of servers) {
    if ('closeAllConnections' in server) server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

async function listen<S extends TcpServer | HttpsServer>(server: S): Promise<string> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return `https://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
}

async function tokenError(authorityHost: string, options: { timeoutMs?: number; tenantId?: string } = {}): Promise<TargetError> {
  const http = new HttpClient({ caPem: tls.certPem, timeoutMs: options.timeoutMs ?? 5_000 });
  const provider = new GraphTokenProvider(
    { tenantId: options.tenantId ?? TENANT, clientId: '5a8e3c71-2d94-4b6f-8e0a-13c7f9d2b456', credential: { kind: 'secret', secret: 'not-used' }, authorityHost, scope: 'https://graph.microsoft.com/.default' },
    http,
  );
  try {
    await provider.token();
  } catch (error) {
    if (error instanceof TargetError) return error;
    throw error;
  } finally {
    http.close();
  }
  throw new Error('expected the token request to fail');
}

describe('a token request that fails', () => {
  it('to a host that accepts the connection but never answers: the URL, the time waited, and where to look', async () => {
    const silent = createTcpServer((socket) => sockets.push(socket)); // takes the connection, never starts TLS
    const url = await listen(silent);
    const error = await tokenError(url, { timeoutMs: 200 });
    expect(error).toMatchObject({ scope: 'fatal', code: 'ETIMEDOUT' });
    expect(error.message).toBe(`could not get a token: GET ${url}/${TENANT}/v2.0/.well-known/openid-configuration: no answer within 200 ms (ETIMEDOUT)`);
    expect(error.remedy).toMatch(/^check that this machine may reach 127\.0\.0\.1:\d+ over HTTPS \(firewall, proxy\), or raise target\.requestTimeoutMs$/);
  });

  it('to a host name that does not resolve: the name and DNS', async () => {
    const error = await tokenError('https://calpush-no-such-host.invalid');
    expect(error.scope).toBe('fatal');
    expect(['ENOTFOUND', 'EAI_AGAIN']).toContain(error.code);
    expect(error.message).toMatch(/^could not get a token: cannot resolve calpush-no-such-host\.invalid \((ENOTFOUND|EAI_AGAIN)\) for https:\/\/calpush-no-such-host\.invalid\//);
    expect(error.remedy).toBe("check target.authorityHost (https://calpush-no-such-host.invalid) and this machine's DNS (nslookup calpush-no-such-host.invalid)");
  });

  it('to a server that is not an Entra ID authority: what it answered and what authorityHost must be', async () => {
    const web = createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => res.writeHead(404, { 'content-type': 'text/html' }).end('<h1>Not Found</h1>'));
    const url = await listen(web);
    const error = await tokenError(url);
    expect(error).toMatchObject({ scope: 'fatal', code: 'HTTP404' });
    expect(error.message).toBe(`${url} is not an Entra ID authority for this tenant: ${url}/${TENANT}/v2.0/.well-known/openid-configuration answered HTTP 404`);
    expect(error.remedy).toMatch(/^target\.authorityHost must be https:\/\/login\.microsoftonline\.com/);
  });

  it('with a malformed authority or tenant: refused before any request, with the corrected value', async () => {
    let requests = 0;
    const counting = createHttpsServer({ cert: tls.certPem, key: tls.keyPem }, (_req, res) => {
      requests++;
      res.writeHead(500).end();
    });
    const url = await listen(counting);
    expect(await tokenError(`${url}/contoso.onmicrosoft.com/`)).toMatchObject({
      code: 'AuthorityMalformed',
      message: `target.authorityHost ${url}/contoso.onmicrosoft.com/ has a path (/contoso.onmicrosoft.com/): it must be the host alone, calpush adds the tenant`,
      remedy: `set authorityHost to ${url} and put the tenant ("contoso.onmicrosoft.com") in tenantId`,
    });
    expect(await tokenError(url, { tenantId: 'common' })).toMatchObject({ code: 'TenantIdNotSpecific' });
    expect(requests).toBe(0);
  });
});

describe('authorityProblem', () => {
  it.each([
    ['https://login.microsoftonline.com', TENANT, undefined],
    ['https://login.microsoftonline.com/', 'contoso.onmicrosoft.com', undefined],
    ['https://login.microsoftonline.us', TENANT, undefined],
    ['login.microsoftonline.com', TENANT, 'AuthorityMalformed'],
    ['http://login.microsoftonline.com', TENANT, 'AuthorityMalformed'],
    ['https://login.microsoftonline.com/contoso', TENANT, 'AuthorityMalformed'],
    ['https://login.microsoftonline.com?tenant=x', TENANT, 'AuthorityMalformed'],
    ['https://login.microsoftonline.com', 'contoso/v2.0', 'TenantIdMalformed'],
    ['https://login.microsoftonline.com', 'organizations', 'TenantIdNotSpecific'],
  ])('%s with tenant %s: %s', (host, tenant, code) => {
    expect(authorityProblem(host, tenant)?.code).toBe(code);
  });
});
