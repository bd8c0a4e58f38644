// The calendars a deployment manages (the config's `mailboxes`): addresses, and room lists standing for the rooms they
// hold (`{"roomList": "rooms-lib@contoso.edu"}`), read through the target the entry names (engine/room-lists.ts:
// Graph place-list, EWS GetRooms, through the scheduler). sync and import read the lists once per run; `calpush
// serve` when it starts and every `roomListRefreshMinutes` (the set is updated in place, so the API sees the change).
// A list that cannot be read leaves its rooms out — records for them are refused naming the list — and the other
// mailboxes go through.
import type { Clock } from '../model/clock.ts';
import { RoomListResolver } from '../engine/room-lists.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import { createScheduler } from '../engine/limits.ts';
import type { RoomDirectory } from '../targets/rooms.ts';
import { TargetError, type CalendarTarget } from '../targets/target.ts';
import type { Config } from './config.ts';
import { createTargets } from './targets.ts';

export interface RoomListEntry {
  roomList: string;
  target: string;
}

/**
 * A target that reads room lists (Graph's places, EWS GetRooms), known by its shape: importing the targets' classes
 * here would load every kind of target's modules (EWS's XML and NTLM) into every sync, 30 ms of each start.
 */
function readsRoomLists(target: CalendarTarget): target is CalendarTarget & { rooms(): RoomDirectory } {
  return typeof (target as { rooms?: unknown }).rooms === 'function';
}

/** The addresses `mailboxes` names itself (lower-cased); undefined when the config has no `mailboxes`. */
export function namedMailboxes(config: Pick<Config, 'mailboxes'>): string[] | undefined {
  return config.mailboxes?.flatMap((entry) => (typeof entry === 'string' ? [entry.toLowerCase()] : []));
}

/** The room lists `mailboxes` names. */
export function roomListEntries(config: Pick<Config, 'mailboxes'>): RoomListEntry[] {
  return (config.mailboxes ?? []).flatMap((entry) => (typeof entry === 'string' ? [] : [{ roomList: entry.roomList.toLowerCase(), target: entry.target }]));
}

/** A target the lists are read through, and the scheduler its requests go through. */
export type DirectoryOf = (target: string) => { target: CalendarTarget; scheduler: Pick<Scheduler, 'submit'> } | undefined;

export class ManagedMailboxes {
  /** Every managed address; null when the config names no mailboxes (any calendar goes). Updated in place by refresh(). */
  readonly set: Set<string> | null;
  /** The room lists that could not be read at the last refresh, with why. */
  readonly unreadable = new Map<string, string>();
  private readonly named: string[];
  private readonly lists: RoomListEntry[];
  private readonly resolvers = new Map<string, RoomListResolver>();

  constructor(config: Pick<Config, 'mailboxes'>, directoryOf: DirectoryOf, options: { clock?: Clock; refreshMs?: number } = {}) {
    this.named = namedMailboxes(config) ?? [];
    this.lists = roomListEntries(config);
    this.set = config.mailboxes ? new Set(this.named) : null;
    for (const name of new Set(this.lists.map((l) => l.target))) {
      const member = directoryOf(name);
      if (!member || !readsRoomLists(member.target)) continue;
      this.resolvers.set(name, new RoomListResolver({ directory: member.target.rooms(), scheduler: member.scheduler, ...(options.clock ? { clock: options.clock } : {}), ...(options.refreshMs ? { refreshMs: options.refreshMs } : {}) }));
    }
  }

  /** Reads the room lists (those kept fresh come from memory) and puts their rooms in the set. */
  async refresh(): Promise<void> {
    if (!this.set || !this.lists.length) return;
    const rooms = new Set<string>();
    this.unreadable.clear();
    for (const entry of this.lists) {
      try {
        const resolver = this.resolvers.get(entry.target);
        if (!resolver) throw new TargetError('item', 'RoomListsUnsupported', `target "${entry.target}" cannot read room lists`);
        for (const room of await resolver.rooms(entry.roomList)) rooms.add(room.address);
      } catch (error) {
        if (!(error instanceof TargetError)) throw error;
        this.unreadable.set(entry.roomList, `${error.code}: ${error.message}`);
      }
    }
    // In place: the set the API holds sees the new rooms; rooms that left every list leave the set.
    for (const address of [...this.set]) if (!this.named.includes(address) && !rooms.has(address)) this.set.delete(address);
    for (const address of rooms) this.set.add(address);
  }

  /** Why `calendar` is refused, naming the lists that could not be read (their rooms may be among them). */
  refusal(): string {
    const lists = [...this.unreadable].map(([list, why]) => `room list ${list} could not be read (${why})`);
    return `is not one of the mailboxes in the config${lists.length ? `; ${lists.join('; ')}` : ''}`;
  }
}

/**
 * The managed mailboxes of a one-shot command (sync, import): the room lists read once, through targets and a
 * scheduler of their own, closed when done. Null when the config names no mailboxes.
 */
export async function managedMailboxesOnce(config: Config, baseDir: string, clock?: Clock): Promise<ManagedMailboxes | null> {
  if (!config.mailboxes) return null;
  const lists = roomListEntries(config);
  if (!lists.length) return new ManagedMailboxes(config, () => undefined);
  const targets = await createTargets(config, baseDir, {}, new Set(lists.map((l) => l.target)));
  try {
    const scheduler = createScheduler(config.limits, clock);
    const managed = new ManagedMailboxes(config, (name) => (targets.has(name) ? { target: targets.get(name)!, scheduler } : undefined), clock ? { clock } : {});
    await managed.refresh();
    return managed;
  } finally {
    await Promise.all([...targets.values()].map((t) => t.close()));
  }
}
