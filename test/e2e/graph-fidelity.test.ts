// The Graph target held to what Microsoft documents, against the sandbox (which answers as strictly): every request
// carries a client-request-id (logged with failures, with Graph's request-id); the adoption listing uses the
// documented id-and-value filter; updates and deletes carry the event's etag (If-Match) and fall back on 412; a 404
// on one event counts as "gone" only when the mailbox still answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import type { DeliveryLog } from '../../src/engine/run.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { runSync } from '../../src/app/sync.ts';
import { createGraphTarget } from '../../src/app/targets.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { TAG_PROPERTY_ID } from '../../src/model/tag.ts';
import { TargetError, type BatchOp } from '../../src/targets/target.ts';
import { desired } from '../server/helpers.ts';
import { GraphClient, users } from '../sandbox/helpers.ts';
import { beforeTheLectures, createWorkspace, lecture, tagged, usableStudents, type Workspace } from './harness.ts';
import { rejection } from '../support/rejection.ts';

const seed = defaultTenantSeed();
let sandbox: SandboxInternals;
let graph: GraphClient;
let students: string[];

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
  graph = await GraphClient.demo(sandbox);
  students = usableStudents(seed);
});
afterAll(async () => {
  await sandbox?.close();
});

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function target(ws: Workspace): GraphTarget {
  return createGraphTarget(ws.config, ws.dir);
}

/** Someone edits the event in Outlook: its etag moves on, our tag stays. */
async function editInOutlook(mailbox: string, itemId: string, change: Record<string, unknown> = { subject: 'Edited in Outlook' }): Promise<void> {
  const r = await graph.patch(`${users(mailbox)}/events/${encodeURIComponent(itemId)}`, change);
  expect(r.status).toBe(200);
}

function recordingLog(): DeliveryLog & { lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> } {
  const lines: Array<{ level: string; fields: Record<string, unknown>; message: string }> = [];
  const at = (level: string) => (fields: object, message: string) => void lines.push({ level, fields: fields as Record<string, unknown>, message });
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

describe('every Graph request', () => {
  it('carries a fresh client-request-id and return-client-request-id; a failure is logged with it and Graph’s request-id', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'support-ids', batch: 'chain' });
    const log = recordingLog();
    sandbox.resetStats();
    const result = await runSync({
      config: ws.config,
      baseDir: ws.dir,
      inputs: [ws.input('in.ndjson', [...Array.from({ length: 3 }, (_, n) => lecture(students[0]!, n)), lecture('outofscope@contoso.edu', 1)])],
      clock: beforeTheLectures(),
      log,
    });
    expect(result.delivery.totals).toMatchObject({ created: 3, failedMailboxes: 1 });
    const stats = sandbox.stats();
    expect(stats.requests + stats.batches).toBeGreaterThan(2);
    expect(stats.withoutClientRequestId).toBe(0);
    expect(stats.withoutReturnClientRequestId).toBe(0);
    const failure = log.lines.find((line) => line.level === 'error' && line.fields['calendar'] === 'outofscope@contoso.edu')!;
    expect(failure.fields).toMatchObject({ code: 'ErrorAccessDenied' });
    expect(failure.fields['requestId']).toMatch(GUID);
    expect(failure.fields['clientRequestId']).toMatch(GUID);
    expect(failure.fields['requestId']).not.toBe(failure.fields['clientRequestId']);
  });
});

describe('the adoption listing', () => {
  it('filters on the tag’s id and value (the documented form), so only this deployment’s events come back', async () => {
    const mailbox = students[1]!;
    const ours = createWorkspace(sandbox, 'secret', { instance: 'listing-a', batch: 'off' });
    const theirs = createWorkspace(sandbox, 'secret', { instance: 'listing-b', batch: 'off' });
    await runSync({ config: ours.config, baseDir: ours.dir, inputs: [ours.input('a.ndjson', [0, 1, 2].map((n) => lecture(mailbox, n)))], clock: beforeTheLectures() });
    await runSync({ config: theirs.config, baseDir: theirs.dir, inputs: [theirs.input('b.ndjson', [3, 4, 5, 6, 7].map((n) => lecture(mailbox, n)))], clock: beforeTheLectures() });
    // Two per page: three of ours are two pages; had the filter matched the tag's id alone, eight events were four.
    const lister = new GraphTarget({ ...graphOptions(ours), pageSize: 2 });
    sandbox.resetStats();
    const keys: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await lister.listOwned(mailbox, cursor);
      keys.push(...page.items.map((item) => item.key));
      cursor = page.next;
    } while (cursor);
    await lister.close();
    expect(keys).toHaveLength(3);
    expect(sandbox.stats().byMethod['GET']).toBe(2);
  });
});

function graphOptions(ws: Workspace): ConstructorParameters<typeof GraphTarget>[0] {
  const t = createGraphTarget(ws.config, ws.dir) as unknown as { options: ConstructorParameters<typeof GraphTarget>[0] };
  return t.options;
}

describe('If-Match on updates and deletes', () => {
  it('a stale etag is answered 412: the current one is read (the tag still ours) and the write sent once more', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'etag-single' });
    const t = target(ws);
    const mailbox = students[2]!;
    const a = await t.create(desired(mailbox, 'etag-a', { subject: 'A' }), 'a0000000-0000-4000-8000-000000000001');
    const b = await t.create(desired(mailbox, 'etag-b', { subject: 'B' }), 'a0000000-0000-4000-8000-000000000002');
    expect(a.changeKey).toMatch(/^W\/".+"$/);
    await editInOutlook(mailbox, a.itemId);
    await editInOutlook(mailbox, b.itemId);
    sandbox.resetStats();
    const updated = await t.update(desired(mailbox, 'etag-a', { subject: 'A from the source' }), a);
    expect(sandbox.stats().byMethod).toEqual({ PATCH: 2, GET: 1 });
    expect(sandbox.listEvents(mailbox).find((e) => e.id === a.itemId)!.subject).toBe('A from the source');
    // What the PATCH answered is current: the next write is sent once.
    sandbox.resetStats();
    await t.update(desired(mailbox, 'etag-a', { subject: 'A again' }), updated);
    expect(sandbox.stats().byMethod).toEqual({ PATCH: 1 });

    sandbox.resetStats();
    await t.remove(mailbox, b);
    expect(sandbox.stats().byMethod).toEqual({ DELETE: 2, GET: 1 });
    expect(sandbox.listEvents(mailbox).some((e) => e.id === b.itemId)).toBe(false);
    await t.close();
  });

  it('inside a batch too; an event whose tag is no longer ours is left alone (update "gone", delete forgotten)', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'etag-batch' });
    const t = target(ws);
    const mailbox = students[3]!;
    const refs = await Promise.all([1, 2, 3, 4].map((n) => t.create(desired(mailbox, `etag-${n}`, { subject: `E${n}` }), `b0000000-0000-4000-8000-00000000000${n}`)));
    for (const ref of refs) await editInOutlook(mailbox, ref.itemId);
    // The third and fourth now carry another deployment's tag.
    for (const ref of refs.slice(2)) await editInOutlook(mailbox, ref.itemId, { singleValueExtendedProperties: [{ id: TAG_PROPERTY_ID, value: `v1;someone-else;${'0'.repeat(32)};${'0'.repeat(32)}` }] });
    const ops: BatchOp[] = [
      { kind: 'update', desired: desired(mailbox, 'etag-1', { subject: 'E1 from the source' }), item: refs[0]! },
      { kind: 'delete', calendar: mailbox, item: refs[1]! },
      { kind: 'update', desired: desired(mailbox, 'etag-3', { subject: 'not ours to write' }), item: refs[2]! },
      { kind: 'delete', calendar: mailbox, item: refs[3]! },
    ];
    const outcomes = await t.batch!.run(mailbox, ops, 'parallel');
    expect(outcomes.map((o) => (o.ok ? 'ok' : `${o.error.scope}:${o.error.code}`))).toEqual(['ok', 'ok', 'gone:NotOurs', 'ok']);
    const left = sandbox.listEvents(mailbox);
    expect(left.find((e) => e.id === refs[0]!.itemId)!.subject).toBe('E1 from the source');
    expect(left.some((e) => e.id === refs[1]!.itemId)).toBe(false);
    expect(left.find((e) => e.id === refs[2]!.itemId)!.subject).toBe('Edited in Outlook');
    expect(left.some((e) => e.id === refs[3]!.itemId)).toBe(true);
    await t.close();
  });

  it('end to end: a person’s edit is overwritten by the next sync with the stored etag, through the 412 fallback', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'etag-sync', batch: 'chain' });
    const mailbox = students[4]!;
    const events = [0, 1, 2].map((n) => lecture(mailbox, n));
    await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('v1.ndjson', events)], clock: beforeTheLectures() });
    const store = new SqliteStore(`${ws.dir}/state/calpush.sqlite`);
    const delivered = await store.deliveredFor(mailbox);
    await store.close();
    expect(delivered.every((row) => /^W\/".+"$/.test(row.changeKey ?? ''))).toBe(true);
    const mine = tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(';etag-sync;'));
    for (const event of mine) await editInOutlook(mailbox, event.id);
    sandbox.resetStats();
    const result = await runSync({
      config: ws.config,
      baseDir: ws.dir,
      inputs: [ws.input('v2.ndjson', [{ ...events[0]!, subject: 'Changed at the source' }, events[1]!])],
      clock: beforeTheLectures(),
    });
    expect(result.delivery.totals).toMatchObject({ updated: 1, deleted: 1, failed: 0 });
    // One batch with a PATCH and a DELETE, both 412; then GET + PATCH and GET + DELETE on their own.
    expect(sandbox.stats().byMethod).toEqual({ PATCH: 2, DELETE: 2, GET: 2 });
    const after = tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(';etag-sync;'));
    expect(after.map((e) => e.subject).sort()).toEqual(['Changed at the source', 'Edited in Outlook']);
  });
});

describe('404 ErrorItemNotFound is confirmed before it counts (issue #19, case 2)', () => {
  it('a delete of an event already gone is done once the mailbox answers; lost access is the mailbox’s failure', async () => {
    const ws = createWorkspace(sandbox, 'secret', { instance: 'confirm-single' });
    const t = target(ws);
    const mailbox = students[5]!;
    const gone = await t.create(desired(mailbox, 'gone', { subject: 'Deleted in Outlook' }), 'c0000000-0000-4000-8000-000000000001');
    const kept = await t.create(desired(mailbox, 'kept', { subject: 'Kept' }), 'c0000000-0000-4000-8000-000000000002');
    expect((await graph.delete(`${users(mailbox)}/events/${encodeURIComponent(gone.itemId)}`)).status).toBe(204);
    sandbox.resetStats();
    await t.remove(mailbox, gone);
    expect(sandbox.stats().byMethod).toEqual({ DELETE: 1, GET: 1 });
    expect(await rejection(t.update(desired(mailbox, 'gone', { subject: 'x' }), gone))).toMatchObject({ scope: 'gone', status: 404 });

    sandbox.faults.revokeMailbox(mailbox);
    try {
      expect(await rejection(t.remove(mailbox, kept))).toMatchObject({ scope: 'mailbox', code: 'ErrorAccessDenied' });
      expect(await rejection(t.update(desired(mailbox, 'kept', { subject: 'x' }), kept))).toMatchObject({ scope: 'mailbox', code: 'ErrorAccessDenied' });
    } finally {
      sandbox.faults.revokeMailbox(mailbox, false);
    }
    expect(sandbox.listEvents(mailbox).find((e) => e.id === kept.itemId)!.subject).toBe('Kept');
    await t.close();
  });

  it.each(['chain', 'off'] as const)('end to end (batch %s): lost access fails the mailbox — nothing recorded as deleted, nothing created twice', async (batch) => {
    const ws = createWorkspace(sandbox, 'secret', { instance: `lost-access-${batch}`, batch });
    const mailbox = students[batch === 'chain' ? 6 : 7]!;
    const mine = () => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;lost-access-${batch};`));
    const events = [0, 1, 2].map((n) => lecture(mailbox, n));
    await runSync({ config: ws.config, baseDir: ws.dir, inputs: [ws.input('v1.ndjson', events)], clock: beforeTheLectures() });
    const before = JSON.stringify(mine());
    const v2 = ws.input('v2.ndjson', [{ ...events[0]!, subject: 'Changed' }, events[1]!]);

    sandbox.faults.revokeMailbox(mailbox);
    let lost;
    try {
      lost = await runSync({ config: ws.config, baseDir: ws.dir, inputs: [v2], clock: beforeTheLectures() });
    } finally {
      sandbox.faults.revokeMailbox(mailbox, false);
    }
    expect(lost.delivery.mailboxes[0]).toMatchObject({ status: 'failed', created: 0, deleted: 0, error: { code: 'ErrorAccessDenied' } });
    expect(JSON.stringify(mine())).toBe(before);
    const store = new SqliteStore(`${ws.dir}/state/calpush.sqlite`);
    expect(await store.deliveredFor(mailbox)).toHaveLength(3);
    await store.close();

    // Access back: the next run finishes the job, with no duplicate.
    const back = await runSync({ config: ws.config, baseDir: ws.dir, inputs: [v2], clock: beforeTheLectures() });
    expect(back.delivery.mailboxes[0]).toMatchObject({ status: 'ok', created: 0, updated: 1, deleted: 1 });
    expect(mine().map((e) => e.subject).sort()).toEqual(['Changed', 'Lecture 1']);
  });
});
