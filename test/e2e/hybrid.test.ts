// One deployment, two targets, one Exchange hybrid organisation (the sandbox serves Graph, EWS and Autodiscover over
// one mailbox store; each mailbox lives on-premises or online): every interface delivers each mailbox through the
// target the routing names — sync, import, serve's API, the dry run — status and the doctor say which and why, and a
// mailbox that moves from on-premises to Exchange Online is adopted there with nothing created twice, nothing
// lost, foreign events untouched and the old target no longer written.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig, type Config } from '../../src/app/config.ts';
import { parseServerConfig } from '../../src/app/settings.ts';
import { previewSync, runSync } from '../../src/app/sync.ts';
import { runImport } from '../../src/cli/commands/import.ts';
import { eventKey } from '../../src/model/event.ts';
import { defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { createApiKey } from '../../src/server/auth.ts';
import { startServer } from '../../src/server/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import type { DoctorReport } from '../../src/admin/doctor/index.ts';
import { beforeTheLectures, createWorkspace, foreignSnapshot, lecture, runCli, tagged } from './harness.ts';

const seed = defaultTenantSeed({ students: 12, rooms: 2 });
const onPremises = ['s0001', 's0002', 's0003', 's0004', 's0005', 's0006'].map((s) => `${s}@contoso.edu`);
const online = ['s0007', 's0008', 's0009', 's0010', 's0011', 's0012'].map((s) => `${s}@contoso.edu`);
for (const mailbox of seed.mailboxes) {
  if (onPremises.includes(mailbox.address)) mailbox.home = 'onPremises';
  if (online.includes(mailbox.address)) mailbox.home = 'online';
}
let sandbox: Sandbox;

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed, ews: { schemaValidation: false } });
});
afterAll(async () => {
  await sandbox.close();
});

/** A workspace whose config has an on-premises EWS target and an Exchange Online Graph target, routed by the hybrid lookup. */
function hybridWorkspace(instance: string, routing: Record<string, unknown> = { rules: [{ lookup: 'exchange-hybrid', onPremises: 'onprem', online: 'online' }] }) {
  const ws = createWorkspace(sandbox, 'secret');
  writeFileSync(join(ws.dir, 'ews.pw'), EWS_PASSWORD, { mode: 0o600 });
  const graph = ws.rawConfig.target as Record<string, unknown>;
  const raw = {
    instance,
    store: { sqlite: `state/${instance}.sqlite` },
    timeZone: 'Europe/Amsterdam',
    targets: {
      online: graph,
      onprem: { kind: 'ews', url: sandbox.ewsUrl, access: 'delegate', auth: 'ntlm', accounts: EWS_DELEGATE_ACCOUNTS.slice(0, 2).map((username) => ({ username, password: { file: 'ews.pw' } })), caFile: 'ca.pem' },
    },
    routing,
  };
  const configPath = join(ws.dir, `${instance}.config.json`);
  writeFileSync(configPath, JSON.stringify(raw, null, 2));
  const config: Config = parseConfig(raw);
  const store = () => new SqliteStore(join(ws.dir, `state/${instance}.sqlite`));
  return { ws, configPath, config, store };
}

const ours = (mailbox: string, instance: string) => tagged(sandbox, mailbox).filter((e) => JSON.stringify(e).includes(`;${instance};`));
/** Our events in a mailbox by key: each key must be there once. */
function keysIn(mailbox: string, instance: string): string[] {
  return ours(mailbox, instance)
    .map((e) => e.singleValueExtendedProperties!.find((p) => p.id.includes('CalpushKey'))!.value.split(';')[2]!)
    .sort();
}
const ewsWrites = () =>
  Object.values(sandbox.ews.stats().perAccount).reduce((n, a) => n + (a.byOperation['CreateItem'] ?? 0) + (a.byOperation['UpdateItem'] ?? 0) + (a.byOperation['DeleteItem'] ?? 0), 0);

describe('one deployment over an Exchange hybrid organisation', () => {
  it('sync delivers each mailbox where Autodiscover says it lives; status and the doctor say which target and why', async () => {
    const { ws, configPath } = hybridWorkspace('hybrid-sync');
    const input = ws.input('t.ndjson', [lecture(onPremises[0]!, 1), lecture(onPremises[0]!, 2), lecture(online[0]!, 1)]);
    sandbox.ews.resetStats();
    const result = await runCli(['sync', '-c', configPath, '-i', input, '--json']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const summary = JSON.parse(result.stdout);
    expect(summary.delivery.mailboxes.map((m: { calendar: string; target: string; created: number }) => [m.calendar, m.target, m.created])).toEqual([
      [onPremises[0], 'onprem', 2],
      [online[0], 'online', 1],
    ]);
    // The on-premises mailbox was written through EWS; each mailbox holds its events once.
    expect(ewsWrites()).toBeGreaterThan(0);
    expect(keysIn(onPremises[0]!, 'hybrid-sync')).toHaveLength(2);
    expect(keysIn(online[0]!, 'hybrid-sync')).toHaveLength(1);

    const status = await runCli(['status', '-c', configPath, '--json']);
    expect(status.code).toBe(0);
    const rows = JSON.parse(status.stdout) as Array<{ calendar: string; target: string; route: { target: string; reason: string } }>;
    expect(rows.find((r) => r.calendar === onPremises[0])).toMatchObject({ target: 'onprem', route: { target: 'onprem', reason: expect.stringMatching(/^rule 1 \(exchange-hybrid lookup: onprem or online\): on-premises Autodiscover answered with .*: the mailbox is on-premises \(asked /) } });
    expect(rows.find((r) => r.calendar === online[0])).toMatchObject({ target: 'online', route: { target: 'online', reason: expect.stringContaining('Autodiscover answered RedirectAddress → s0007@contoso.mail.onmicrosoft.com') } });
    const text = await runCli(['status', '-c', configPath]);
    expect(text.stdout).toContain(`${onPremises[0]}  ok  target onprem`);

    const doctorOnPremises = JSON.parse((await runCli(['doctor', onPremises[1]!, '-c', configPath, '--json'])).stdout) as DoctorReport;
    expect(doctorOnPremises.checks[0]).toMatchObject({ id: 'route', status: 'pass', detail: expect.stringMatching(/^s0002@contoso\.edu goes to target "onprem" \(ews\): rule 1 .*on-premises Autodiscover answered/) });
    expect(doctorOnPremises.target).toBe('Exchange Web Services (target "onprem")');
    expect(doctorOnPremises.ok).toBe(true);
    const doctorOnline = JSON.parse((await runCli(['doctor', online[1]!, '-c', configPath, '--json'])).stdout) as DoctorReport;
    expect(doctorOnline.checks[0]).toMatchObject({ id: 'route', status: 'pass', detail: expect.stringContaining('goes to target "online" (graph)') });
    expect(doctorOnline.checks.map((c) => c.id)).toContain('graph.mailbox');
    expect(doctorOnline.ok).toBe(true);
    const doctorNobody = JSON.parse((await runCli(['doctor', 'nobody@contoso.edu', '-c', configPath, '--json'])).stdout) as DoctorReport;
    expect(doctorNobody.checks).toEqual([expect.objectContaining({ id: 'route', status: 'fail', detail: expect.stringContaining('neither side of the hybrid organisation knows nobody@contoso.edu') })]);
  });

  it('import and serve\'s API deliver through each mailbox\'s target', async () => {
    const { ws, config } = hybridWorkspace('hybrid-interfaces');
    const file = ws.input('import.ndjson', [lecture(onPremises[1]!, 3), lecture(online[1]!, 3)]);
    const imported = await runImport({ config, baseDir: ws.dir, paths: [file] });
    expect(imported.delivery.mailboxes.map((m) => [m.calendar, m.target, m.created])).toEqual([
      [onPremises[1], 'onprem', 1],
      [online[1], 'online', 1],
    ]);

    const running = await startServer({ config, server: parseServerConfig({ port: 0, deliveryPollMs: 100 }), feeds: undefined, baseDir: ws.dir });
    try {
      const { key } = await createApiKey(running.store, { scope: 'write' });
      for (const calendar of [onPremises[2]!, online[2]!]) {
        const { calendar: _c, id, ...event } = lecture(calendar, 4);
        const answer = await fetch(`${running.url}/v1/calendars/${encodeURIComponent(calendar)}/events/${id}`, {
          method: 'PUT',
          headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
          body: JSON.stringify(event),
        });
        expect(answer.status).toBe(202);
      }
      await running.loop.idle(60_000);
      expect((await running.store.mailbox(onPremises[2]!))?.target).toBe('onprem');
      expect((await running.store.mailbox(online[2]!))?.target).toBe('online');
    } finally {
      await running.close();
    }
    for (const mailbox of [onPremises[1]!, online[1]!, onPremises[2]!, online[2]!]) expect(keysIn(mailbox, 'hybrid-interfaces')).toHaveLength(1);
  });

  it('a mailbox moved on-premises → Exchange Online is adopted: no duplicate, nothing lost, foreign events untouched, EWS no longer written', async () => {
    const instance = 'hybrid-move';
    const { ws, config, store } = hybridWorkspace(instance);
    const mailbox = onPremises[3]!;
    const events = [1, 2, 3, 4].map((n) => lecture(mailbox, n));
    const clock = beforeTheLectures();
    const first = await runSync({ config, baseDir: ws.dir, inputs: [ws.input('1.ndjson', events)], clock });
    expect(first.delivery.mailboxes[0]).toMatchObject({ target: 'onprem', created: 4 });
    sandbox.addEvent(mailbox, { subject: 'Personal (made in Outlook)', start: { dateTime: '2026-12-20T10:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-12-20T11:00:00', timeZone: 'UTC' } });
    const foreign = foreignSnapshot(sandbox, mailbox);

    // Work for the old target left when the move happens: an update planned against the EWS item of lecture-1.
    const before = store();
    const key = eventKey(mailbox, 'lecture-1');
    const ewsItem = (await before.deliveredFor(mailbox)).find((d) => d.key === key)!;
    await before.replacePendingOps(mailbox, [{ calendar: mailbox, key, kind: 'update', itemId: ewsItem.itemId, changeKey: ewsItem.changeKey, contentHash: 'stale', transactionId: null, startsAtMs: null, attempts: 0, lastError: null }]);
    await before.close();

    sandbox.moveMailbox(mailbox, 'online');
    sandbox.ews.resetStats();
    const changed = [lecture(mailbox, 1, { subject: 'Lecture 1 (moved to another room)' }), events[2]!, events[3]!, lecture(mailbox, 5)];
    const second = await runSync({ config, baseDir: ws.dir, inputs: [ws.input('2.ndjson', changed)], clock });
    expect(second.delivery.mailboxes[0]).toMatchObject({ status: 'ok', target: 'online', movedFrom: 'onprem', listed: 4, created: 1, updated: 1, deleted: 1, failed: 0 });
    // Exactly the desired events, each once; the person's own event as it was.
    expect(keysIn(mailbox, instance)).toEqual(changed.map((e) => eventKey(mailbox, e.id)).sort());
    expect(ours(mailbox, instance).find((e) => e.subject === 'Lecture 1 (moved to another room)')).toBeDefined();
    expect(foreignSnapshot(sandbox, mailbox)).toBe(foreign);
    // What the store keeps now belongs to the new target: Graph's ids, no pending work for the old one.
    const after = store();
    expect((await after.mailbox(mailbox))?.target).toBe('online');
    expect((await after.deliveredFor(mailbox)).map((d) => d.itemId).sort()).toEqual(ours(mailbox, instance).map((e) => e.id).sort());
    expect(await after.pendingOps(mailbox)).toEqual([]);
    expect(await after.routeLookup(mailbox)).toMatchObject({ target: 'online', answer: expect.stringContaining('RedirectAddress') });
    await after.close();
    // The next change goes through Graph only: the old target is not written again.
    sandbox.resetStats();
    const later = changed.map((e) => (e.id === 'lecture-3' ? { ...e, subject: 'Lecture 3 (cancelled hall)' } : e));
    const third = await runSync({ config, baseDir: ws.dir, inputs: [ws.input('3.ndjson', later)], clock });
    expect(third.delivery.mailboxes[0]).toMatchObject({ target: 'online', updated: 1, created: 0, deleted: 0 });
    expect(third.delivery.mailboxes[0]!.movedFrom).toBeUndefined();
    expect(ewsWrites()).toBe(0);
    expect(sandbox.stats().writes).toBe(1);
    // And again: nothing to do, nothing sent.
    sandbox.resetStats();
    const fourth = await runSync({ config, baseDir: ws.dir, inputs: [ws.input('4.ndjson', later)], clock });
    expect(fourth.delivery.totals).toMatchObject({ created: 0, updated: 0, deleted: 0, requests: 0 });
    expect(sandbox.stats().requests + sandbox.ews.stats().httpRequests).toBe(0);
  });

  it('a route changed in the config is a move too: the dry run says so, and the real run adopts on the new target', async () => {
    const instance = 'hybrid-rerouted';
    const mailbox = onPremises[4]!;
    const { ws, config } = hybridWorkspace(instance, { rules: [{ mailboxes: [mailbox], target: 'onprem' }], default: 'online' });
    const events = [1, 2, 3].map((n) => lecture(mailbox, n));
    const clock = beforeTheLectures();
    await runSync({ config, baseDir: ws.dir, inputs: [ws.input('1.ndjson', events)], clock });
    // The administrator moved the mailbox and now routes it to Exchange Online.
    sandbox.moveMailbox(mailbox, 'online');
    const moved = hybridWorkspace(instance, { rules: [{ mailboxes: [mailbox], target: 'online' }], default: 'onprem' });
    const input = ws.input('2.ndjson', [...events, lecture(mailbox, 4)]);
    const preview = await previewSync({ config: moved.config, baseDir: ws.dir, inputs: [input], clock });
    expect(preview.plan.mailboxes).toEqual([expect.objectContaining({ calendar: mailbox, target: 'online', movedFrom: 'onprem', basis: 'listed', create: { count: 1, ids: ['lecture-4'] }, unchanged: 3 })]);
    const real = await runSync({ config: moved.config, baseDir: ws.dir, inputs: [input], clock });
    expect(real.delivery.mailboxes[0]).toMatchObject({ target: 'online', movedFrom: 'onprem', listed: 3, created: 1, updated: 0, deleted: 0 });
    expect(keysIn(mailbox, instance)).toHaveLength(4);
    expect(config.instance).toBe(moved.config.instance);
  });
});
