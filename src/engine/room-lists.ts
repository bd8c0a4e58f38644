// Room lists as a source of mailboxes: a config entry `{"roomList": "rooms-lib@contoso.edu"}` stands for the rooms
// the service lists for it (targets/rooms.ts: Graph place-list, EWS GetRooms). Every page is a request through the
// scheduler, counted under the list's address (its budget, its Retry-After), in the directory's lane.
//
// What a list holds is kept in memory for `refreshMs` (a one-shot command: for its run; `calpush serve`: re-read
// when that has passed), so that a pass over 300 rooms does not ask for the list 300 times, and a room added to the
// list is picked up without a restart.
import { systemClock, type Clock } from '../model/clock.ts';
import type { Room, RoomDirectory } from '../targets/rooms.ts';
import { TargetError } from '../targets/target.ts';
import type { Scheduler } from './scheduler.ts';

/** Pages of one list: a bound, so a service that keeps handing out pages cannot hold the run (100 rooms a page). */
const MAX_PAGES = 200;
/** Rooms of one list kept: far past Microsoft's advice (buckets of 75), small enough to bound memory. */
const MAX_ROOMS = 20_000;

export interface RoomListResolverOptions {
  directory: RoomDirectory;
  scheduler: Pick<Scheduler, 'submit'>;
  /** How long what a list holds is kept (default: for the resolver's life). */
  refreshMs?: number;
  clock?: Clock;
}

export class RoomListResolver {
  private readonly options: RoomListResolverOptions;
  private readonly clock: Clock;
  private readonly cache = new Map<string, { rooms: Room[]; readAt: number }>();

  constructor(options: RoomListResolverOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  /** The rooms of `list` (lower-cased addresses, each once); a failure is a TargetError whose message names the list. */
  async rooms(list: string): Promise<Room[]> {
    const key = list.toLowerCase();
    const cached = this.cache.get(key);
    if (cached && this.clock.now() - cached.readAt < (this.options.refreshMs ?? Infinity)) return cached.rooms;
    const rooms = await this.read(key);
    this.cache.set(key, { rooms, readAt: this.clock.now() });
    return rooms;
  }

  private async read(list: string): Promise<Room[]> {
    const { directory, scheduler } = this.options;
    const found = new Map<string, Room>();
    let next: string | null = null;
    for (let page = 0; page < MAX_PAGES; page++) {
      const cursor: string | null = next;
      const answer = await scheduler.submit(list, () => directory.rooms(list, cursor), { lane: directory.laneFor?.(list) ?? null }).catch((error: unknown) => {
        throw named(error, list);
      });
      for (const room of answer.rooms) if (!found.has(room.address)) found.set(room.address, room);
      if (found.size > MAX_ROOMS) throw new TargetError('item', 'RoomListTooLarge', `room list ${list} holds more than ${MAX_ROOMS} rooms`, { remedy: 'split it in lists of 75 rooms, as Microsoft advises for room finder lists' });
      next = answer.next;
      if (next === null) return [...found.values()].sort((a, b) => a.address.localeCompare(b.address));
    }
    throw new TargetError('item', 'RoomListTooLarge', `room list ${list} did not end after ${MAX_PAGES} pages`);
  }
}

/** The failure with the list in its message (the target names the request, not always the list). */
function named(error: unknown, list: string): unknown {
  if (!(error instanceof TargetError) || error.message.includes(list)) return error;
  const wrapped = new TargetError(error.scope, error.code, `room list ${list}: ${error.message}`, {
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.remedy ? { remedy: error.remedy } : {}),
    cause: error,
  });
  return wrapped;
}
