// Entra ID stand-in: msal-node acquires tokens with a secret and with a certificate; Entra's errors come back in
// Entra's shape.
import { createHash, createPrivateKey, createPublicKey, createVerify, generateKeyPairSync, randomUUID, X509Certificate } from 'node:crypto';
import { ConfidentialClientApplication } from '@azure/msal-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { signJwt, decodeJwt } from '../../src/sandbox/jwt.ts';
import { generateCertificate } from '../../src/sandbox/tls.ts';
import { NO_PERMISSION_CLIENT_ID } from '../../src/sandbox/tenant.ts';
import { demoToken, GraphClient, httpsRequest, msalNetworkClient, tokenRequest, users } from './helpers.ts';

let sandbox: SandboxInternals;
beforeAll(async () => {
  sandbox = await startSandbox();
});
afterAll(async () => {
  await sandbox.close();
});

function msalApp(auth: Record<string, unknown>) {
  return new ConfidentialClientApplication({
    auth: {
      clientId: sandbox.demoCredentials.clientId,
      authority: sandbox.authorityUrl,
      knownAuthorities: [new URL(sandbox.url).host],
      ...auth,
    },
    system: { networkClient: msalNetworkClient(sandbox.caPem) },
  });
}

const scopes = ['https://graph.microsoft.com/.default'];

function claimsOf(token: string): Record<string, unknown> {
  return decodeJwt(token)!.payload;
}

describe('token endpoint with msal-node', () => {
  it('issues a Graph token for the client secret', async () => {
    sandbox.resetStats();
    const result = await msalApp({ clientSecret: sandbox.demoCredentials.clientSecret }).acquireTokenByClientCredential({ scopes });
    expect(result?.accessToken).toBeTruthy();
    const claims = claimsOf(result!.accessToken);
    expect(claims).toMatchObject({
      aud: 'https://graph.microsoft.com',
      iss: `https://sts.windows.net/${sandbox.tenantId}/`,
      tid: sandbox.tenantId,
      appid: sandbox.demoCredentials.clientId,
      azp: sandbox.demoCredentials.clientId,
      idtyp: 'app',
      roles: ['Calendars.ReadWrite'],
      appidacr: '1',
    });
    const lifetime = (claims['exp'] as number) - (claims['iat'] as number);
    expect(lifetime).toBeGreaterThanOrEqual(3600);
    expect(lifetime).toBeLessThanOrEqual(5400);
    expect(sandbox.stats().tokenRequests).toBe(1);
    // The token works against Graph.
    const graph = new GraphClient(sandbox, result!.accessToken);
    const list = await graph.get(`${users('s0001@contoso.edu')}/events`);
    expect(list.status).toBe(200);
  });

  it('issues a Graph token for the certificate (x5t#S256, PS256)', async () => {
    const result = await msalApp({
      clientCertificate: { privateKey: sandbox.demoCredentials.privateKeyPem, thumbprintSha256: sandbox.demoCredentials.thumbprintSha256 },
    }).acquireTokenByClientCredential({ scopes });
    expect(claimsOf(result!.accessToken)).toMatchObject({ appid: sandbox.demoCredentials.clientId, appidacr: '2' });
  });

  it('accepts the legacy SHA-1 thumbprint assertion (x5t, RS256)', async () => {
    const result = await msalApp({
      clientCertificate: { privateKey: sandbox.demoCredentials.privateKeyPem, thumbprint: sandbox.demoCredentials.thumbprintSha1 },
    }).acquireTokenByClientCredential({ scopes });
    expect(result?.accessToken).toBeTruthy();
  });

  it('answers a wrong secret with AADSTS7000215 in Entra’s error shape', async () => {
    const error = await msalApp({ clientSecret: 'wrong' })
      .acquireTokenByClientCredential({ scopes })
      .then(() => undefined, (e: unknown) => e as { errorCode: string; errorMessage: string });
    expect(error?.errorCode).toBe('invalid_client');
    expect(error?.errorMessage).toContain('AADSTS7000215: Invalid client secret provided.');

    const raw = await tokenRequest(sandbox, { grant_type: 'client_credentials', client_id: sandbox.demoCredentials.clientId, client_secret: 'wrong', scope: scopes[0]! });
    expect(raw.status).toBe(401);
    expect(raw.json).toMatchObject({ error: 'invalid_client', error_codes: [7000215], error_uri: 'https://login.microsoftonline.com/error?code=7000215' });
    expect(raw.json['error_description']).toMatch(
      new RegExp(`^AADSTS7000215: Invalid client secret provided\\. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${sandbox.demoCredentials.clientId}'\\.\\r\\nTrace ID: [0-9a-f-]{36}\\r\\nCorrelation ID: [0-9a-f-]{36}\\r\\nTimestamp: \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\dZ$`),
    );
    expect(raw.json['timestamp']).toMatch(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$/);
    expect(typeof raw.json['trace_id']).toBe('string');
    expect(typeof raw.json['correlation_id']).toBe('string');
  });

  it('answers a certificate that is not registered with AADSTS700027', async () => {
    const other = generateCertificate({ commonName: 'not registered', usage: 'client' });
    const thumbprint = createHash('sha256').update(new X509Certificate(other.certPem).raw).digest('hex');
    const error = await msalApp({ clientCertificate: { privateKey: other.keyPem, thumbprintSha256: thumbprint } })
      .acquireTokenByClientCredential({ scopes })
      .then(() => undefined, (e: unknown) => e as { errorCode: string; errorMessage: string });
    expect(error?.errorCode).toBe('invalid_client');
    expect(error?.errorMessage).toContain('AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application.');
    expect(error?.errorMessage).toContain(thumbprint.toUpperCase());
  });

  it('answers an assertion signed by the wrong key with AADSTS700027 invalid signature', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const error = await msalApp({ clientCertificate: { privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), thumbprintSha256: sandbox.demoCredentials.thumbprintSha256 } })
      .acquireTokenByClientCredential({ scopes })
      .then(() => undefined, (e: unknown) => e as { errorMessage: string });
    expect(error?.errorMessage).toContain('AADSTS700027: Client assertion contains an invalid signature.');
  });

  function assertion(overrides: Record<string, unknown>, header: Record<string, unknown> = {}): string {
    const raw = new X509Certificate(sandbox.demoCredentials.certificatePem).raw;
    const now = Math.floor(Date.now() / 1000);
    return signJwt(
      { alg: 'PS256', typ: 'JWT', 'x5t#S256': createHash('sha256').update(raw).digest('base64url'), ...header },
      { aud: `${sandbox.authorityUrl}/oauth2/v2.0/token`, iss: sandbox.demoCredentials.clientId, sub: sandbox.demoCredentials.clientId, jti: randomUUID(), nbf: now, iat: now, exp: now + 600, ...overrides },
      createPrivateKey(sandbox.demoCredentials.privateKeyPem),
    );
  }

  async function assertionError(token: string): Promise<Record<string, unknown>> {
    const { status, json } = await tokenRequest(sandbox, {
      grant_type: 'client_credentials',
      client_id: sandbox.demoCredentials.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: token,
      scope: scopes[0]!,
    });
    return { status, ...json };
  }

  it('checks the assertion claims: valid one passes, then aud, iss/sub, jti, exp', async () => {
    expect(await assertionError(assertion({}))).toMatchObject({ status: 200, token_type: 'Bearer' });
    expect(await assertionError(assertion({ aud: 'https://login.microsoftonline.com/x/oauth2/v2.0/token' }))).toMatchObject({ status: 401, error_codes: [50012] });
    expect(await assertionError(assertion({ iss: 'someone-else' }))).toMatchObject({ status: 401, error_codes: [700021] });
    expect(await assertionError(assertion({ jti: undefined }))).toMatchObject({ status: 401, error_codes: [50027] });
    const past = Math.floor(Date.now() / 1000) - 3600;
    const expired = await assertionError(assertion({ nbf: past - 600, exp: past }));
    expect(expired).toMatchObject({ status: 401, error_codes: [700024] });
    expect(expired['error_description']).toContain('Client assertion is not within its valid time range.');
    expect(await assertionError('not-a-jwt')).toMatchObject({ status: 401, error_codes: [50027] });
    expect(await assertionError(assertion({}, { alg: 'HS256' }))).toMatchObject({ status: 401, error_codes: [700027] });
  });

  it('answers an unknown client id with AADSTS700016 and an unknown tenant with AADSTS90002', async () => {
    const unknown = await tokenRequest(sandbox, { grant_type: 'client_credentials', client_id: '11111111-2222-3333-4444-555555555555', client_secret: 'x', scope: scopes[0]! });
    expect(unknown).toMatchObject({ status: 400, json: { error: 'unauthorized_client', error_codes: [700016] } });
    expect(unknown.json['error_description']).toContain("Application with identifier '11111111-2222-3333-4444-555555555555' was not found in the directory");

    const tenant = await tokenRequest(sandbox, { grant_type: 'client_credentials', client_id: sandbox.demoCredentials.clientId, client_secret: sandbox.demoCredentials.clientSecret, scope: scopes[0]! }, 'fabrikam.example');
    expect(tenant).toMatchObject({ status: 400, json: { error: 'invalid_tenant', error_codes: [90002] } });
    expect(tenant.json['error_description']).toContain("Tenant 'fabrikam.example' not found.");

    const discovery = await httpsRequest(`${sandbox.url}/fabrikam.example/v2.0/.well-known/openid-configuration`, { ca: sandbox.caPem });
    expect(discovery.status).toBe(400);
    expect(JSON.parse(discovery.text)).toMatchObject({ error: 'invalid_tenant', error_codes: [90002] });
  });

  it('rejects scopes other than Graph /.default (AADSTS1002012, AADSTS70011) and missing credentials (AADSTS7000216)', async () => {
    const base = { grant_type: 'client_credentials', client_id: sandbox.demoCredentials.clientId, client_secret: sandbox.demoCredentials.clientSecret };
    const specific = await tokenRequest(sandbox, { ...base, scope: 'https://graph.microsoft.com/Calendars.ReadWrite' });
    expect(specific).toMatchObject({ status: 400, json: { error: 'invalid_scope', error_codes: [1002012] } });
    expect(specific.json['error_description']).toContain('Client credential flows must have a scope value with /.default suffixed');
    const other = await tokenRequest(sandbox, { ...base, scope: 'https://outlook.office365.com/.default' });
    expect(other).toMatchObject({ status: 400, json: { error: 'invalid_scope', error_codes: [70011] } });
    const byAppId = await tokenRequest(sandbox, { ...base, scope: '00000003-0000-0000-c000-000000000000/.default' });
    expect(byAppId.status).toBe(200);
    const none = await tokenRequest(sandbox, { grant_type: 'client_credentials', client_id: sandbox.demoCredentials.clientId, scope: scopes[0]! });
    expect(none).toMatchObject({ status: 401, json: { error: 'invalid_client', error_codes: [7000216] } });
    const grant = await tokenRequest(sandbox, { ...base, grant_type: 'password', scope: scopes[0]! });
    expect(grant).toMatchObject({ status: 400, json: { error: 'unsupported_grant_type', error_codes: [70003] } });
  });

  it('accepts the tenant domain in the path and client_secret_basic', async () => {
    const basic = Buffer.from(`${encodeURIComponent(sandbox.demoCredentials.clientId)}:${encodeURIComponent(sandbox.demoCredentials.clientSecret)}`).toString('base64');
    const response = await httpsRequest(`${sandbox.url}/contoso.edu/oauth2/v2.0/token`, {
      ca: sandbox.caPem,
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${basic}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: scopes[0]! }).toString(),
    });
    expect(response.status).toBe(200);
  });

  it('serves the OpenID configuration msal-node validates, and a JWKS that verifies issued tokens', async () => {
    const config = JSON.parse((await httpsRequest(`${sandbox.authorityUrl}/v2.0/.well-known/openid-configuration`, { ca: sandbox.caPem })).text);
    expect(config).toMatchObject({
      issuer: `${sandbox.url}/${sandbox.tenantId}/v2.0`,
      token_endpoint: `${sandbox.url}/${sandbox.tenantId}/oauth2/v2.0/token`,
      authorization_endpoint: `${sandbox.url}/${sandbox.tenantId}/oauth2/v2.0/authorize`,
    });
    const jwks = JSON.parse((await httpsRequest(config.jwks_uri, { ca: sandbox.caPem })).text) as { keys: Array<Record<string, string>> };
    const token = (await tokenRequest(sandbox, { grant_type: 'client_credentials', client_id: sandbox.demoCredentials.clientId, client_secret: sandbox.demoCredentials.clientSecret, scope: scopes[0]! })).json['access_token'] as string;
    const key = createPublicKey({ key: jwks.keys[0]! as never, format: 'jwk' });
    const [h, p, s] = token.split('.') as [string, string, string];
    expect(createVerify('RSA-SHA256').update(`${h}.${p}`).verify(key, Buffer.from(s, 'base64url'))).toBe(true);
    const discovery = JSON.parse((await httpsRequest(`${sandbox.url}/common/discovery/instance?api-version=1.1`, { ca: sandbox.caPem })).text);
    expect(discovery.metadata[0].preferred_network).toBe(new URL(sandbox.url).host);
  });

  it('app without roles gets a token without roles claim, and Graph denies it', async () => {
    const { json } = await tokenRequest(sandbox, { grant_type: 'client_credentials', client_id: NO_PERMISSION_CLIENT_ID, client_secret: 'npS8Q~sandbox.no-permissions_not.for.production', scope: scopes[0]! });
    const token = json['access_token'] as string;
    expect(claimsOf(token)['roles']).toBeUndefined();
    const r = await new GraphClient(sandbox, token).get(`${users('s0001@contoso.edu')}/events`);
    expect(r.status).toBe(403);
    expect(r.json.error).toMatchObject({ code: 'ErrorAccessDenied', message: 'Access is denied. Check credentials and try again.' });
  });
});

describe('Graph bearer token checks', () => {
  const call = (authorization?: string) =>
    httpsRequest(`${sandbox.graphBaseUrl}/users/s0001%40contoso.edu/events`, { ca: sandbox.caPem, headers: authorization ? { authorization } : {} }).then((r) => ({ ...r, json: JSON.parse(r.text) }));

  it('401 InvalidAuthenticationToken for a missing, malformed, foreign, expired or wrong-audience token', async () => {
    const missing = await call();
    expect(missing.status).toBe(401);
    expect(missing.json.error).toMatchObject({ code: 'InvalidAuthenticationToken', message: 'Access token is empty.' });
    expect(missing.headers['www-authenticate']).toContain('Bearer realm=""');
    expect(missing.json.error.innerError).toMatchObject({ 'request-id': missing.headers['request-id'], 'client-request-id': missing.headers['client-request-id'] });
    expect((await call('Bearer nonsense')).json.error.code).toBe('InvalidAuthenticationToken');

    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const now = Math.floor(Date.now() / 1000);
    const good = { aud: 'https://graph.microsoft.com', iss: `https://sts.windows.net/${sandbox.tenantId}/`, tid: sandbox.tenantId, appid: sandbox.demoCredentials.clientId, roles: ['Calendars.ReadWrite'], nbf: now, iat: now, exp: now + 3600 };
    const foreign = signJwt({ alg: 'RS256', typ: 'JWT' }, good, privateKey);
    expect((await call(`Bearer ${foreign}`)).json.error.message).toBe('Access token validation failure. Invalid signature.');
    const expired = sandbox.signToken({ ...good, nbf: now - 7200, exp: now - 60 });
    expect((await call(`Bearer ${expired}`)).json.error.message).toBe('Lifetime validation failed, the token is expired.');
    const audience = sandbox.signToken({ ...good, aud: 'https://outlook.office365.com' });
    expect((await call(`Bearer ${audience}`)).json.error.message).toBe('Access token validation failure. Invalid audience.');
    const ok = sandbox.signToken(good);
    expect((await call(`Bearer ${ok}`)).status).toBe(200);
  });

  it('expires or revokes the tokens issued so far on demand (at once or after N requests); tokens issued later work', async () => {
    sandbox.faults.clear();
    sandbox.resetStats();
    const first = await demoToken(sandbox);
    expect((await call(`Bearer ${first}`)).status).toBe(200);
    sandbox.faults.expireTokens();
    const expired = await call(`Bearer ${first}`);
    expect(expired.status).toBe(401);
    // Graph's error body (https://learn.microsoft.com/graph/errors): code, message, innerError with the request ids.
    expect(expired.json.error).toMatchObject({ code: 'InvalidAuthenticationToken', message: 'Lifetime validation failed, the token is expired.' });
    expect(expired.json.error.innerError).toMatchObject({ 'request-id': expired.headers['request-id'] });
    expect(expired.headers['www-authenticate']).toContain('Bearer');

    const second = await demoToken(sandbox);
    expect((await call(`Bearer ${second}`)).status).toBe(200);
    sandbox.faults.revokeTokens({ afterRequests: 2 });
    expect((await call(`Bearer ${second}`)).status).toBe(200);
    expect((await call(`Bearer ${second}`)).status).toBe(200);
    const revoked = await call(`Bearer ${second}`);
    expect(revoked.status).toBe(401);
    expect(revoked.json.error).toMatchObject({ code: 'InvalidAuthenticationToken', message: 'Access token validation failure.' });
    expect((await call(`Bearer ${await demoToken(sandbox)}`)).status).toBe(200);
    expect(sandbox.stats().unauthorized).toBe(2);
  });
});

describe('request log', () => {
  it('logs one line per request and never a secret, an assertion or a token', async () => {
    const lines: string[] = [];
    const logged = await startSandbox({ logger: (line) => lines.push(line) });
    try {
      const secret = logged.demoCredentials.clientSecret;
      const viaSecret = await tokenRequest(logged, { grant_type: 'client_credentials', client_id: logged.demoCredentials.clientId, client_secret: secret, scope: 'https://graph.microsoft.com/.default' });
      const token = viaSecret.json['access_token'] as string;
      const result = await new ConfidentialClientApplication({
        auth: { clientId: logged.demoCredentials.clientId, authority: logged.authorityUrl, knownAuthorities: [new URL(logged.url).host], clientCertificate: { privateKey: logged.demoCredentials.privateKeyPem, thumbprintSha256: logged.demoCredentials.thumbprintSha256 } },
        system: { networkClient: msalNetworkClient(logged.caPem) },
      }).acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
      await tokenRequest(logged, { grant_type: 'client_credentials', client_id: logged.demoCredentials.clientId, client_secret: 'wrong-secret-value', scope: 'https://graph.microsoft.com/.default' });
      await new GraphClient(logged, token).get(`${users('s0001@contoso.edu')}/events?$top=1`);
      await new Promise((r) => setTimeout(r, 50));
      const text = lines.join('\n');
      expect(lines.some((l) => /^POST \/[0-9a-f-]+\/oauth2\/v2\.0\/token 200 \d+ms/.test(l))).toBe(true);
      expect(lines.some((l) => l.includes('AADSTS7000215'))).toBe(true);
      expect(lines.some((l) => /^GET \/v1\.0\/users\/s0001%40contoso\.edu\/events\?\$top=1 200/.test(l))).toBe(true);
      for (const forbidden of [secret, 'wrong-secret-value', token, result!.accessToken, token.split('.')[2]!]) expect(text).not.toContain(forbidden);
    } finally {
      await logged.close();
    }
  });
});

describe('apps without credentials, and roles taken from the token', () => {
  it('answers AADSTS700025 when a credential is presented for an app without credentials, AADSTS7000218 otherwise', async () => {
    // The first app is the demo app (it gets a generated certificate); the second has no credential at all.
    const none = await startSandbox({
      tenant: {
        tenantId: '0f0f0f0f-0000-4000-8000-000000000003',
        domain: 'pub2.example',
        mailboxes: [{ address: 'a@pub2.example', displayName: 'A', kind: 'user' }],
        apps: [
          { clientId: 'demo', displayName: 'demo', secrets: ['s'], certificates: [], roles: ['Calendars.ReadWrite'] },
          { clientId: 'public-app', displayName: 'public', roles: [] },
        ],
      },
    });
    try {
      const presented = await tokenRequest(none, { grant_type: 'client_credentials', client_id: 'public-app', client_secret: 'x', scope: 'https://graph.microsoft.com/.default' });
      expect(presented).toMatchObject({ status: 401, json: { error: 'invalid_client', error_codes: [700025] } });
      const absent = await tokenRequest(none, { grant_type: 'client_credentials', client_id: 'public-app', scope: 'https://graph.microsoft.com/.default' });
      expect(absent).toMatchObject({ status: 401, json: { error_codes: [7000218] } });
    } finally {
      await none.close();
    }
  });

  it('authorises Graph calls with the roles claim of the token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { aud: 'https://graph.microsoft.com', iss: `https://sts.windows.net/${sandbox.tenantId}/`, tid: sandbox.tenantId, appid: sandbox.demoCredentials.clientId, nbf: now, iat: now, exp: now + 3600 };
    const readOnly = new GraphClient(sandbox, sandbox.signToken({ ...claims, roles: ['Calendars.Read'] }));
    expect((await readOnly.get(`${users('s0001@contoso.edu')}/events`)).status).toBe(200);
    const write = await readOnly.post(`${users('s0001@contoso.edu')}/events`, { subject: 'x' });
    expect(write.status).toBe(403);
    const noRoles = new GraphClient(sandbox, sandbox.signToken(claims));
    expect((await noRoles.get(`${users('s0001@contoso.edu')}/events`)).status).toBe(403);
  });
});
