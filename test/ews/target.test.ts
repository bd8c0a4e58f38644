// The EWS target against a fake EWS endpoint on loopback, where only EWS has something to say: what goes on the wire
// in both access modes, error classification (ErrorServerBusy throttling the account, access errors, 401, TLS, DNS,
// schema faults), NTLM, ChangeKeys, the recovery of a batch of creates whose answer was lost, and the service-account
// pool. What every target does alike is the contract suite's (test/targets/contract.ts, ews.test.ts). The target
// never waits: where a test is about how long the account waits, it sends through the scheduler with the account's
// lane, as delivery does.
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { generateServerCertificate } from '../../src/sandbox/index.ts';
import { EwsTarget, type EwsTargetOptions } from '../../src/targets/ews/target.ts';
import { assignAccount } from '../../src/targets/ews/accounts.ts';
import { soapAction } from '../../src/targets/ews/requests.ts';
import { TargetError, type BatchOp } from '../../src/targets/target.ts';
import { FakeEws, type FakeEwsOptions } from './fake-ews.ts';
import { desired } from './helpers.ts';
import { validateEnvelopes } from './xmllint.ts';
import { rejection } from '../support/rejection.ts';

const tls = generateServerCertificate();
const MAILBOXES = Array.from({ length: 40 }, (_, i) => `s${String(i + 1).padStart(4, '0')}@contoso.edu`);
const ACCOUNTS = { 'contoso\\svc1': 'Pa55-one', 'contoso\\svc2': 'Pa55-two', 'svc3@contoso.edu': 'Pa55-three' };

const servers: FakeEws[] = [];
async function fake(options: Partial<FakeEwsOptions> = {}): Promise<FakeEws> {
  const server = await new FakeEws({ auth: 'ntlm', accounts: ACCOUNTS, tls, mailboxes: MAILBOXES, ...options }).start();
  servers.push(server);
  return server;
}
const targets: EwsTarget[] = [];
function target(server: FakeEws, options: Partial<EwsTargetOptions> = {}): EwsTarget {
  const created = new EwsTarget({
    instance: 'unit',
    url: server.url,
    serverVersion: 'Exchange2013',
    access: 'delegate',
    auth: 'ntlm',
    accounts: [{ username: 'CONTOSO\\svc1', password: 'Pa55-one' }],
    caPem: tls.certPem,
    allowInsecureHttp: true,
    allDayTimeZone: 'Europe/Amsterdam',
    ...options,
  });
  targets.push(created);
  return created;
}
afterAll(async () => {
  for (const t of targets) await t.close();
  for (const s of servers) await s.close();
});

const lecture = (calendar: string, n: number, extra: Record<string, unknown> = {}) =>
  desired({ calendar, id: `lecture-${n}`, subject: `Lecture ${n}`, start: `2026-12-0${1 + (n % 9)}T09:00`, end: `2026-12-0${1 + (n % 9)}T10:00`, ...extra });

/** Sends `run` for the calendar through the scheduler in the calendar's account lane, as delivery does. */
function through<T>(scheduler: Scheduler, t: EwsTarget, calendar: string, run: () => Promise<T>, cost = 1): Promise<T> {
  return scheduler.submit(calendar, run, { lane: t.laneFor(calendar), cost });
}

async function listAll(t: EwsTarget, calendar: string) {
  const items = [];
  let cursor: string | undefined;
  do {
    const page = await t.listOwned(calendar, cursor);
    items.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return items;
}

describe.each(['delegate', 'impersonation'] as const)('operations (%s)', (access) => {
  let server: FakeEws;
  beforeAll(async () => {
    server = await fake();
  });

  // What the operations do is the target contract's (test/targets/ews.test.ts); here: what goes on the wire.
  it('every request is schema-valid, anchored on the mailbox, and impersonates only in impersonation mode', async () => {
    const t = target(server, { access, pageSize: 3 });
    const mailbox = MAILBOXES[0]!;
    const refs = [];
    for (let n = 0; n < 5; n++) refs.push(await t.create(lecture(mailbox, n), `tx-${access}-${n}`));
    let cursor: string | undefined;
    do cursor = (await t.listOwned(mailbox, cursor)).next;
    while (cursor);
    const updated = await t.update(lecture(mailbox, 1, { subject: 'Moved', location: undefined, categories: [] }), { itemId: refs[1]!.itemId, changeKey: null });
    await t.remove(mailbox, updated);

    const sent = server.requests.filter((r) => r.account !== null);
    expect(new Set(sent.map((r) => r.operation))).toEqual(new Set(['CreateItem', 'FindItem', 'UpdateItem', 'DeleteItem']));
    expect(sent.every((r) => r.anchor === mailbox)).toBe(true);
    expect(validateEnvelopes(sent.map((r) => r.body))).toEqual([]);
    for (const r of sent) {
      expect(r.body.includes('<t:ExchangeImpersonation>')).toBe(access === 'impersonation');
    }
  });

  it('sends a batch of mixed operations as one request per kind', async () => {
    const t = target(server, { access, batchSize: 10 });
    const mailbox = MAILBOXES[1]!;
    const a = await t.create(lecture(mailbox, 1), 'b-1');
    const b = await t.create(lecture(mailbox, 2), 'b-2');
    const before = server.requests.length;
    const ops: BatchOp[] = [
      { kind: 'create', desired: lecture(mailbox, 3), transactionId: 'b-3' },
      { kind: 'update', desired: lecture(mailbox, 1, { subject: 'one' }), item: { itemId: a.itemId, changeKey: null } },
      { kind: 'create', desired: lecture(mailbox, 4), transactionId: 'b-4' },
      { kind: 'delete', calendar: mailbox, item: { itemId: b.itemId, changeKey: null } },
      { kind: 'delete', calendar: mailbox, item: { itemId: 'AAMkgone', changeKey: null } },
    ];
    const outcomes = await t.batch!.run(mailbox, ops);
    expect(outcomes.map((o) => o.ok)).toEqual([true, true, true, true, true]);
    // The delete of an item already gone is confirmed by reading the calendar folder once (it is reachable).
    expect(server.requests.slice(before).map((r) => r.operation)).toEqual(['CreateItem', 'UpdateItem', 'DeleteItem', 'GetFolder']);
    expect(server.listItems(mailbox)).toHaveLength(3);
  });
});

describe('errors', () => {
  let server: FakeEws;
  beforeAll(async () => {
    server = await fake({ denied: { 'contoso\\svc1': [MAILBOXES[5]!] } });
  });

  it('ErrorServerBusy throttles the account: through the scheduler, every mailbox of the account waits out BackOffMilliseconds, the request is sent again, the account slows down', async () => {
    const t = target(server);
    const scheduler = new Scheduler();
    server.faults.push({ kind: 'busy', backOffMs: 600, account: 'contoso\\svc1', operation: 'CreateItem' });
    const started = Date.now();
    // Another mailbox of the same account, sent while the first waits: it waits too.
    const [first, second] = await Promise.all([
      through(scheduler, t, MAILBOXES[2]!, () => t.create(lecture(MAILBOXES[2]!, 1), 'busy-1')),
      new Promise((resolve) => setTimeout(resolve, 100)).then(() => through(scheduler, t, MAILBOXES[3]!, () => t.listOwned(MAILBOXES[3]!))),
    ]);
    expect(first.itemId).toBeTruthy();
    expect(second.items).toEqual([]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(server.requests.filter((r) => r.operation === 'CreateItem' && r.anchor === MAILBOXES[2])).toHaveLength(2);
    expect(t.accountStats()[0]!.busy).toBe(1);
    // The account's lane: throttled once, its concurrency (8) halved; the mailboxes' own lanes were not throttled.
    expect(scheduler.accountLanes()).toMatchObject([{ key: t.laneFor(MAILBOXES[2]!).key, throttled: 1, concurrency: 4, maxConcurrency: 8 }]);
    expect(scheduler.mailboxLimit(MAILBOXES[2]!)).toBe(4);
  });

  it('ErrorServerBusy is transient and names the account and its BackOffMilliseconds; the target sends nothing again itself, and nothing is looked for before resending', async () => {
    const t = target(server);
    server.faults.push({ kind: 'busy', backOffMs: 300, account: 'contoso\\svc1' });
    const creates = () => server.requests.filter((r) => r.operation === 'CreateItem' && r.anchor === MAILBOXES[2]).length;
    const before = creates();
    const error = await rejection(t.create(lecture(MAILBOXES[2]!, 2), 'busy-2'));
    expect(error).toMatchObject({ scope: 'transient', code: 'ErrorServerBusy', retryAfterMs: 300, throttles: 'account' });
    expect(error.remedy).toMatch(/service accounts/);
    expect(creates()).toBe(before + 1);
    // ErrorServerBusy refused the request: nothing to look for before sending it again.
    const findsBefore = server.requests.filter((r) => r.operation === 'FindItem').length;
    await t.create(lecture(MAILBOXES[2]!, 2), 'busy-2');
    expect(server.requests.filter((r) => r.operation === 'FindItem').length).toBe(findsBefore);
  });

  it('a client-side budget paces the account by items (the scheduler keeps it, in the account lane)', async () => {
    const t = target(server, { accountItemsPerMinute: 3 });
    const scheduler = new Scheduler();
    const mailbox = MAILBOXES[12]!;
    expect(t.laneFor(mailbox)).toMatchObject({ itemsPerMinute: 3 });
    const ops: BatchOp[] = [
      { kind: 'create', desired: lecture(mailbox, 1), transactionId: 'pace-1' },
      { kind: 'create', desired: lecture(mailbox, 2), transactionId: 'pace-2' },
    ];
    await through(scheduler, t, mailbox, () => t.batch!.run(mailbox, ops), 2);
    await through(scheduler, t, mailbox, () => t.listOwned(mailbox));
    // The budget (3 items a minute) is spent: the next request of the account — another mailbox's too — waits.
    const other = MAILBOXES[13]!;
    const pending = through(scheduler, t, other, () => t.listOwned(other)).then(() => 'sent');
    const outcome = await Promise.race([pending, new Promise((resolve) => setTimeout(() => resolve('waiting'), 300))]);
    expect(outcome).toBe('waiting');
    scheduler.abandonAll(new TargetError('fatal', 'TestOver', 'the test is over'));
    await expect(pending).rejects.toThrow('the test is over');
  });

  it('ErrorServerBusy inside a batch answer: that item is transient, the others done', async () => {
    const t = target(server);
    server.faults.push({ kind: 'busy', backOffMs: 50, asMessage: true, operation: 'CreateItem' });
    const mailbox = MAILBOXES[4]!;
    const outcomes = await t.batch!.run(mailbox, [
      { kind: 'create', desired: lecture(mailbox, 1), transactionId: 'bb-1' },
      { kind: 'create', desired: lecture(mailbox, 2), transactionId: 'bb-2' },
    ]);
    expect(outcomes[0]).toMatchObject({ ok: false, error: { scope: 'transient', code: 'ErrorServerBusy', retryAfterMs: 50 } });
    expect(outcomes[1]).toMatchObject({ ok: true });
  });

  it('access errors stop the mailbox with the remedy (delegate and impersonation)', async () => {
    const delegateError = await rejection(target(server).listOwned(MAILBOXES[5]!));
    expect(delegateError).toMatchObject({ scope: 'mailbox', code: 'ErrorAccessDenied' });
    expect(delegateError.remedy).toMatch(/Add-MailboxFolderPermission/);
    const impersonationError = await rejection(target(server, { access: 'impersonation' }).create(lecture(MAILBOXES[5]!, 1), 'denied'));
    expect(impersonationError).toMatchObject({ scope: 'mailbox', code: 'ErrorImpersonateUserDenied' });
    expect(impersonationError.remedy).toMatch(/ApplicationImpersonation/);
    const missing = await rejection(target(server).listOwned('nobody@contoso.edu'));
    expect(missing).toMatchObject({ scope: 'mailbox', code: 'ErrorNonExistentMailbox' });
  });

  it('a wrong password is fatal with the remedy; so is NTLM not being offered', async () => {
    const wrong = await rejection(target(server, { accounts: [{ username: 'CONTOSO\\svc1', password: 'wrong' }] }).listOwned(MAILBOXES[0]!));
    expect(wrong).toMatchObject({ scope: 'fatal', code: 'HTTP401' });
    expect(wrong.remedy).toMatch(/wrong password, account locked/);
    expect(wrong.message).toContain('CONTOSO\\svc1');
    expect(wrong.message).not.toContain('wrong');
    const basicOnly = await fake({ auth: 'basic', accounts: { 'contoso\\svc1': 'Pa55-one' } });
    const notOffered = await rejection(target(basicOnly).listOwned(MAILBOXES[0]!));
    expect(notOffered).toMatchObject({ scope: 'fatal', code: 'NtlmNotOffered' });
  });

  it('an untrusted certificate and an unknown host are fatal with their remedies', async () => {
    const untrusted = await rejection(target(server, { caPem: undefined }).listOwned(MAILBOXES[0]!));
    expect(untrusted.scope).toBe('fatal');
    expect(untrusted.remedy).toMatch(/caFile/);
    const unknown = await rejection(target(server, { url: 'https://calpush-no-such-host.invalid/EWS/Exchange.asmx' }).listOwned(MAILBOXES[0]!));
    expect(unknown).toMatchObject({ scope: 'fatal', code: 'ENOTFOUND' });
  });

  it('nothing listening at target.url before Exchange ever answered: fatal, naming the URL; after an answer: transient', async () => {
    const closed = await fake();
    const url = closed.url;
    await closed.close();
    const never = await rejection(target(closed, { url }).listOwned(MAILBOXES[0]!));
    expect(never).toMatchObject({ scope: 'fatal', code: 'ECONNREFUSED' });
    expect(never.message).toBe(`could not reach Exchange: connection to ${url} refused (ECONNREFUSED): nothing listens at ${new URL(url).host}`);
    expect(never.remedy).toBe(`check target.url (${url}): is the server running, and are the host and port in the config right?`);

    const flaky = await fake();
    const reached = target(flaky);
    await reached.listOwned(MAILBOXES[0]!);
    await flaky.close();
    const later = await rejection(reached.listOwned(MAILBOXES[0]!));
    expect(later).toMatchObject({ scope: 'transient' });
  });

  it('plain http is refused unless allowed', () => {
    expect(() => target(server, { url: 'http://127.0.0.1:1/EWS/Exchange.asmx', allowInsecureHttp: false })).toThrow(/unencrypted/);
  });

  it('a schema fault is an item error and is logged as a calpush bug', async () => {
    const logged: string[] = [];
    const t = target(server, { log: (m) => logged.push(m) });
    server.faults.push({ kind: 'fault', code: 'ErrorSchemaValidation', message: 'The request failed schema validation.' });
    const error = await rejection(t.create(lecture(MAILBOXES[6]!, 1), 'schema'));
    expect(error.scope).toBe('item');
    expect(logged.join('\n')).toMatch(/malformed.*bug/);
  });

  it('HTTP 503 is transient, throttles the account, with its Retry-After; an HTML 200 is transient', async () => {
    const t = target(server);
    server.faults.push({ kind: 'http', status: 503, headers: { 'retry-after': '3' } });
    expect(await rejection(t.listOwned(MAILBOXES[0]!))).toMatchObject({ scope: 'transient', retryAfterMs: 3000, throttles: 'account' });
    server.faults.push({ kind: 'http', status: 200, body: '<html>proxy</html>' });
    const unreadable = await rejection(t.listOwned(MAILBOXES[0]!));
    expect(unreadable).toMatchObject({ scope: 'transient', code: 'UnreadableAnswer' });
    expect(unreadable.throttles).toBeUndefined();
  });
});

describe('ChangeKeys', () => {
  it('re-reads the ChangeKey once when the server insists on one, and reads it first from then on', async () => {
    const server = await fake({ requireChangeKey: true });
    const t = target(server);
    const mailbox = MAILBOXES[8]!;
    const writer = target(server);
    const a = await writer.create(lecture(mailbox, 1), 'ck-1');
    const b = await writer.create(lecture(mailbox, 2), 'ck-2');
    await t.update(lecture(mailbox, 1, { subject: 'x' }), { itemId: a.itemId, changeKey: null });
    expect(server.requests.slice(-3).map((r) => r.operation)).toEqual(['UpdateItem', 'GetItem', 'UpdateItem']);
    await t.update(lecture(mailbox, 2, { subject: 'y' }), { itemId: b.itemId, changeKey: null });
    expect(server.requests.slice(-2).map((r) => r.operation)).toEqual(['GetItem', 'UpdateItem']);
    // A ChangeKey learnt from an answer is used without asking.
    await t.update(lecture(mailbox, 2, { subject: 'z' }), { itemId: b.itemId, changeKey: null });
    expect(server.requests.slice(-1).map((r) => r.operation)).toEqual(['UpdateItem']);
    expect(server.items.get(b.itemId)!.fields['Subject']).toBe('z');
  });
});

describe('ChangeKeys carried on update and delete', () => {
  it('sends the stored ChangeKey; a stale one is read again (GetItem) and the write sent once more', async () => {
    const server = await fake({ checkChangeKey: true });
    const writer = target(server);
    const mailbox = MAILBOXES[13]!;
    const a = await writer.create(lecture(mailbox, 1), 'stale-1');
    const b = await writer.create(lecture(mailbox, 2), 'stale-2');
    // Someone edited both in Outlook since: the ChangeKeys calpush stored are stale (a fresh process knows no other).
    for (const id of [a.itemId, b.itemId]) server.items.get(id)!.changeKey = `CKedited${id.slice(-4)}`;
    const t = target(server);
    let before = server.requests.length;
    const updated = await t.update(lecture(mailbox, 1, { subject: 'Restored' }), a);
    expect(server.requests.slice(before).map((r) => r.operation)).toEqual(['UpdateItem', 'GetItem', 'UpdateItem']);
    expect(server.requests[before]!.body).toContain(`ChangeKey="${a.changeKey}"`);
    expect(server.items.get(a.itemId)!.fields['Subject']).toBe('Restored');
    expect(updated.changeKey).toBe(server.items.get(a.itemId)!.changeKey);
    // The ChangeKey the update answered is current: the next write needs no GetItem.
    before = server.requests.length;
    await t.update(lecture(mailbox, 1, { subject: 'Again' }), updated);
    expect(server.requests.slice(before).map((r) => r.operation)).toEqual(['UpdateItem']);

    before = server.requests.length;
    await t.remove(mailbox, b);
    expect(server.requests.slice(before).map((r) => r.operation)).toEqual(['DeleteItem', 'GetItem', 'DeleteItem']);
    expect(server.requests[before]!.body).toContain(`ChangeKey="${b.changeKey}"`);
    expect(server.items.has(b.itemId)).toBe(false);
  });

  it('leaves an item alone whose tag is no longer ours: the update is "gone", the delete forgets it', async () => {
    const server = await fake({ checkChangeKey: true });
    const writer = target(server);
    const mailbox = MAILBOXES[14]!;
    const a = await writer.create(lecture(mailbox, 1), 'untag-1');
    const b = await writer.create(lecture(mailbox, 2), 'untag-2');
    for (const id of [a.itemId, b.itemId]) {
      const item = server.items.get(id)!;
      item.changeKey = 'CKchanged';
      delete item.props['CalpushKey'];
    }
    const t = target(server);
    expect(await rejection(t.update(lecture(mailbox, 1, { subject: 'Not mine to write' }), a))).toMatchObject({ scope: 'gone', code: 'NotOurs' });
    await t.remove(mailbox, b);
    expect(server.items.get(a.itemId)!.fields['Subject']).toBe('Lecture 1');
    expect(server.items.has(b.itemId)).toBe(true);
  });
});

describe('ErrorItemNotFound is confirmed before it counts', () => {
  it('a delete of a missing item is done once the calendar folder answers; lost rights make it a mailbox failure', async () => {
    const server = await fake();
    const mailbox = MAILBOXES[15]!;
    const t = target(server);
    const kept = await target(server).create(lecture(mailbox, 1), 'confirm-1');
    let before = server.requests.length;
    await t.remove(mailbox, { itemId: 'AAMkAlreadyGone', changeKey: null });
    expect(server.requests.slice(before).map((r) => r.operation)).toEqual(['DeleteItem', 'GetFolder']);

    // The account lost its rights: Exchange answers the item ErrorItemNotFound, the folder ErrorAccessDenied.
    server.options.denied = { 'contoso\\svc1': [mailbox] };
    server.faults.push({ kind: 'message', code: 'ErrorItemNotFound', operation: 'DeleteItem' });
    before = server.requests.length;
    const lost = await rejection(t.remove(mailbox, kept));
    expect(lost).toMatchObject({ scope: 'mailbox', code: 'ErrorAccessDenied' });
    expect(lost.remedy).toMatch(/Add-MailboxFolderPermission/);
    expect(server.requests.slice(before).map((r) => r.operation)).toEqual(['DeleteItem', 'GetFolder']);
    // The same for an update: a mailbox failure, not "gone" (which would make the engine create a second copy).
    server.faults.push({ kind: 'message', code: 'ErrorItemNotFound', operation: 'UpdateItem' });
    expect(await rejection(t.update(lecture(mailbox, 1, { subject: 'x' }), kept))).toMatchObject({ scope: 'mailbox', code: 'ErrorAccessDenied' });
    expect(server.items.has(kept.itemId)).toBe(true);
    server.options.denied = {};
  });
});

describe('throttling forms', () => {
  it('HTTP 503 pauses the account and is sent again, without spending an attempt (busyRetries)', async () => {
    const server = await fake();
    const t = target(server);
    // One attempt only: a throttling answer of the account is not a failed attempt, up to busyRetries (3) in a row.
    const scheduler = new Scheduler({ maxAttempts: 1 });
    for (let n = 0; n < 3; n++) server.faults.push({ kind: 'http', status: 503, headers: { 'retry-after': '0.05' } });
    const page = await through(scheduler, t, MAILBOXES[16]!, () => t.listOwned(MAILBOXES[16]!));
    expect(page.items).toEqual([]);
    expect(server.requests.map((r) => r.operation)).toEqual(['FindItem', 'FindItem', 'FindItem', 'FindItem']);
    expect(t.accountStats()[0]!.busy).toBe(3);
    // The fourth in a row is one failed attempt: with one allowed, the request fails.
    for (let n = 0; n < 4; n++) server.faults.push({ kind: 'http', status: 503, headers: { 'retry-after': '0.01' } });
    expect(await rejection(through(scheduler, t, MAILBOXES[16]!, () => t.listOwned(MAILBOXES[16]!)))).toMatchObject({ code: 'HTTP503', throttles: 'account' });
  });

  it('HTTP 200 with ErrorInternalServerError and an inner ErrorServerBusy is ErrorServerBusy: the account pauses, the items are transient', async () => {
    const server = await fake();
    const t = target(server);
    const mailbox = MAILBOXES[17]!;
    server.faults.push({ kind: 'innerBusy', backOffMs: 40, operation: 'CreateItem' });
    const busy = await rejection(t.create(lecture(mailbox, 1), 'inner-1'));
    expect(busy).toMatchObject({ scope: 'transient', code: 'ErrorServerBusy', retryAfterMs: 40 });
    expect(t.accountStats()[0]!.busy).toBe(1);
    expect(server.listItems(mailbox)).toHaveLength(0);
    await t.create(lecture(mailbox, 1), 'inner-1');
    expect(server.listItems(mailbox)).toHaveLength(1);
  });

  it('a fault after part of a batch was done leaves the creates uncertain: they are looked up, not sent twice', async () => {
    const server = await fake();
    const t = target(server, { batchSize: 10 });
    const mailbox = MAILBOXES[18]!;
    const ops: BatchOp[] = [1, 2, 3].map((n) => ({ kind: 'create', desired: lecture(mailbox, n), transactionId: `cut-${n}` }));
    server.faults.push({ kind: 'faultAfter', code: 'ErrorTimeoutExpired', operation: 'CreateItem' });
    await expect(t.batch!.run(mailbox, ops)).rejects.toMatchObject({ scope: 'transient', code: 'ErrorTimeoutExpired' });
    expect(server.listItems(mailbox)).toHaveLength(3);
    const outcomes = await t.batch!.run(mailbox, ops);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(server.listItems(mailbox)).toHaveLength(3);
    expect(server.requests.slice(-1)[0]!.operation).toBe('FindItem');
  });

  it('creates found by their transactionId stay found while the rest of their request is refused and sent again: nothing twice', async () => {
    const server = await fake();
    const t = target(server, { batchSize: 10 });
    const mailbox = MAILBOXES[20]!;
    const create = (n: number): BatchOp => ({ kind: 'create', desired: lecture(mailbox, n), transactionId: `again-${n}` });
    // Two creates whose answer was lost (done, then a fault): uncertain.
    server.faults.push({ kind: 'faultAfter', code: 'ErrorTimeoutExpired', operation: 'CreateItem' });
    await expect(t.batch!.run(mailbox, [create(1), create(2)])).rejects.toMatchObject({ code: 'ErrorTimeoutExpired' });
    // Sent again with a third: the two are found, the CreateItem for the third is refused as busy (the scheduler will
    // send the request again) …
    server.faults.push({ kind: 'busy', backOffMs: 10, operation: 'CreateItem' });
    await expect(t.batch!.run(mailbox, [create(1), create(2), create(3)])).rejects.toMatchObject({ code: 'ErrorServerBusy' });
    // … and when it is, only the third is created.
    const outcomes = await t.batch!.run(mailbox, [create(1), create(2), create(3)]);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(server.listItems(mailbox).map((item) => item.props['CalpushTransactionId']).sort()).toEqual(['again-1', 'again-2', 'again-3']);
  });
});

describe('what a request carries', () => {
  it('the SOAPAction of its operation, as Services.wsdl binds it', async () => {
    const server = await fake();
    const t = target(server);
    const mailbox = MAILBOXES[19]!;
    const ref = await t.create(lecture(mailbox, 1), 'action-1');
    await t.listOwned(mailbox);
    await t.update(lecture(mailbox, 1, { subject: 'x' }), ref);
    await t.remove(mailbox, ref);
    await t.remove(mailbox, ref);
    const seen = new Map(server.requests.map((r) => [r.operation, r.soapAction]));
    expect([...seen.keys()].sort()).toEqual(['CreateItem', 'DeleteItem', 'FindItem', 'GetFolder', 'UpdateItem']);
    for (const [operation, action] of seen) expect(action).toBe(`"http://schemas.microsoft.com/exchange/services/2006/messages/${operation}"`);
    // The rule is the WSDL's: every operation the shipped Services.wsdl binds has exactly this soapAction.
    const wsdl = readFileSync(new URL('../../src/sandbox/ews/schema/services.wsdl', import.meta.url), 'utf8');
    const bound = [...wsdl.matchAll(/<wsdl:operation name="(\w+)">\s*<soap:operation soapAction="([^"]+)"/g)];
    expect(bound.length).toBeGreaterThan(5);
    for (const [, name, action] of bound) expect(`"${action}"`).toBe(soapAction(name!));
  });

  it('asks for the page the server gives: 250 items from Exchange 2013 on, 1000 for Exchange 2010 SP2', async () => {
    const server = await fake();
    await target(server, { serverVersion: 'Exchange2016' }).listOwned(MAILBOXES[20]!);
    await target(server, { serverVersion: 'Exchange2010_SP2' }).listOwned(MAILBOXES[20]!);
    expect(server.requests.map((r) => /MaxEntriesReturned="(\d+)"/.exec(r.body)![1])).toEqual(['250', '1000']);
  });
});

describe('a create whose answer was lost', () => {
  // One create is the target contract's (test/targets/ews.test.ts); a batch is looked up here.
  it('inside a batch: the creates that landed are found by their transactionId and not sent again, the others are', async () => {
    const server = await fake();
    const t = target(server);
    const mailbox = MAILBOXES[9]!;
    server.faults.push({ kind: 'drop', operation: 'CreateItem' });
    const ops: BatchOp[] = [
      { kind: 'create', desired: lecture(mailbox, 2), transactionId: 'lost-2' },
      { kind: 'create', desired: lecture(mailbox, 3), transactionId: 'lost-3' },
    ];
    await expect(t.batch!.run(mailbox, ops)).rejects.toMatchObject({ scope: 'transient' });
    expect(server.listItems(mailbox)).toHaveLength(2);
    const outcomes = await t.batch!.run(mailbox, ops);
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(server.listItems(mailbox)).toHaveLength(2);
    expect(server.requests.slice(-1)[0]!.operation).toBe('FindItem');
  });
});

describe('authentication', () => {
  it('NTLMv2: one handshake per connection, then requests ride the authenticated connection', async () => {
    const server = await fake();
    const t = target(server, { accountConcurrency: 2 });
    for (let n = 0; n < 6; n++) await t.create(lecture(MAILBOXES[10]!, n), `ntlm-${n}`);
    expect(server.handshakes).toBe(1);
    await Promise.all(Array.from({ length: 6 }, (_, n) => t.create(lecture(MAILBOXES[11]!, n), `ntlm-p-${n}`)));
    expect(server.handshakes).toBeLessThanOrEqual(2);
    expect(server.listItems(MAILBOXES[11]!)).toHaveLength(6);
  });

  it('NTLM with a UPN and with user + domain', async () => {
    const server = await fake();
    await target(server, { accounts: [{ username: 'svc3@contoso.edu', password: 'Pa55-three' }] }).listOwned(MAILBOXES[0]!);
    await target(server, { accounts: [{ username: 'svc2', domain: 'CONTOSO', password: 'Pa55-two' }] }).listOwned(MAILBOXES[0]!);
    expect(server.requests.map((r) => r.account)).toEqual(['svc3@contoso.edu', 'contoso\\svc2']);
  });

  it('Basic over TLS, and bearer tokens', async () => {
    const basic = await fake({ auth: 'basic', accounts: { 'contoso\\svc1': 'Pa55 one:with colon' } });
    await target(basic, { auth: 'basic', accounts: [{ username: 'CONTOSO\\svc1', password: 'Pa55 one:with colon' }] }).listOwned(MAILBOXES[0]!);
    expect(basic.requests[0]!.account).toBe('contoso\\svc1');
    const bearer = await fake({ auth: 'bearer', accounts: { 'token-123': 'app' } });
    let calls = 0;
    await target(bearer, { auth: 'oauth', access: 'impersonation', accounts: undefined, oauth: { name: 'app', token: async () => (calls++, 'token-123') } }).listOwned(MAILBOXES[0]!);
    expect(bearer.requests[0]!.account).toBe('app');
    expect(calls).toBe(1);
  });

  it('a bearer token refused (401) is dropped and the request sent once more with a fresh one; a second 401 is fatal', async () => {
    const bearer = await fake({ auth: 'bearer', accounts: { 'token-fresh': 'app' } });
    let current = 'token-stale';
    const dropped: string[] = [];
    const oauth = { name: 'app', token: async () => current, invalidate: (token: string) => (dropped.push(token), (current = 'token-fresh')) };
    const t = target(bearer, { auth: 'oauth', access: 'impersonation', accounts: undefined, oauth });
    await t.listOwned(MAILBOXES[0]!);
    expect(dropped).toEqual(['token-stale']);
    expect(bearer.requests.map((r) => r.account)).toEqual(['app']);

    const refused = await rejection(target(bearer, { auth: 'oauth', access: 'impersonation', accounts: undefined, oauth: { name: 'app', token: async () => 'token-never', invalidate: () => {} } }).listOwned(MAILBOXES[0]!));
    expect(refused).toMatchObject({ scope: 'fatal', code: 'HTTP401' });
    expect(refused.message).toBe('Exchange refused the access token of app (HTTP 401, a freshly fetched one too)');
    expect(refused.remedy).toMatch(/full_access_as_app/);
  });
});

describe('service-account pool', () => {
  const accounts = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `CONTOSO\\svc-calpush${i + 1}` }));
  const many = Array.from({ length: 4000 }, (_, i) => `user${i}@contoso.edu`);

  it('assigns each mailbox to one account, stably and evenly', () => {
    const pool = accounts(4);
    const first = many.map((m) => assignAccount(pool, m));
    expect(many.map((m) => assignAccount([...pool], m))).toEqual(first);
    // Case does not matter.
    expect(assignAccount(pool, 'USER7@CONTOSO.EDU')).toBe(assignAccount(pool, 'user7@contoso.edu'));
    const counts = [0, 0, 0, 0];
    for (const index of first) counts[index]!++;
    for (const count of counts) expect(count).toBeGreaterThan(850);
  });

  it('moves only about 1/n of the mailboxes when an account is added, and only the removed account’s when one is removed', () => {
    const four = accounts(4);
    const five = accounts(5);
    const before = many.map((m) => four[assignAccount(four, m)]!.name);
    const added = many.map((m) => five[assignAccount(five, m)]!.name);
    const moved = many.filter((_, i) => before[i] !== added[i]);
    expect(moved.length / many.length).toBeGreaterThan(0.14);
    expect(moved.length / many.length).toBeLessThan(0.26);
    // Everything that moved went to the new account.
    expect(moved.every((m) => added[many.indexOf(m)] === five[4]!.name)).toBe(true);

    const three = four.filter((_, i) => i !== 1);
    const removed = many.map((m) => three[assignAccount(three, m)]!.name);
    many.forEach((_, i) => {
      if (before[i] !== four[1]!.name) expect(removed[i]).toBe(before[i]);
    });
  });

  it('weights shift the share', () => {
    const pool = [{ name: 'a', weight: 3 }, { name: 'b', weight: 1 }];
    const toA = many.filter((m) => assignAccount(pool, m) === 0).length / many.length;
    expect(toA).toBeGreaterThan(0.7);
    expect(toA).toBeLessThan(0.8);
  });

  it('Autodiscover lookups wait in a lane of their own, one at a time per Autodiscover host and account (its one connection), apart from the account’s EWS lane', async () => {
    const server = await fake();
    const pool = [
      { username: 'CONTOSO\\svc1', password: 'Pa55-one' },
      { username: 'CONTOSO\\svc2', password: 'Pa55-two' },
    ];
    const t = target(server, { accounts: pool, autodiscoverUrl: 'https://autodiscover.contoso.edu/autodiscover/autodiscover.svc' });
    const served = (mailbox: string) => t.serviceAccount(mailbox).toLowerCase();
    const [one, two] = [MAILBOXES.find((m) => served(m) === 'contoso\\svc1')!, MAILBOXES.find((m) => served(m) === 'contoso\\svc2')!];
    expect(t.locateLane(one)).toEqual({ key: 'autodiscover:autodiscover.contoso.edu:contoso\\svc1', concurrency: 1 });
    expect(t.locateLane(two)).toEqual({ key: 'autodiscover:autodiscover.contoso.edu:contoso\\svc2', concurrency: 1 });
    expect(t.locateLane(one).key).not.toBe(t.laneFor(one).key);
    // Without autodiscoverUrl: the EWS host's.
    expect(target(server).locateLane(one).key).toBe(`autodiscover:${new URL(server.url).host}:contoso\\svc1`);
  });

  it('each account’s requests stay within its concurrency, and mailboxes use their assigned account', async () => {
    const server = await fake({ latencyMs: 30 });
    const t = target(server, {
      accountConcurrency: 2,
      accounts: [
        { username: 'CONTOSO\\svc1', password: 'Pa55-one' },
        { username: 'CONTOSO\\svc2', password: 'Pa55-two' },
      ],
    });
    await Promise.all(MAILBOXES.slice(12, 32).map((mailbox, n) => t.create(lecture(mailbox, n), `pool-${n}`)));
    for (const [, max] of server.maxInFlight) expect(max).toBeLessThanOrEqual(2);
    expect(server.maxInFlight.size).toBe(2);
    for (const request of server.requests) expect(t.serviceAccount(request.anchor!)).toBe(request.account === 'contoso\\svc1' ? 'CONTOSO\\svc1' : 'CONTOSO\\svc2');
  });
});
