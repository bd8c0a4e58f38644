// The rooms of a room list on Exchange Web Services: `GetRooms` with the list's address
// (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getrooms-operation, Exchange 2010 and
// later), as schema-valid SOAP (messages.xsd GetRoomsType: one RoomList, an EmailAddressType). The answer holds every
// room at once (no paging); an address that names no room list answers ErrorNameResolutionNoResults.
import { ROOM_LIST_NOT_FOUND, type Room, type RoomDirectory, type RoomPage } from '../rooms.ts';
import { TargetError, type ServiceLane } from '../target.ts';
import type { ResponseMessage } from './responses.ts';
import { child, children, el, text, type XmlElement } from './xml.ts';

export interface EwsDirectoryConnection {
  laneFor(list: string): ServiceLane;
  /** One GetRooms request as a service account; its response message (an error one only for an unknown list). */
  call(list: string, body: XmlElement): Promise<ResponseMessage>;
}

export function getRoomsBody(list: string): XmlElement {
  return el('m:GetRooms', {}, el('m:RoomList', {}, el('t:EmailAddress', {}, list)));
}

export class EwsRoomDirectory implements RoomDirectory {
  readonly kind = 'ews' as const;
  private readonly ews: EwsDirectoryConnection;
  constructor(ews: EwsDirectoryConnection) {
    this.ews = ews;
  }

  laneFor(list: string): ServiceLane {
    return this.ews.laneFor(list);
  }

  async rooms(list: string): Promise<RoomPage> {
    const message = await this.ews.call(list, getRoomsBody(list));
    if (message.responseClass === 'Error') {
      throw new TargetError('item', ROOM_LIST_NOT_FOUND, `Exchange knows no room list ${list}: ${message.message || message.code}`, {
        remedy: 'name the room list by its email address (Get-DistributionGroup -RecipientTypeDetails RoomList lists them)',
      });
    }
    const rooms: Room[] = [];
    for (const room of children(child(message.node, 'Rooms'), 'Room')) {
      const id = child(room, 'Id');
      const address = text(child(id, 'EmailAddress')).trim().toLowerCase();
      if (address.includes('@')) rooms.push({ address, displayName: text(child(id, 'Name')) || address });
    }
    return { rooms, next: null };
  }
}
