// calpush's EWS target through the real engine (runSync) against the sandbox set to each documented Exchange
// behaviour (issue #19): the ChangeKey fallback end to end, lost rights (ErrorItemNotFound) confirmed before anything
// is recorded, the delegate refusal in both documented forms, the three throttling forms and half-done batches,
// 250-item pages, and the values of the schema version calpush speaks (WorkingElsewhere on Exchange 2010 SP2).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { runSync } from '../../src/app/sync.ts';
import { createEwsTarget, ewsTargetSchema } from '../../src/targets/ews/config.ts';
import type { EwsTarget } from '../../src/targets/ews/target.ts';
import { GraphClient, users } from '../sandbox/helpers.ts';
import { beforeTheLectures, createWorkspace, lecture, tagged, usableStudents, type Workspace } from '../e2e/harness.ts';

const seed = defaultTenantSeed();
let sandbox: SandboxInternals;
let graph: GraphClient;
let students: string[];

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
  graph = await GraphClient.demo(sandbox);
  students = usableStudents(seed).slice(10);
});
afterAll(async () => {
  await sandbox?.close();
});

interface EwsRun {
  ws: Workspace;
  /** The target of the last sync (its account stats stay readable after close). */
  last: () => EwsTarget;
  sync(events: Array<Record<string, unknown>>, name?: string): ReturnType<typeof runSync>;
}

/** A workspace with an EWS target (delegate, NTLM) built from the config section, as `calpush sync` builds it. */
function ewsRun(instance: string, extra: Record<string, unknown> = {}, accounts = EWS_DELEGATE_ACCOUNTS): EwsRun {
  const ws = createWorkspace(sandbox, 'secret', { instance });
  writeFileSync(join(ws.dir, 'ews.pw'), EWS_PASSWORD, { mode: 0o600 });
  const section = ewsTargetSchema.parse({
    kind: 'ews',
    url: sandbox.ews.url,
    serverVersion: 'Exchange2016',
    access: 'delegate',
    auth: 'ntlm',
    accounts: accounts.map((username) => ({ username, password: { file: 'ews.pw' } })),
    caFile: 'ca.pem',
    ...extra,
  });
  let last: EwsTarget | null = null;
  let runs = 0;
  return {
    ws,
    last: () => last!,
    async sync(events, name = `in-${++runs}.ndjson`) {
      last = createEwsTarget(section, { instance, baseDir: ws.dir, allDayTimeZone: ws.config.timeZone });
      try {
        return await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input(name, events)], target: last, clock: beforeTheLectures() });
      } finally {
        await last.close();
      }
    },
  };
}

const ours = (mailbox: string, instance: string) => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;${instance};`));
function operations(): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const account of Object.values(sandbox.ews.stats().perAccount)) for (const [op, n] of Object.entries(account.byOperation)) counts[op] = (counts[op] ?? 0) + n;
  return counts;
}
function storedChangeKeys(ws: Workspace, mailbox: string): Promise<Array<string | null>> {
  const store = new SqliteStore(join(ws.dir, 'state/calpush.sqlite'));
  return store.deliveredFor(mailbox).then(async (rows) => (await store.close(), rows.map((row) => row.changeKey)));
}

describe('the ChangeKey fallback end to end (case 1)', () => {
  it('edits made in Outlook make the stored ChangeKeys stale: ErrorStaleObject → GetItem → UpdateItem, the source wins', async () => {
    const mailbox = students[0]!;
    const run = ewsRun('ck-stale');
    const events = [0, 1, 2].map((n) => lecture(mailbox, n));
    await run.sync(events);
    expect((await storedChangeKeys(run.ws, mailbox)).every(Boolean)).toBe(true);
    for (const event of ours(mailbox, 'ck-stale').slice(0, 2)) {
      expect((await graph.patch(`${users(mailbox)}/events/${encodeURIComponent(event.id)}`, { subject: 'Edited in Outlook' })).status).toBe(200);
    }
    sandbox.ews.resetStats();
    const result = await run.sync(events.map((e) => ({ ...e, location: 'Moved to the Aula' })));
    expect(result.delivery.totals).toMatchObject({ updated: 3, failed: 0 });
    expect(operations()).toMatchObject({ UpdateItem: 2, GetItem: 1 });
    expect(ours(mailbox, 'ck-stale').map((e) => [e.subject, e.location?.displayName])).toEqual(events.map((e) => [e.subject, 'Moved to the Aula']));
    expect(sandbox.ews.stats()).toMatchObject({ soapActionMissing: 0, soapActionMismatch: 0 });
  });

  it('a store without ChangeKeys (an older calpush): ErrorChangeKeyRequiredForWriteOperations → GetItem → UpdateItem', async () => {
    const mailbox = students[1]!;
    const run = ewsRun('ck-missing');
    const events = [0, 1, 2].map((n) => lecture(mailbox, n));
    await run.sync(events);
    const db = new DatabaseSync(join(run.ws.dir, 'state/calpush.sqlite'));
    db.exec('UPDATE delivered_item SET change_key = NULL');
    db.close();
    sandbox.ews.resetStats();
    const result = await run.sync(events.map((e) => ({ ...e, subject: `${e.subject} (changed)` })));
    expect(result.delivery.totals).toMatchObject({ updated: 3, failed: 0 });
    expect(operations()).toMatchObject({ UpdateItem: 2, GetItem: 1 });
    expect(ours(mailbox, 'ck-missing').map((e) => e.subject).sort()).toEqual(events.map((e) => `${e.subject} (changed)`).sort());
  });
});

describe.each(['ErrorAccessDenied', 'ErrorFolderNotFound'] as const)('a delegate without rights, Exchange answering %s (cases 2 and 5)', (answer) => {
  beforeAll(() => sandbox.ews.setBehaviour({ delegateDenied: answer }));
  afterAll(() => sandbox.ews.setBehaviour({ delegateDenied: 'ErrorAccessDenied' }));

  it('a calendar never granted: the mailbox fails with the delegate-rights remedy, the others complete', async () => {
    const run = ewsRun(`never-${answer}`);
    const result = await run.sync([lecture('outofscope@contoso.edu', 1), lecture(students[2]!, 1)]);
    const byMailbox = Object.fromEntries(result.delivery.mailboxes.map((m) => [m.calendar, m]));
    expect(byMailbox['outofscope@contoso.edu']).toMatchObject({ status: 'failed', created: 0, error: { code: answer } });
    expect(byMailbox['outofscope@contoso.edu']!.error!.remedy).toMatch(/Add-MailboxFolderPermission .*-AccessRights Editor/);
    expect(byMailbox[students[2]!]).toMatchObject({ status: 'ok', created: 1 });
  });

  it('rights withdrawn after delivery: items answer ErrorItemNotFound, which is confirmed — a mailbox failure, nothing recorded, nothing doubled', async () => {
    const mailbox = students[answer === 'ErrorAccessDenied' ? 3 : 4]!;
    const instance = `withdrawn-${answer}`;
    const run = ewsRun(instance);
    const events = [0, 1, 2].map((n) => lecture(mailbox, n));
    await run.sync(events);
    const before = JSON.stringify(ours(mailbox, instance));
    const v2 = [{ ...events[0]!, subject: 'Changed' }, events[1]!];
    for (const account of EWS_DELEGATE_ACCOUNTS) sandbox.ews.setDelegateRights(account, mailbox, false);
    let lost;
    try {
      sandbox.ews.resetStats();
      lost = await run.sync(v2, 'v2.ndjson');
    } finally {
      for (const account of EWS_DELEGATE_ACCOUNTS) sandbox.ews.setDelegateRights(account, mailbox, true);
    }
    expect(lost.delivery.mailboxes[0]).toMatchObject({ status: 'failed', created: 0, updated: 0, deleted: 0, error: { code: answer } });
    expect(lost.delivery.mailboxes[0]!.error!.remedy).toMatch(/Add-MailboxFolderPermission/);
    expect(operations()['GetFolder']).toBeGreaterThanOrEqual(1);
    expect(JSON.stringify(ours(mailbox, instance))).toBe(before);
    expect(await storedChangeKeys(run.ws, mailbox)).toHaveLength(3);

    const back = await run.sync(v2, 'v2.ndjson');
    expect(back.delivery.mailboxes[0]).toMatchObject({ status: 'ok', created: 0, updated: 1, deleted: 1 });
    expect(ours(mailbox, instance).map((e) => e.subject).sort()).toEqual(['Changed', 'Lecture 1']);
  });
});

describe('throttling in each documented form, with half-done batches (case 3)', () => {
  afterAll(() => sandbox.ews.setThrottling({ budgetItems: 6000, budgetWindowMs: 60_000, form: 'fault', perItem: true, batchTimeLimitMs: 60_000, overrun: 'items' }));

  it.each([
    ['fault', 'items'],
    ['http503', 'items'],
    ['innerError', 'items'],
    ['fault', 'fault'],
  ] as const)('form %s, a cut-off batch answered by %s: the account backs off and the sync finishes with nothing lost or doubled', async (form, overrun) => {
    const mailbox = students[5 + ['fault-items', 'http503-items', 'innerError-items', 'fault-fault'].indexOf(`${form}-${overrun}`)]!;
    const instance = `throttle-${form}-${overrun}`;
    // One account, eight items per four seconds, a batch cut after 200 ms: a CreateItem of 12 gets 8 done, and the
    // resend of the rest meets a spent budget however slowly this machine answers (a one-second window made the
    // resend miss it under load).
    sandbox.ews.setThrottling({ budgetItems: 8, budgetWindowMs: 4000, form, perItem: true, batchTimeLimitMs: 200, overrun });
    const run = ewsRun(instance, {}, [EWS_DELEGATE_ACCOUNTS[3]!]);
    // All at one time, so that delivery sends them as one CreateItem whatever day the test runs (it keeps
    // imminent and far-off events in separate batches).
    const events = Array.from({ length: 12 }, (_, n) => lecture(mailbox, n, { start: '2027-03-01T09:00', end: '2027-03-01T10:00' }));
    sandbox.ews.resetStats();
    const result = await run.sync(events);
    expect(result.delivery.totals).toMatchObject({ created: 12, failed: 0, failedMailboxes: 0 });
    const mine = ours(mailbox, instance);
    expect(mine.map((e) => e.subject).sort()).toEqual(events.map((e) => e.subject).sort());
    expect(sandbox.ews.stats().perAccount[EWS_DELEGATE_ACCOUNTS[3]!]!.busy).toBeGreaterThan(0);
    expect(run.last().accountStats()[0]!.busy).toBeGreaterThan(0);
    // It backed off: after a throttling answer the account waited what Exchange asked (BackOffMilliseconds, or the
    // scheduler's pause when IIS's 503 names none) instead of asking again and again within the budget's window.
    expect(sandbox.ews.stats().perAccount[EWS_DELEGATE_ACCOUNTS[3]!]!.busy).toBeLessThanOrEqual(2);
    // The first CreateItem came back half done: the rest was sent again.
    expect(operations()['CreateItem']).toBeGreaterThan(1);
  }, 60_000);
});

describe('paging (case 4)', () => {
  afterAll(() => sandbox.ews.setBehaviour({ serverVersion: 'Exchange2016' }));

  it.each([
    ['Exchange2016', 'Exchange2016', undefined, 2],
    ['Exchange2013', 'Exchange2013', 1000, 2],
    ['Exchange2010_SP2', 'Exchange2010_SP2', undefined, 1],
  ] as const)('Exchange %s: a lost store is rebuilt from the listing, page by page as the server gives them (%s, pageSize %s)', async (server, speaks, pageSize, pages) => {
    sandbox.ews.setBehaviour({ serverVersion: server });
    const mailbox = students[9 + ['Exchange2016', 'Exchange2013', 'Exchange2010_SP2'].indexOf(server)]!;
    const instance = `paging-${server}`;
    const run = ewsRun(instance, { serverVersion: speaks, ...(pageSize ? { pageSize } : {}) });
    const events = Array.from({ length: 300 }, (_, n) => lecture(mailbox, n, { id: `p-${n}` }));
    await run.sync(events);
    const { rmSync } = await import('node:fs');
    rmSync(join(run.ws.dir, 'state'), { recursive: true, force: true });
    sandbox.ews.resetStats();
    const again = await run.sync(events);
    expect(again.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, unchanged: 300 });
    expect(operations()).toEqual({ FindItem: pages });
    expect(ours(mailbox, instance)).toHaveLength(300);
  }, 60_000);
});

describe('the values of the schema version calpush speaks (#14 item 4)', () => {
  afterAll(() => sandbox.ews.setBehaviour({ serverVersion: 'Exchange2016' }));

  it('against Exchange 2010 SP2, workingElsewhere is sent as Busy (2010 has no WorkingElsewhere); from 2013 as WorkingElsewhere', async () => {
    const mailbox = students[12]!;
    sandbox.ews.setBehaviour({ serverVersion: 'Exchange2010_SP2' });
    const old = ewsRun('fb-2010', { serverVersion: 'Exchange2010_SP2' });
    const result = await old.sync([lecture(mailbox, 1, { showAs: 'workingElsewhere' })]);
    expect(result.delivery.totals).toMatchObject({ created: 1, failed: 0 });
    expect(ours(mailbox, 'fb-2010')[0]!.showAs).toBe('busy');
    sandbox.ews.setBehaviour({ serverVersion: 'Exchange2016' });
    const current = ewsRun('fb-2016');
    await current.sync([lecture(mailbox, 2, { showAs: 'workingElsewhere' })]);
    expect(ours(mailbox, 'fb-2016')[0]!.showAs).toBe('workingElsewhere');
  });
});
