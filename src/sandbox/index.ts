// The sandbox: a faithful local HTTPS stand-in for Microsoft 365 — the Entra ID token endpoint and the Microsoft
// Graph calendar API (/v1.0/users/{id}/events, calendarView, $batch) — for tests and demos. One HTTPS server
// (node:https) serves both. See identity.ts for how to point @azure/msal-node at it.
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { IdentityService } from './identity.ts';
import { BodyTooLargeError, lowerHeaders, readBody, Router, sendJson, sleep, type RequestContext } from './http.ts';
import { parseBatch, runBatch } from './graph/batch.ts';
import { graphError, type GraphResult } from './graph/errors.ts';
import { deltaResource } from './graph/delta.ts';
import { instancesResource } from './graph/instances.ts';
import { meetingActions } from './graph/meeting-actions.ts';
import { messageResources } from './graph/messages.ts';
import { groupsRoot } from './graph/groups.ts';
import { placesRoot } from './graph/places.ts';
import { GraphService, newRequestIds } from './graph/service.ts';
import { Subscriptions } from './graph/subscriptions.ts';
import { EwsService } from './ews/service.ts';
import { outlookUser } from './outlook.ts';
import { DEFAULT_THROTTLING, Throttler } from './graph/throttle.ts';
import { defaultTenantSeed, DELEGATED_CLIENT_ID, DELEGATED_CLIENT_SECRET, DEMO_CLIENT_ID } from './tenant.ts';
import { USER_PASSWORD } from './delegated.ts';
import { generateCertificate, generateServerCertificate, thumbprints, type CertificatePair } from './tls.ts';
import type { DemoCredentials, GraphStoredEvent, LatencyOptions, MailboxSeed, Sandbox, SandboxMessage, SandboxOptions, SandboxStats, TenantSeed } from './types.ts';

export type * from './types.ts';
export { EWS_DELEGATE_ACCOUNTS, EWS_IMPERSONATION_ACCOUNT, EWS_NO_RIGHTS_ACCOUNT, EWS_PASSWORD } from './tenant.ts';
export { DELEGATED_CLIENT_ID, DELEGATED_CLIENT_SECRET } from './tenant.ts';
export { USER_PASSWORD } from './delegated.ts';
export { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, EQUIPMENT_MAILBOX, EWS_SCHEDULING_ACCOUNT } from './tenant.ts';
export { defaultTenantSeed, DEMO_CLIENT_ID, DEMO_CLIENT_SECRET, DEMO_DOMAIN, DEMO_TENANT_ID, NO_PERMISSION_CLIENT_ID, NO_PERMISSION_CLIENT_SECRET, objectIdFor } from './tenant.ts';
export { generateServerCertificate, loadOrCreatePair, loadOrCreateServerCertificate, thumbprints } from './tls.ts';

/** Graph's request size limit: "The maximum request length supported is 4MB." (https://github.com/microsoftgraph/microsoft-graph-docs/issues/11806). */
export const MAX_GRAPH_BODY_BYTES = 4 * 1024 * 1024;

let cachedServerCertificate: CertificatePair | undefined;
let cachedDemoCertificate: CertificatePair | undefined;

/** An extension of the Sandbox API with test hooks; startSandbox returns it. */
export interface SandboxInternals extends Sandbox {
  /** the mailboxes of the tenant (seed shape, addresses lower-cased) */
  listMailboxes(): MailboxSeed[];
  /** signs a token with the sandbox's token key (tests of expired / foreign tokens) */
  signToken(claims: Record<string, unknown>): string;
}

export async function startSandbox(options: SandboxOptions = {}): Promise<SandboxInternals> {
  const seed: TenantSeed = structuredClone(options.tenant ?? defaultTenantSeed());
  const tls = options.tls ?? (cachedServerCertificate ??= generateServerCertificate());
  const host = options.host ?? '127.0.0.1';
  let baseUrl = '';
  const getBaseUrl = () => baseUrl;

  // The demo app: the seed's app with the demo client id, else its first app. Without a certificate it gets one.
  const demoApp = seed.apps.find((a) => a.clientId.toLowerCase() === DEMO_CLIENT_ID.toLowerCase()) ?? seed.apps[0];
  let demoCertificate: CertificatePair | undefined;
  if (demoApp && (demoApp.certificates ?? []).length === 0) {
    demoCertificate = options.demoAppCertificate ?? (cachedDemoCertificate ??= generateCertificate({ commonName: 'calpush demo app', usage: 'client', validDays: 730 }));
    demoApp.certificates = [demoCertificate.certPem];
  }
  const demoCertPem = demoCertificate?.certPem ?? demoApp?.certificates?.[0] ?? '';
  const prints = demoCertPem ? thumbprints(demoCertPem) : { sha1: '', sha256: '' };
  const demoCredentials: DemoCredentials = {
    clientId: demoApp?.clientId ?? '',
    clientSecret: demoApp?.secrets?.[0] ?? '',
    certificatePem: demoCertPem,
    privateKeyPem: demoCertificate?.keyPem ?? '',
    thumbprintSha1: prints.sha1,
    thumbprintSha256: prints.sha256,
  };

  const latency: LatencyOptions = { roundTripMs: 0, perRequestMs: 0, ...options.latency };
  const throttler = new Throttler({ ...DEFAULT_THROTTLING, ...options.throttling });
  const now = () => (options.clock ?? Date).now();
  const service = new GraphService({ mailboxes: seed.mailboxes, throttler, latency, baseUrl: getBaseUrl, now, domain: seed.domain, ...(options.meetings ? { meetings: options.meetings } : {}) });
  // Meetings, mail, change tracking and rooms (src/sandbox/meetings.ts and the Graph modules that serve them).
  service.addUserResource(meetingActions(service));
  service.addUserResource(messageResources(service));
  service.addUserResource(deltaResource(service));
  service.addUserResource(instancesResource(service));
  service.addRoot('places', placesRoot(service, seed.roomLists ?? []));
  service.addRoot('groups', groupsRoot(service, seed.groups ?? []));
  const subscriptions = new Subscriptions({ service, now, tenantId: seed.tenantId, ca: [tls.certPem, ...(options.webhooks?.ca ?? [])] });
  service.addRoot('subscriptions', subscriptions.root());
  // EWS at /EWS/Exchange.asmx over the same event store and mailboxes (src/sandbox/ews).
  const { throttling: ewsThrottling, schemaValidation, ...behaviour } = options.ews ?? {};
  const ews = new EwsService({
    graph: service,
    seed,
    latency,
    behaviour,
    ...(ewsThrottling ? { throttling: ewsThrottling } : {}),
    ...(schemaValidation !== undefined ? { schemaValidation } : {}),
    ...(options.onResponse ? { onResponse: options.onResponse } : {}),
  });
  const identity = new IdentityService({ tenant: seed, baseUrl: getBaseUrl, onTokenRequest: () => service.stats.tokenRequests++ });

  for (const { mailbox, event } of seed.events ?? []) addEvent(mailbox, event);

  function addEvent(address: string, event: Record<string, unknown>): GraphStoredEvent {
    const mailbox = service.mailbox(address);
    if (!mailbox) throw new Error(`sandbox: no mailbox '${address}' in the tenant`);
    try {
      return service.store.snapshot(service.store.create(mailbox.address, mailbox.displayName, event));
    } catch (error) {
      throw new Error(`sandbox: cannot add event to '${address}': ${(error as Error).message}`);
    }
  }

  const router = new Router();
  identity.register(router);

  /** Expiry/revocation of the tokens issued so far, due after that many more Graph requests (faults.expireTokens). */
  const tokenFaults: Array<{ remaining: number; kind: 'expire' | 'revoke' }> = [];
  function applyTokenFaults(): void {
    for (const fault of tokenFaults) fault.remaining--;
    for (const fault of tokenFaults.filter((f) => f.remaining < 0)) {
      if (fault.kind === 'expire') identity.expireIssuedTokens();
      else identity.revokeIssuedTokens();
      tokenFaults.splice(tokenFaults.indexOf(fault), 1);
    }
  }
  function tokenFault(kind: 'expire' | 'revoke', afterRequests = 0): void {
    if (afterRequests <= 0) {
      if (kind === 'expire') identity.expireIssuedTokens();
      else identity.revokeIssuedTokens();
    } else tokenFaults.push({ remaining: afterRequests, kind });
  }

  async function handleGraph(ctx: RequestContext, graphPath: string): Promise<void> {
    const ids = newRequestIds(ctx.headers['client-request-id']);
    const baseHeaders = { 'request-id': ids.requestId, 'client-request-id': ids.clientRequestId };
    const answer = (result: GraphResult) => {
      if (result.drop) {
        // Fault injection: the work is done, the answer never arrives.
        ctx.note = `${ctx.note ?? ''} (response dropped)`.trim();
        ctx.req.socket.destroy();
        return;
      }
      sendJson(ctx.res, result.status, result.body, { ...baseHeaders, ...result.headers });
      if (result.body !== undefined) options.onResponse?.({ service: 'graph', status: result.status, body: JSON.stringify(result.body) });
    };
    applyTokenFaults();
    const token = identity.verifyAccessToken(ctx.headers['authorization']);
    if (!token.ok) {
      service.stats.unauthorized++;
      // 401 InvalidAuthenticationToken in Graph's error body (https://learn.microsoft.com/graph/errors: "code",
      // "message", "innerError") with Graph's WWW-Authenticate challenge (https://github.com/microsofthackathons/tdi/issues/24).
      return answer(
        graphError(401, 'InvalidAuthenticationToken', token.message, ids, {
          ...baseHeaders,
          'www-authenticate': `Bearer realm="", authorization_uri="${baseUrl}/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`,
        }),
      );
    }
    // Graph authorises with the roles (app-only) or the scopes and user (delegated) in the token, not the app's
    // current registration.
    const roles = token.claims['roles'];
    const scopes = typeof token.claims['scp'] === 'string' ? token.claims['scp'].split(' ').filter(Boolean) : [];
    const app = {
      ...token.app,
      roles: Array.isArray(roles) ? roles.filter((r): r is string => typeof r === 'string') : [],
      ...(token.user ? { delegatedUser: { ...token.user, scopes } } : {}),
    };
    let raw: Buffer;
    try {
      raw = await readBody(ctx.req, MAX_GRAPH_BODY_BYTES);
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        const result = graphError(413, 'BadRequest', 'The maximum request length supported is 4MB.', ids, { ...baseHeaders, connection: 'close' });
        return answer(result);
      }
      throw error;
    }
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        return answer(graphError(400, 'BadRequest', 'Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.', ids, baseHeaders));
      }
    }
    if (/^\/\$batch\/?$/i.test(graphPath)) {
      if (ctx.method !== 'POST') return answer(graphError(405, 'BadRequest', 'Specified HTTP method is not allowed for the request target.', ids, baseHeaders));
      service.stats.batches++;
      service.noteSupportHeaders(ctx.headers);
      let items;
      try {
        items = parseBatch(body);
      } catch (error) {
        const e = error as { status: number; code: string; message: string };
        return answer(graphError(e.status ?? 400, e.code ?? 'BadRequest', e.message, ids, baseHeaders));
      }
      const { responses, drop } = await runBatch(service, items, app, ids);
      return answer({ status: 200, headers: { 'content-type': 'application/json; odata.metadata=minimal; odata.streaming=true; IEEE754Compatible=false; charset=utf-8' }, body: { responses }, drop });
    }
    const result = await service.execute({ method: ctx.method, path: graphPath, query: ctx.url.searchParams, headers: ctx.headers, body, app, ids });
    ctx.note = ctx.note ?? graphPath.split('/')[2];
    answer(result);
  }

  const server: Server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    const started = Date.now();
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'https://sandbox.invalid');
    } catch {
      url = new URL('https://sandbox.invalid/');
    }
    const ctx: RequestContext = { req, res, method: (req.method ?? 'GET').toUpperCase(), url, params: {}, headers: lowerHeaders(req) };
    res.on('close', () => {
      // One line per request; never headers or bodies (tokens, secrets).
      options.logger?.(`${ctx.method} ${url.pathname}${url.search.length > 0 ? url.search.slice(0, 200) : ''} ${res.headersSent ? res.statusCode : 'dropped'} ${Date.now() - started}ms${ctx.note ? ` ${ctx.note}` : ''}`);
    });
    void (async () => {
      try {
        await sleep(latency.roundTripMs);
        const path = url.pathname;
        if (/^\/v1\.0(\/|$)/i.test(path)) return await handleGraph(ctx, path.slice(5));
        if (/^\/EWS\/Exchange\.asmx$/i.test(path)) return await ews.handle(ctx);
        if (/^\/autodiscover\/autodiscover\.svc$/i.test(path)) return await ews.handleAutodiscover(ctx, `${baseUrl}/EWS/Exchange.asmx`, seed.domain);
        const match = router.match(ctx.method, path);
        if (match === 'method') return sendJson(res, 405, { error: 'invalid_request', error_description: 'Method not allowed.' });
        if (!match) return sendJson(res, 404, { error: { code: 'NotFound', message: `No sandbox endpoint at ${path}.` } });
        ctx.params = match.params;
        await match.handler(ctx);
      } catch (error) {
        if (!res.headersSent) sendJson(res, 500, { error: { code: 'InternalServerError', message: (error as Error).message } });
        else res.destroy();
      }
    })();
  });
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const hostForUrl = address.family === 'IPv6' || host.includes(':') ? `[${host}]` : host;
  baseUrl = `https://${hostForUrl}:${address.port}`;

  let closed: Promise<void> | undefined;
  const sandbox: SandboxInternals = {
    url: baseUrl,
    graphBaseUrl: `${baseUrl}/v1.0`,
    ewsUrl: `${baseUrl}/EWS/Exchange.asmx`,
    ews: {
      url: `${baseUrl}/EWS/Exchange.asmx`,
      accounts: structuredClone(seed.ewsAccounts ?? []),
      schemaValidationAvailable: ews.validator.available,
      stats: () => structuredClone(ews.stats),
      resetStats: () => ews.resetStats(),
      setThrottling: (o) => ews.throttler.configure(o),
      setSchemaValidation: (on) => {
        ews.schemaValidation = on;
      },
      setBehaviour: (o) => Object.assign(ews.behaviour, o),
      setDelegateRights: (account, mailbox, granted) => ews.accounts.setDelegate(account, mailbox, granted),
      streaming: {
        stats: () => ews.streaming.stats(),
        setTiming: (o) => Object.assign(ews.streaming.timing, o),
        closeConnections: () => ews.streaming.closeConnections(),
        expireSubscriptions: () => ews.streaming.expireSubscriptions(),
        garbleNext: () => ews.streaming.garbleNext(),
        floodNext: (bytes) => ews.streaming.floodNext(bytes),
      },
    },
    authorityUrl: `${baseUrl}/${seed.tenantId}`,
    tenantId: seed.tenantId,
    caPem: tls.certPem,
    demoCredentials,
    listEvents(address: string): GraphStoredEvent[] {
      const mailbox = service.mailbox(address);
      if (!mailbox) throw new Error(`sandbox: no mailbox '${address}' in the tenant`);
      return service.store
        .list(mailbox.address)
        .sort((a, b) => a.seq - b.seq)
        .map((record) => service.store.snapshot(record));
    },
    addEvent,
    autodiscoverUrl: `${baseUrl}/autodiscover/autodiscover.svc`,
    moveMailbox: (mailbox, to) => service.moveMailbox(mailbox, to),
    listMessages(address: string): SandboxMessage[] {
      const mailbox = service.mailbox(address);
      if (!mailbox) throw new Error(`sandbox: no mailbox '${address}' in the tenant`);
      return service.messages.list(mailbox.address).map((m) => ({
        id: m.id,
        type: m.type,
        subject: m.subject,
        body: m.body.content,
        from: m.from.address,
        to: m.to.map((p) => p.address),
        iCalUId: m.meeting.iCalUId,
        ...(m.requestType ? { requestType: m.requestType } : {}),
        ...(m.response ? { response: m.response } : {}),
        isOutOfDate: m.isOutOfDate,
        isRead: m.isRead,
      }));
    },
    outlook: (address) => outlookUser(service, address),
    meetings: {
      processing: (address) => service.meetings.processing(address),
      setProcessing: (address, settings) => service.meetings.setProcessing(address, settings),
      setBehaviour: (o) => Object.assign(service.meetings.behaviour, o),
    },
    subscriptions: {
      list: () => subscriptions.list().map((s) => ({ id: s.id, resource: s.resource, mailbox: s.mailbox.address, changeType: s.changeType, notificationUrl: s.notificationUrl, ...(s.lifecycleNotificationUrl ? { lifecycleNotificationUrl: s.lifecycleNotificationUrl } : {}), expirationDateTime: new Date(s.expirationMs).toISOString() })),
      lifecycle: (id, event) => subscriptions.lifecycle(id, event),
      flush: () => subscriptions.flush(),
      stats: () => ({ ...subscriptions.stats }),
    },
    listMailboxes: () => service.listMailboxes(),
    stats(): SandboxStats {
      return structuredClone(service.stats);
    },
    resetStats(): void {
      service.resetStats();
      ews.resetStats();
    },
    setThrottling(o): void {
      Object.assign(throttler.options, o);
    },
    setLatency(o): void {
      Object.assign(latency, o);
    },
    faults: {
      dropResponseAfterCreate: (n, mailbox) => service.dropResponseAfterCreate(n, mailbox),
      failNext: (n, status, opts) => service.failNext(n, status, opts),
      expireTokens: (opts) => tokenFault('expire', opts?.afterRequests),
      revokeTokens: (opts) => tokenFault('revoke', opts?.afterRequests),
      revokeMailbox: (mailbox, revoked = true) => service.setRevoked(mailbox, revoked),
      expireSyncStates: () => {
        service.changes.generation++;
      },
      clear: () => {
        service.clearFaults();
        tokenFaults.length = 0;
      },
    },
    signToken: (claims) => identity.signForTests(claims),
    delegated: {
      clientId: DELEGATED_CLIENT_ID,
      clientSecret: DELEGATED_CLIENT_SECRET,
      userPassword: USER_PASSWORD,
      addRedirectUri: (uri, clientId = DELEGATED_CLIENT_ID) => identity.addRedirectUri(clientId, uri),
      revokeConsent: (user, clientId) => identity.delegated.revokeConsent(user, clientId),
      revokeSessions: (user) => identity.delegated.revokeSessions(user),
      expireRefreshTokens: (user) => identity.delegated.expireRefreshTokens(user),
      refreshTokensIssued: () => identity.delegated.refreshTokensIssued(),
      hasConsent: (user, clientId = DELEGATED_CLIENT_ID) => identity.delegated.hasConsent(user, clientId),
    },
    close(): Promise<void> {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  };
  return sandbox;
}
