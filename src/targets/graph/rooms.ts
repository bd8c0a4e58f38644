// The rooms of a room list on Microsoft Graph: `GET /places/{room-list-emailaddress}/microsoft.graph.roomlist/rooms`
// (https://learn.microsoft.com/graph/api/place-list, application permission Place.Read.All). "To get rooms in a room
// list, you must specify the room list by its emailAddress property, not by its id"; "by default, this operation
// returns 100 places per page", the next through @odata.nextLink. Only `emailAddress` and `displayName` are asked for.
import type { HttpResponse } from '../http.ts';
import { ROOM_LIST_NOT_FOUND, type Room, type RoomDirectory, type RoomPage } from '../rooms.ts';
import { TargetError } from '../target.ts';
import { answerObject, collection, link } from './answers.ts';

export interface GraphPlacesConnection {
  base: string;
  /** One GET; `key` is what the scheduler counts it under (the list's address). */
  get(key: string, url: string): Promise<HttpResponse>;
}

export class GraphRoomDirectory implements RoomDirectory {
  readonly kind = 'graph' as const;
  private readonly graph: GraphPlacesConnection;
  constructor(graph: GraphPlacesConnection) {
    this.graph = graph;
  }

  async rooms(list: string, next: string | null): Promise<RoomPage> {
    const url = next ?? `${this.graph.base}/places/${encodeURIComponent(list)}/microsoft.graph.roomlist/rooms?$select=emailAddress,displayName`;
    let response: HttpResponse;
    try {
      response = await this.graph.get(list, url);
    } catch (error) {
      if (error instanceof TargetError && error.status === 404) {
        throw new TargetError('item', ROOM_LIST_NOT_FOUND, `Graph knows no room list ${list}: ${error.message}`, {
          status: 404,
          remedy: 'name the room list by its email address (Get-DistributionGroup -RecipientTypeDetails RoomList lists them)',
        });
      }
      if (error instanceof TargetError && error.status === 403) {
        throw new TargetError('item', error.code, `Graph refused to read room list ${list}: ${error.message}`, {
          status: 403,
          remedy: 'grant the app the Microsoft Graph application permission Place.Read.All (and admin consent)',
        });
      }
      throw error;
    }
    const what = `the rooms of room list ${list}`;
    const page = answerObject(response.body, what);
    const rooms: Room[] = collection(page, what).flatMap((place) =>
      typeof place.emailAddress === 'string' && place.emailAddress.includes('@') ? [{ address: place.emailAddress.toLowerCase(), displayName: typeof place.displayName === 'string' ? place.displayName : place.emailAddress }] : [],
    );
    return { rooms, next: link(page, '@odata.nextLink', what) ?? null };
  }
}
