// Drift over Graph (calendarView/delta) and EWS (SyncFolderItems) against the sandbox: a student deletes or edits a
// pushed lecture in Outlook; the watch finds it; the policy decides — restore puts it back, respect leaves it and says
// so, detach forgets it for good. A student's own event is never touched; a forgotten sync state means a full round
// and nothing twice.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { defaultWorkerId } from '../../src/engine/lease.ts';
import { eventKey } from '../../src/model/event.ts';
import { lecture, NOW, startDriftWorld, type DriftWorld, type Protocol } from './harness.ts';

let sandbox: SandboxInternals;
beforeAll(async () => {
  sandbox = await startSandbox({ clock: fixedClock(NOW) });
});
afterAll(async () => {
  await sandbox?.close();
});

const ours = (world: DriftWorld, mailbox: string) => world.calendar(mailbox).filter((e) => (e.singleValueExtendedProperties ?? []).length > 0);
const subjects = (world: DriftWorld, mailbox: string) => ours(world, mailbox).map((e) => e.subject).sort();

describe.each<Protocol>(['graph', 'ews'])('drift over %s', (protocol) => {
  // Each test its own student: the sandbox is shared by both protocols.
  const student = (n: number) => `s00${protocol === 'graph' ? 1 : 2}${n}@contoso.edu`;
  let world: DriftWorld;
  beforeAll(async () => {
    world = await startDriftWorld(protocol, sandbox);
  });
  afterAll(async () => {
    await world?.close();
  });

  async function pushed(mailbox: string): Promise<void> {
    await world.push(mailbox, [lecture(mailbox, 1), lecture(mailbox, 2), lecture(mailbox, 3)]);
    // The first round reads the calendar in full: nothing drifted yet.
    const first = await world.watch([mailbox]);
    expect(first.mailboxes[0]).toMatchObject({ status: 'full', drift: [] });
  }

  it('a lecture the student deletes is restored, once; one the student edits is updated back', async () => {
    const mailbox = student(1);
    await pushed(mailbox);
    const person = sandbox.outlook(mailbox);
    person.deleteEvent(await world.itemOf(mailbox, 'lecture-1'));
    person.updateEvent(await world.itemOf(mailbox, 'lecture-2'), { subject: 'Skipping this one' });
    const round = await world.watch([mailbox]);
    expect(round.mailboxes[0]!.status).toBe('watched');
    expect(round.mailboxes[0]!.drift.map((d) => [d.kind, d.policy]).sort()).toEqual([['deleted', 'restore'], ['edited', 'restore']]);
    expect(round.toDeliver).toEqual([mailbox]);
    await world.deliver(round.toDeliver);
    expect(subjects(world, mailbox)).toEqual(['Lecture 1', 'Lecture 2', 'Lecture 3']);
    // Calpush's own writes are no drift; a second delivery has nothing to do.
    const after = await world.watch([mailbox]);
    expect(after.mailboxes[0]!.drift).toEqual([]);
    await world.deliver([mailbox]);
    expect(subjects(world, mailbox)).toEqual(['Lecture 1', 'Lecture 2', 'Lecture 3']);
  });

  it('respect leaves the change and shows it; the next change of the source applies again', async () => {
    const mailbox = student(2);
    await pushed(mailbox);
    const person = sandbox.outlook(mailbox);
    person.deleteEvent(await world.itemOf(mailbox, 'lecture-1'));
    person.updateEvent(await world.itemOf(mailbox, 'lecture-2'), { subject: 'My own title' });
    const round = await world.watch([mailbox], { edited: 'respect', deleted: 'respect' });
    expect(round.toDeliver).toEqual([]);
    await world.deliver([mailbox]);
    expect(subjects(world, mailbox)).toEqual(['Lecture 3', 'My own title']);
    expect((await world.store.driftFor(mailbox)).map((d) => [d.kind, d.policy]).sort()).toEqual([['deleted', 'respect'], ['edited', 'respect']]);
    // The source moves on: its new content goes out (the lecture comes back, the title is the source's).
    await world.push(mailbox, [lecture(mailbox, 1, 'Lecture 1 (moved)'), lecture(mailbox, 2, 'Lecture 2 (moved)'), lecture(mailbox, 3)]);
    expect(subjects(world, mailbox)).toEqual(['Lecture 1 (moved)', 'Lecture 2 (moved)', 'Lecture 3']);
  });

  it('detach forgets the event: a later change of the source is not applied, and nothing is deleted', async () => {
    const mailbox = student(3);
    await pushed(mailbox);
    sandbox.outlook(mailbox).updateEvent(await world.itemOf(mailbox, 'lecture-2'), { subject: 'Mine now' });
    await world.watch([mailbox], { edited: 'detach' });
    await world.push(mailbox, [lecture(mailbox, 1), lecture(mailbox, 2, 'Lecture 2 (moved)'), lecture(mailbox, 3, 'Lecture 3 (moved)')]);
    expect(subjects(world, mailbox)).toEqual(['Lecture 1', 'Lecture 3 (moved)', 'Mine now']);
    // Even when the source drops it, the detached event stays.
    await world.push(mailbox, [lecture(mailbox, 1)]);
    expect(subjects(world, mailbox)).toEqual(['Lecture 1', 'Mine now']);
  });

  it('a dismissed reminder or a category the student adds is no edit: no finding, nothing written; a subject edit still is one', async () => {
    const mailbox = student(6);
    const reminded = (n: number) => ({ ...lecture(mailbox, n), reminderMinutes: 15 });
    await world.push(mailbox, [reminded(1), reminded(2), reminded(3)]);
    expect((await world.watch([mailbox])).mailboxes[0]!.drift).toEqual([]);
    const person = sandbox.outlook(mailbox);
    const [one, two, three] = [await world.itemOf(mailbox, 'lecture-1'), await world.itemOf(mailbox, 'lecture-2'), await world.itemOf(mailbox, 'lecture-3')];
    person.updateEvent(one, { isReminderOn: false });
    person.updateEvent(two, { categories: ['Red category'] });
    person.updateEvent(three, { subject: 'Not going' });
    // Under detach a false finding would stop managing the lecture for good.
    const round = await world.watch([mailbox], { edited: 'detach' });
    expect(round.mailboxes[0]!.changes).toBeGreaterThanOrEqual(3);
    expect(round.mailboxes[0]!.drift.map((d) => [d.kind, d.policy, d.key])).toEqual([['edited', 'detach', eventKey(mailbox, 'lecture-3')]]);
    // Nothing written: the reminder stays dismissed, the category stays.
    await world.deliver([mailbox]);
    const byId = new Map(world.calendar(mailbox).map((e) => [e.id, e]));
    expect(byId.get(one)!.isReminderOn).toBe(false);
    expect(byId.get(two)!.categories).toEqual(['Red category']);
    // The lectures are still calpush's: one the timetable cancels goes, one it moves is moved.
    await world.push(mailbox, [reminded(2), { ...reminded(3), subject: 'Lecture 3 (moved)' }]);
    expect(subjects(world, mailbox)).toEqual(['Lecture 2', 'Not going']);
  });

  it('a dismissed reminder under restore: nothing written back (the reminder is not re-armed)', async () => {
    const mailbox = student(7);
    await world.push(mailbox, [{ ...lecture(mailbox, 1), reminderMinutes: 15 }]);
    await world.watch([mailbox]);
    const one = await world.itemOf(mailbox, 'lecture-1');
    sandbox.outlook(mailbox).updateEvent(one, { isReminderOn: false });
    const round = await world.watch([mailbox]);
    expect(round.mailboxes[0]!.drift).toEqual([]);
    expect(round.toDeliver).toEqual([]);
    await world.deliver([mailbox]);
    expect(world.calendar(mailbox).find((e) => e.id === one)!.isReminderOn).toBe(false);
  });

  it('a student’s own event is never touched, whatever is done to it', async () => {
    const mailbox = student(4);
    await pushed(mailbox);
    const person = sandbox.outlook(mailbox);
    const dentist = person.createEvent({ subject: 'Dentist', start: { dateTime: '2026-09-09T12:00:00', timeZone: 'UTC' }, end: { dateTime: '2026-09-09T13:00:00', timeZone: 'UTC' } });
    person.updateEvent(dentist.id, { subject: 'Dentist (moved)' });
    const round = await world.watch([mailbox]);
    expect(round.mailboxes[0]!.drift).toEqual([]);
    expect(round.mailboxes[0]!.changes).toBeGreaterThan(0);
    person.deleteEvent(dentist.id);
    expect((await world.watch([mailbox])).mailboxes[0]!.drift).toEqual([]);
    expect(world.calendar(mailbox).some((e) => e.id === dentist.id)).toBe(false);
  });

  it('a sync state the service forgot means a full round: what changed meanwhile is found, nothing is created twice', async () => {
    const mailbox = student(5);
    await pushed(mailbox);
    const person = sandbox.outlook(mailbox);
    person.updateEvent(await world.itemOf(mailbox, 'lecture-3'), { subject: 'Edited while the state was lost' });
    person.deleteEvent(await world.itemOf(mailbox, 'lecture-1'));
    sandbox.faults.expireSyncStates();
    const round = await world.watch([mailbox]);
    expect(round.mailboxes[0]!.status).toBe('full');
    expect(round.mailboxes[0]!.drift.map((d) => d.kind).sort()).toEqual(['deleted', 'edited']);
    await world.deliver(round.toDeliver);
    expect(subjects(world, mailbox)).toEqual(['Lecture 1', 'Lecture 2', 'Lecture 3']);
    // The full round again (the state forgotten once more): nothing more to find, nothing twice.
    sandbox.faults.expireSyncStates();
    expect((await world.watch([mailbox])).mailboxes[0]!.drift).toEqual([]);
    await world.deliver([mailbox]);
    expect(ours(world, mailbox)).toHaveLength(3);
  });

  it('a round and a delivery of the same worker exclude each other; the round frees no delivery’s lease', async () => {
    const mailbox = student(8);
    await pushed(mailbox);
    // A delivery of this process holds the mailbox (the default worker id, as DeliveryRun claims it).
    const delivery = await world.store.claimMailbox(mailbox, defaultWorkerId(), 60_000);
    expect(delivery).not.toBeNull();
    const round = await world.watch([mailbox]);
    expect(round.mailboxes[0]).toMatchObject({ status: 'busy' });
    expect(await world.store.leaseHolder(mailbox)).toBe(defaultWorkerId());
    await world.store.releaseMailbox(mailbox, defaultWorkerId());
    expect((await world.watch([mailbox])).mailboxes[0]).toMatchObject({ status: 'watched' });
  });
});
