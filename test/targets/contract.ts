// The contract every calendar target keeps (src/targets/target.ts CalendarTarget), as one suite of scenarios run
// against each target — Graph and EWS against the sandbox, CalDAV against real Radicale and Xandikos, the in-memory
// target — in the manner of vdirsyncer's tests/storage/__init__.py: its StorageTests are written once and each storage's
// test class supplies a factory (get_storage_args); here each target's file (test/targets/*.test.ts) supplies
// `setup`, a TargetUnderTest.
//
// What a target cannot do is not skipped quietly: each target declares its abilities (vdirsyncer's class attributes
// supports_collections, supports_metadata), the suite registers only the scenarios of the abilities declared, and its
// first test states them all — with the reason for each one lacking — and checks the declaration against the target
// (a target that declares no batch has none). CI counts a skipped test as a failure; here nothing is skipped.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { validateEvent, type DesiredEvent, type EventInput } from '../../src/model/event.ts';
import { zonedToUtcMs } from '../../src/model/time.ts';
import { TargetError, type BatchOp, type CalendarTarget, type ItemRef, type OwnedItem } from '../../src/targets/target.ts';
import { rejection } from '../support/rejection.ts';

/** An ability the target has, or the reason it does not. */
export type Ability = true | { lacks: string };

export interface Abilities {
  /** Several operations in one request (target.batch). */
  batch: Ability;
  /** A create sent again after its answer *arrived* finds the first (Graph's transactionId, CalDAV's resource name). */
  repeatedCreate: Ability;
  /** A mailbox the account may not use (403, ErrorAccessDenied). */
  forbiddenMailbox: Ability;
  /** A mailbox that does not exist (404, ErrorNonExistentMailbox, no collection). */
  missingMailbox: Ability;
}

/** An item as stored, read from the outside (not through the target under test), in one comparable shape. */
export interface StoredView {
  subject: string;
  /** Timed: the UTC instant, "2026-12-01T08:00:00Z"; all-day: the date, "2026-12-01". */
  start: string;
  end: string;
  allDay: boolean;
  location: string;
  /** The plain-text body ("" without one). */
  body: string;
  categories: string[];
  /** A recurring item (a master with a rule): calpush delivers occurrences as single items, never a series. */
  recurring: boolean;
}

/** A person's own event, in UTC. */
export interface ForeignEvent {
  subject: string;
  start: string;
  end: string;
}

/** What one target's file provides: the target on its server, and a way to look at (and act on) the server directly. */
export interface TargetUnderTest {
  /** A target writing as `instance`; the suite closes it. `pageSize`: items per listOwned page (at most). */
  target(options: { instance: string; pageSize?: number }): CalendarTarget;
  /** A calendar no scenario has used yet. */
  calendar(): Promise<string>;
  /** With the abilities: a mailbox answering 403 and one answering 404. */
  forbiddenMailbox?: string;
  missingMailbox?: string;
  putForeign(calendar: string, event: ForeignEvent): Promise<void>;
  /** Every item without calpush's tag, serialised exactly (a change of any byte shows). */
  foreignSnapshot(calendar: string): Promise<string>;
  /** An item (by the target's item id) as stored, or null when it is gone. */
  read(calendar: string, itemId: string): Promise<StoredView | null>;
  /** A person edits the item (its subject): its change key / ETag moves on, the tag stays. */
  editOutside(calendar: string, itemId: string): Promise<void>;
  deleteOutside(calendar: string, itemId: string): Promise<void>;
  /** The next create in `calendar` is done, but its answer is lost (the connection drops). */
  loseNextCreateAnswer(calendar: string): void;
  close(): Promise<void>;
}

const INSTANCE = 'contract';

/** A desired event of the suite: a December 2026 lecture in Amsterdam unless `extra` says otherwise. */
export function event(calendar: string, n: number, extra: Partial<EventInput> = {}): DesiredEvent {
  const day = String(1 + (n % 28)).padStart(2, '0');
  const result = validateEvent({
    calendar,
    id: `lecture-${n}`,
    subject: `Lecture ${n}`,
    start: `2026-12-${day}T09:00`,
    end: `2026-12-${day}T10:45`,
    timeZone: 'Europe/Amsterdam',
    location: `Room ${n}`,
    categories: ['Timetable'],
    ...extra,
  });
  if (!result.ok) throw new Error(`bad test event: ${JSON.stringify(result.problems)}`);
  return result.desired;
}

/** What the mapping promises to store for a desired event. */
export function expectedView(desired: DesiredEvent): Omit<StoredView, 'recurring'> {
  const { event: e } = desired;
  const utc = (local: string, zone: string) => `${new Date(zonedToUtcMs(local, zone)).toISOString().slice(0, 19)}Z`;
  const timing = e.timing;
  return {
    subject: e.subject,
    start: timing.allDay ? timing.startDate : utc(timing.start, timing.timeZone),
    end: timing.allDay ? timing.endDate : utc(timing.end, timing.timeZone),
    allDay: timing.allDay,
    location: e.location ?? '',
    body: e.body?.content ?? '',
    categories: e.categories,
  };
}

async function listAll(target: CalendarTarget, calendar: string): Promise<{ items: OwnedItem[]; pages: number }> {
  const items: OwnedItem[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await target.listOwned(calendar, cursor);
    items.push(...page.items);
    cursor = page.next;
    pages++;
    if (pages > 1000) throw new Error('listOwned never ends');
  } while (cursor);
  return { items, pages };
}

function describeAbilities(abilities: Abilities): string {
  return Object.entries(abilities)
    .map(([name, ability]) => (ability === true ? `${name} ✓` : `${name} ✗ (${(ability as { lacks: string }).lacks})`))
    .join('; ');
}

/** Registers the contract's scenarios for one target. */
export function contractSuite(name: string, abilities: Abilities, setup: () => Promise<TargetUnderTest>): void {
  describe(`the target contract: ${name}`, () => {
    let server: TargetUnderTest;
    const opened: CalendarTarget[] = [];
    let failure: unknown;
    beforeAll(async () => {
      try {
        server = await setup();
      } catch (error) {
        // Reported by every scenario (a server that cannot start fails the suite, it does not skip it).
        failure = error;
      }
    });
    afterAll(async () => {
      for (const target of opened) await target.close();
      await server?.close();
    });
    const open = (options: { instance?: string; pageSize?: number } = {}) => {
      if (failure) throw failure;
      const target = server.target({ instance: options.instance ?? INSTANCE, ...(options.pageSize ? { pageSize: options.pageSize } : {}) });
      opened.push(target);
      return target;
    };

    it(`declares its abilities: ${describeAbilities(abilities)}`, () => {
      const target = open();
      expect(target.batch !== undefined).toBe(abilities.batch === true);
      if (abilities.forbiddenMailbox === true) expect(server.forbiddenMailbox).toBeTruthy();
      if (abilities.missingMailbox === true) expect(server.missingMailbox).toBeTruthy();
    });

    it('create returns a ref; the item is listed as owned with its key, content hash and change key', async () => {
      const target = open();
      const calendar = await server.calendar();
      const desired = event(calendar, 1);
      const ref = await target.create(desired, 'tx-create-1');
      expect(ref.itemId).toBeTruthy();
      const { items } = await listAll(target, calendar);
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ key: desired.key, itemId: ref.itemId, contentHash: desired.contentHash });
      expect(items[0]!.changeKey).toBeTruthy();
      expect(await server.read(calendar, ref.itemId)).toMatchObject({ ...expectedView(desired), recurring: false });
    });

    it('a create whose answer was lost, sent again with its transactionId, makes no duplicate', async () => {
      const target = open();
      const calendar = await server.calendar();
      const desired = event(calendar, 2);
      server.loseNextCreateAnswer(calendar);
      const lost = await rejection(target.create(desired, 'tx-lost-2'));
      expect(lost.scope).toBe('transient');
      const again = await target.create(desired, 'tx-lost-2');
      const { items } = await listAll(target, calendar);
      expect(items.map((item) => item.key)).toEqual([desired.key]);
      expect(again.itemId).toBe(items[0]!.itemId);
    });

    if (abilities.repeatedCreate === true) {
      it('a create sent again after its answer arrived finds the first: one item', async () => {
        const target = open();
        const calendar = await server.calendar();
        const desired = event(calendar, 3);
        const first = await target.create(desired, 'tx-twice-3');
        const second = await target.create(desired, 'tx-twice-3');
        expect(second.itemId).toBe(first.itemId);
        expect((await listAll(target, calendar)).items).toHaveLength(1);
      });
    }

    it('listOwned pages, and returns only this instance’s items: never another instance’s, never a foreign one', async () => {
      const calendar = await server.calendar();
      const ours = open({ pageSize: 2 });
      const theirs = open({ instance: 'contract-other' });
      const mine = [0, 1, 2, 3, 4].map((n) => event(calendar, 10 + n));
      for (const [n, desired] of mine.entries()) await ours.create(desired, `tx-page-${n}`);
      const other = event(calendar, 20);
      const otherRef = await theirs.create(other, 'tx-other-20');
      await server.putForeign(calendar, { subject: 'Lecture 10', start: '2026-12-11T08:00:00Z', end: '2026-12-11T09:45:00Z' });

      const listed = await listAll(ours, calendar);
      expect(listed.pages).toBeGreaterThan(1);
      expect(listed.items.map((item) => item.key).sort()).toEqual(mine.map((d) => d.key).sort());
      const theirList = await listAll(theirs, calendar);
      expect(theirList.items.map((item) => item.itemId)).toEqual([otherRef.itemId]);
    });

    it('update replaces the content and returns the new change key', async () => {
      const target = open();
      const calendar = await server.calendar();
      const v1 = event(calendar, 30);
      const ref = await target.create(v1, 'tx-update-30');
      const v2 = event(calendar, 30, { subject: 'Lecture 30 (moved)', location: 'Aula', start: '2026-12-03T13:00', end: '2026-12-03T14:00', categories: [] });
      const updated = await target.update(v2, ref);
      expect(updated.itemId).toBe(ref.itemId);
      expect(updated.changeKey).toBeTruthy();
      expect(updated.changeKey).not.toBe(ref.changeKey);
      expect(await server.read(calendar, ref.itemId)).toMatchObject(expectedView(v2));
      const [listed] = (await listAll(target, calendar)).items;
      expect(listed).toMatchObject({ itemId: ref.itemId, changeKey: updated.changeKey, contentHash: v2.contentHash });
    });

    it('update and delete with a stale change key: the conflict fallback writes (the source wins) while the item is ours', async () => {
      const target = open();
      const calendar = await server.calendar();
      const a = event(calendar, 40);
      const b = event(calendar, 41);
      const refA = await target.create(a, 'tx-stale-40');
      const refB = await target.create(b, 'tx-stale-41');
      await server.editOutside(calendar, refA.itemId);
      await server.editOutside(calendar, refB.itemId);
      const changed = event(calendar, 40, { subject: 'Lecture 40 from the source' });
      const updated = await target.update(changed, refA);
      expect(await server.read(calendar, refA.itemId)).toMatchObject({ subject: 'Lecture 40 from the source' });
      const listed = (await listAll(target, calendar)).items.find((item) => item.itemId === refA.itemId)!;
      expect(updated.changeKey).toBe(listed.changeKey);
      await target.remove(calendar, refB);
      expect(await server.read(calendar, refB.itemId)).toBeNull();
    });

    it('remove of an item already gone counts as removed; update of one is "gone"', async () => {
      const target = open();
      const calendar = await server.calendar();
      const desired = event(calendar, 50);
      const ref = await target.create(desired, 'tx-gone-50');
      await server.deleteOutside(calendar, ref.itemId);
      await target.remove(calendar, ref);
      await target.remove(calendar, ref);
      expect(await rejection(target.update(event(calendar, 50, { subject: 'x' }), ref))).toMatchObject({ scope: 'gone' });
      expect((await listAll(target, calendar)).items).toEqual([]);
    });

    it('a foreign event with the same subject and time is never touched', async () => {
      const target = open();
      const calendar = await server.calendar();
      await server.putForeign(calendar, { subject: 'Lecture 60', start: '2026-12-05T08:00:00Z', end: '2026-12-05T09:45:00Z' });
      const before = await server.foreignSnapshot(calendar);
      const desired = event(calendar, 60, { start: '2026-12-05T09:00', end: '2026-12-05T10:45' });
      const ref = await target.create(desired, 'tx-foreign-60');
      const updated = await target.update(event(calendar, 60, { start: '2026-12-05T09:00', end: '2026-12-05T10:45', location: 'Elsewhere' }), ref);
      await target.remove(calendar, updated);
      expect((await listAll(target, calendar)).items).toEqual([]);
      expect(await server.foreignSnapshot(calendar)).toBe(before);
    });

    describe('round trips, as the mapping promises', () => {
      const cases: Array<[string, (calendar: string) => DesiredEvent]> = [
        ['an all-day event (dates; the end exclusive)', (c) => event(c, 70, { allDay: true, start: '2026-12-07', end: '2026-12-09', timeZone: undefined })],
        ['America/New_York', (c) => event(c, 71, { timeZone: 'America/New_York', start: '2026-11-02T09:00', end: '2026-11-02T10:00' })],
        ['Asia/Kolkata (+05:30)', (c) => event(c, 72, { timeZone: 'Asia/Kolkata', start: '2026-12-01T09:00', end: '2026-12-01T10:00' })],
        ['Australia/Lord_Howe (a 30-minute DST)', (c) => event(c, 73, { timeZone: 'Australia/Lord_Howe', start: '2026-12-01T09:00', end: '2026-12-01T10:00' })],
        ['Europe/Amsterdam just after the spring change', (c) => event(c, 74, { start: '2026-03-29T03:30', end: '2026-03-29T04:00' })],
        ['an occurrence of a series, delivered on its own (id UID@start)', (c) => event(c, 75, { id: 'series-uid-1@20261208T080000Z', start: '2026-12-08T09:00', end: '2026-12-08T10:00' })],
        [
          'unicode and long fields',
          (c) =>
            event(c, 76, {
              subject: `Ünïcødé 講義 🎓 ${'x'.repeat(200)}`.slice(0, 255),
              location: 'Zaal Ω, gebouw "Ñ"; verdieping 3\\4',
              body: `Regel één — ${'日本語のテキスト, with commas; semicolons and \\ backslashes. 🚀 '.repeat(120)}\nTweede regel`,
              categories: ['Colleges', 'Ämne'],
            }),
        ],
      ];
      for (const [what, make] of cases) {
        it(what, async () => {
          const target = open();
          const calendar = await server.calendar();
          const desired = make(calendar);
          const ref = await target.create(desired, `tx-${desired.key.slice(0, 8)}`);
          expect(await server.read(calendar, ref.itemId)).toEqual({ ...expectedView(desired), recurring: false });
          const [listed] = (await listAll(target, calendar)).items;
          expect(listed).toMatchObject({ key: desired.key, contentHash: desired.contentHash });
        });
      }
    });

    if (abilities.batch === true) {
      it('a batch answers in the order of its operations, with the results single calls give', async () => {
        const target = open();
        const calendar = await server.calendar();
        const kept = await target.create(event(calendar, 80), 'tx-batch-80');
        const doomed = await target.create(event(calendar, 81), 'tx-batch-81');
        const vanished = await target.create(event(calendar, 82), 'tx-batch-82');
        await server.deleteOutside(calendar, vanished.itemId);
        const created = event(calendar, 83);
        const changed = event(calendar, 80, { subject: 'Lecture 80 (batch)' });
        const ops: BatchOp[] = [
          { kind: 'create', desired: created, transactionId: 'tx-batch-83' },
          { kind: 'update', desired: changed, item: kept },
          { kind: 'delete', calendar, item: doomed },
          { kind: 'delete', calendar, item: vanished },
        ];
        const outcomes = await target.batch!.run(calendar, ops, 'chain');
        expect(outcomes.map((outcome) => outcome.ok)).toEqual([true, true, true, true]);
        const createdRef = (outcomes[0] as { item: ItemRef }).item;
        const updatedRef = (outcomes[1] as { item: ItemRef }).item;
        const listed = (await listAll(target, calendar)).items;
        expect(listed.map((item) => item.key).sort()).toEqual([created.key, changed.key].sort());
        expect(listed.find((item) => item.key === created.key)!.itemId).toBe(createdRef.itemId);
        expect(listed.find((item) => item.key === changed.key)).toMatchObject({ itemId: kept.itemId, changeKey: updatedRef.changeKey, contentHash: changed.contentHash });
        expect(await server.read(calendar, kept.itemId)).toMatchObject(expectedView(changed));
        expect(await server.read(calendar, createdRef.itemId)).toMatchObject(expectedView(created));
        expect(await server.read(calendar, doomed.itemId)).toBeNull();
      });
    }

    if (abilities.forbiddenMailbox === true) {
      it('a mailbox the account may not use: listing and creating fail with scope "mailbox"', async () => {
        const target = open();
        const mailbox = server.forbiddenMailbox!;
        expect(await rejection(target.listOwned(mailbox))).toMatchObject({ scope: 'mailbox' });
        expect(await rejection(target.create(event(mailbox, 90), 'tx-forbidden-90'))).toMatchObject({ scope: 'mailbox' });
      });
    }

    if (abilities.missingMailbox === true) {
      it('a mailbox that does not exist: listing and creating fail with scope "mailbox"', async () => {
        const target = open();
        const mailbox = server.missingMailbox!;
        expect(await rejection(target.listOwned(mailbox))).toMatchObject({ scope: 'mailbox' });
        expect(await rejection(target.create(event(mailbox, 91), 'tx-missing-91'))).toMatchObject({ scope: 'mailbox' });
      });
    }
  });
}
