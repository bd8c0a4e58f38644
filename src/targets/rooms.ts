// What a service says about room lists: the rooms of one list, by the list's address. A room list is the
// distribution group facilities teams manage rooms by (New-DistributionGroup -RoomList); the rooms are what the
// agent answers for, or what `mailboxes` names. Graph (graph/rooms.ts) and EWS (ews/rooms.ts) implement it; each
// call is one request, so the scheduler counts, gates and retries each (engine/scheduler.ts).
import type { ServiceLane } from './target.ts';

export interface Room {
  address: string;
  displayName: string;
}

export interface RoomPage {
  rooms: Room[];
  /** Where the next page is read (Graph's @odata.nextLink); null: the list is complete. */
  next: string | null;
}

export interface RoomDirectory {
  readonly kind: 'graph' | 'ews';
  /** One page of the rooms of `list` (its email address); a list the service does not know is ROOM_LIST_NOT_FOUND. */
  rooms(list: string, next: string | null): Promise<RoomPage>;
  /** The lane between everything and the directory (EWS: the service account), as CalendarTarget.laneFor. */
  laneFor?(list: string): ServiceLane | null;
}

/** The service does not know the room list (a typo, or a distribution group that is not a room list). */
export const ROOM_LIST_NOT_FOUND = 'RoomListNotFound';
