// Alerts: each condition — access lost where it worked, a revoked consent, a credential expiring, a feed failing N
// polls in a row, delivery stalled — is announced once (signed webhook and email) until it clears, then once as
// resolved; a receiver that is down gets the notification again after a back-off, not before.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alertsConfigSchema } from '../../src/alerts/config.ts';
import { AlertMonitor } from '../../src/alerts/monitor.ts';
import { signAlert, verifyAlertSignature } from '../../src/alerts/signature.ts';
import { eventKey } from '../../src/model/event.ts';
import { Keyring } from '../../src/store/sealed.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { startSmtpReceiver, startWebhookReceiver, type SmtpReceiver, type WebhookReceiver } from './receivers.ts';

const SECRET = randomBytes(32).toString('base64url');
let now = Date.parse('2026-09-01T08:00:00Z');
const clock = { now: () => now };
let hook: WebhookReceiver;
let smtp: SmtpReceiver;
let store: SqliteStore;
let monitor: AlertMonitor;

beforeAll(async () => {
  hook = await startWebhookReceiver(SECRET, () => now);
  smtp = await startSmtpReceiver();
  const dir = mkdtempSync(join(tmpdir(), 'alerts-'));
  writeFileSync(join(dir, 'hook.secret'), SECRET, { mode: 0o600 });
  store = new SqliteStore(join(dir, 'calpush.sqlite'), { clock, keyring: new Keyring([{ id: 'k', key: randomBytes(32) }]) });
  const config = alertsConfigSchema.parse({
    webhooks: [{ url: hook.url, secret: { file: 'hook.secret' } }],
    email: { smtp: { host: '127.0.0.1', port: smtp.port }, from: 'calpush@contoso.edu', to: ['ops@contoso.edu'] },
    feedFailures: 3,
    stalledMinutes: 10,
    credentialExpiryDays: 30,
  });
  monitor = new AlertMonitor({
    config,
    baseDir: dir,
    instance: 'timetable',
    store,
    feedCalendars: ['feed@contoso.edu'],
    credentials: [{ name: 'the certificate of app 1111', expiresAt: new Date(now + 10 * 86_400_000) }],
    connectUrl: (calendar) => `https://calpush.contoso.edu/connect?mailbox=${encodeURIComponent(calendar)}`,
    clock,
  });
});
afterAll(async () => {
  await store?.close();
  await hook?.close();
  await smtp?.close();
});

const kinds = () => hook.received.map((r) => `${r.body.event} ${r.body.kind} ${r.body.subject}`).sort();
const at = '2026-09-01T08:00:00.000Z';

describe('alerts', () => {
  it('announce every condition once, signed, by webhook and email', async () => {
    // Lost access where delivery worked before; a mailbox that never worked is not "lost".
    await store.recordMailboxOk('worked@contoso.edu', 1);
    await store.recordMailboxFailure('worked@contoso.edu', 'ErrorAccessDenied', 'Access is denied.', 'add it to the scope');
    await store.recordMailboxFailure('never@contoso.edu', 'ErrorAccessDenied', 'Access is denied.');
    await store.saveConnection({ calendar: 'alice@contoso.edu', userObjectId: 'o', homeAccountId: 'h', username: 'alice@contoso.edu', state: 'connected', reason: null, reasonMessage: null, connectedAt: at, changedAt: at, lastRefreshAt: null }, '{}');
    await store.disconnect('alice@contoso.edu', 'ConsentRevoked', 'the permission was withdrawn');
    await store.saveConnection({ calendar: 'bob@contoso.edu', userObjectId: 'o2', homeAccountId: 'h2', username: 'bob@contoso.edu', state: 'connected', reason: null, reasonMessage: null, connectedAt: at, changedAt: at, lastRefreshAt: null }, '{}');
    await store.disconnect('bob@contoso.edu', 'DisconnectedByPerson', 'by bob');
    await store.saveFeedState({ calendar: 'feed@contoso.edu', url: 'sha256:x', etag: null, lastModified: null, consecutiveEmpty: 0, lastFetchAt: at, lastFullFetchAt: null, lastOutcome: 'failed', lastError: 'http: 500', lastChangeAt: null, consecutiveFailures: 3 });
    await monitor.tick();
    await monitor.tick();
    expect(kinds()).toEqual([
      'firing access-lost worked@contoso.edu',
      'firing consent-revoked alice@contoso.edu',
      'firing credential-expiring the certificate of app 1111',
      'firing feed-failing feed@contoso.edu',
    ]);
    expect(hook.received.every((r) => r.signatureValid)).toBe(true);
    const consent = hook.received.find((r) => r.body.kind === 'consent-revoked')!;
    expect(consent.body.remedy).toContain('https://calpush.contoso.edu/connect?mailbox=alice%40contoso.edu');
    expect(consent.headers['calpush-event']).toBe('firing');
    expect(smtp.messages).toHaveLength(4);
    // Headers unfolded (RFC 5322 §2.2.3: a long header line continues on lines that start with white space).
    expect(smtp.messages.map((m) => m.data.replace(/\r\n[ \t]+/g, ' ')).join('\n')).toMatch(/Subject: \[calpush timetable\] ALERT: calpush lost access to worked@contoso\.edu/);
    expect(smtp.messages[0]!.to).toEqual(['ops@contoso.edu']);
  });

  it('announce a condition that clears once as resolved', async () => {
    await store.recordMailboxOk('worked@contoso.edu', 1);
    await monitor.tick();
    await monitor.tick();
    expect(kinds().filter((k) => k.startsWith('resolved'))).toEqual(['resolved access-lost worked@contoso.edu']);
    // It comes back: a new alert.
    await store.recordMailboxFailure('worked@contoso.edu', 'MailboxNotEnabledForRESTAPI', 'REST API is not yet supported for this mailbox.');
    await monitor.tick();
    expect(kinds().filter((k) => k === 'firing access-lost worked@contoso.edu')).toHaveLength(2);
  });

  it('see delivery stalled: work pending and no progress for the configured minutes', async () => {
    const calendar = 'stuck@contoso.edu';
    await store.replacePendingOps(calendar, [{ calendar, key: eventKey(calendar, 'x'), kind: 'create', itemId: null, contentHash: 'h', transactionId: 't', startsAtMs: now, attempts: 0, lastError: null }]);
    await monitor.tick();
    now += 9 * 60_000;
    await monitor.tick();
    expect(kinds().some((k) => k.includes('delivery-stalled'))).toBe(false);
    now += 2 * 60_000;
    await monitor.tick();
    expect(kinds().filter((k) => k.includes('delivery-stalled'))).toEqual(['firing delivery-stalled delivery']);
    await store.replacePendingOps(calendar, []);
    await monitor.tick();
    expect(kinds().filter((k) => k.includes('delivery-stalled'))).toEqual(['firing delivery-stalled delivery', 'resolved delivery-stalled delivery']);
  });

  it('send again after a back-off when the receiver is down, not before', async () => {
    const before = hook.received.length;
    hook.failNext(1, 503);
    await store.recordMailboxOk('worked@contoso.edu', 1);
    await monitor.tick();
    expect(hook.received.length).toBe(before);
    now += 10_000;
    await monitor.tick();
    expect(hook.received.length).toBe(before);
    now += 25_000;
    await monitor.tick();
    expect(hook.received.length).toBe(before + 1);
    expect(hook.received.at(-1)!.body).toMatchObject({ event: 'resolved', kind: 'access-lost' });
  });

  it('signatures: a changed body, another secret or an old timestamp do not verify (the replay window)', () => {
    const body = '{"event":"firing"}';
    const header = signAlert(SECRET, body, now);
    expect(verifyAlertSignature(SECRET, header, body, now)).toBe(true);
    expect(verifyAlertSignature(SECRET, header, '{"event":"resolved"}', now)).toBe(false);
    expect(verifyAlertSignature('other', header, body, now)).toBe(false);
    expect(verifyAlertSignature(SECRET, header, body, now + 301_000)).toBe(false);
    expect(verifyAlertSignature(SECRET, 'garbage', body, now)).toBe(false);
  });
});
