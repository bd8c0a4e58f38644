// Room lists and rooms: GET /places/microsoft.graph.room, GET /places/microsoft.graph.roomlist and
// GET /places/{room-list-emailaddress}/microsoft.graph.roomlist/rooms (https://learn.microsoft.com/graph/api/place-list).
// - Application permission Place.Read.All; the token's roles decide.
// - "To get rooms in a room list, you must specify the room list by its emailAddress property, not by its id."
// - "By default, this operation returns 100 places per page"; $top sets the page size, $skip and $count=true work,
//   $select keeps properties. $filter is documented but not modelled by the sandbox (400).
// - Properties: those the v1.0 CSDL declares for room and roomList (https://learn.microsoft.com/graph/api/resources/room,
//   …/resources/roomlist); the CSDL's spelling wins over the docs' examples (isWheelChairAccessible, capacity as Int32).
import { objectIdFor } from '../tenant.ts';
import type { MailboxSeed, RoomListSeed } from '../types.ts';
import { badRequest, GraphHttpError, type GraphResult } from './errors.ts';
import { decodeSkipToken, encodeSkipToken } from './odata.ts';
import type { GraphOperation, GraphService, RootHandler } from './service.ts';

const PAGE_SIZE = 100;
const ROLES = ['Place.Read.All', 'Place.ReadWrite.All'];

export function placesRoot(service: GraphService, roomLists: RoomListSeed[]): RootHandler {
  return (op, segments) => {
    if (op.method !== 'GET') throw new GraphHttpError(405, 'BadRequest', 'Specified HTTP method is not allowed for the request target.', { allow: 'GET' });
    // "Access is denied. Check credentials and try again." as for calendars without their permission (graph/service.ts).
    if (!op.app.roles.some((r) => ROLES.includes(r))) throw new GraphHttpError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    const lower = segments.map((s) => s.toLowerCase());
    const base = `${service.baseUrl()}/v1.0`;
    if (lower.length === 1 && lower[0] === 'microsoft.graph.room') {
      return page(service, op, rooms(service, roomLists.flatMap((l) => l.members)), `${base}/$metadata#places/microsoft.graph.room`, `${base}/places/microsoft.graph.room`);
    }
    if (lower.length === 1 && lower[0] === 'microsoft.graph.roomlist') {
      return page(service, op, roomLists.map(renderRoomList), `${base}/$metadata#places/microsoft.graph.roomList`, `${base}/places/microsoft.graph.roomlist`);
    }
    if (lower.length === 3 && lower[1] === 'microsoft.graph.roomlist' && lower[2] === 'rooms') {
      const list = roomLists.find((l) => l.address.toLowerCase() === lower[0]);
      // [VERIFY] Graph's answer for a room list that does not exist (or is named by its id).
      if (!list) throw new GraphHttpError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
      return page(service, op, rooms(service, list.members), `${base}/$metadata#places('${encodeURIComponent(list.address)}')/microsoft.graph.roomList/rooms`, `${base}/places/${encodeURIComponent(list.address)}/microsoft.graph.roomlist/rooms`);
    }
    // ODataLib's answer for a path it cannot resolve (graph/service.ts): e.g. /places/{list}/rooms without the cast.
    throw badRequest(`Resource not found for the segment '${segments[segments.length - 1] ?? 'places'}'.`);
  };
}

/** Rooms in the tenant, each once, in the lists' order (a room may be in several lists). */
function rooms(service: GraphService, members: string[]): Array<Record<string, unknown>> {
  const seen = new Set<string>();
  const out: Array<Record<string, unknown>> = [];
  for (const address of members) {
    const mailbox = service.mailbox(address);
    if (!mailbox || seen.has(mailbox.address) || mailbox.state === 'noMailbox') continue;
    seen.add(mailbox.address);
    out.push(renderRoom(mailbox));
  }
  return out;
}

export function renderRoom(mailbox: MailboxSeed): Record<string, unknown> {
  const room = mailbox.room ?? {};
  return {
    id: objectIdFor(mailbox.address),
    placeId: null,
    parentId: null,
    displayName: mailbox.displayName,
    address: {},
    geoCoordinates: null,
    phone: null,
    label: room.label ?? null,
    tags: room.tags ?? [],
    isWheelChairAccessible: room.isWheelChairAccessible ?? false,
    emailAddress: mailbox.address,
    nickname: mailbox.displayName,
    building: room.building ?? null,
    floorNumber: room.floorNumber ?? null,
    floorLabel: room.floorLabel ?? null,
    capacity: room.capacity ?? null,
    bookingType: 'standard',
    audioDeviceName: room.audioDeviceName ?? null,
    videoDeviceName: room.videoDeviceName ?? null,
    displayDeviceName: room.displayDeviceName ?? null,
    teamsEnabledState: 'unknown',
  };
}

function renderRoomList(list: RoomListSeed): Record<string, unknown> {
  return { id: objectIdFor(list.address), placeId: null, parentId: null, displayName: list.displayName, address: {}, geoCoordinates: null, phone: null, label: null, tags: [], isWheelChairAccessible: false, emailAddress: list.address };
}

function page(service: GraphService, op: GraphOperation, all: Array<Record<string, unknown>>, context: string, link: string): GraphResult {
  let top = PAGE_SIZE;
  let skip = 0;
  let count = false;
  let select: string[] | undefined;
  for (const [rawName, value] of op.query) {
    const name = rawName.toLowerCase();
    if (name === '$top' && /^\d+$/.test(value)) top = Number(value);
    else if (name === '$skip' && /^\d+$/.test(value)) skip = Number(value);
    else if (name === '$skiptoken' && decodeSkipToken(value) !== undefined) skip = decodeSkipToken(value)!;
    else if (name === '$count' && (value === 'true' || value === 'false')) count = value === 'true';
    else if (name === '$select') select = value.split(',').map((s) => s.trim());
    else if (name === '$filter') throw badRequest('The sandbox does not model $filter on places.', 'ErrorInvalidUrlQuery');
    else if (name.startsWith('$')) throw badRequest(`Invalid value '${value}' for ${rawName} query option, or the query parameter '${rawName}' is not supported.`);
  }
  const items = all.slice(skip, skip + top).map((place) => (select ? Object.fromEntries(Object.entries(place).filter(([k]) => k === 'id' || select!.includes(k))) : place));
  const body: Record<string, unknown> = { '@odata.context': context };
  if (count) body['@odata.count'] = all.length;
  if (skip + top < all.length && top > 0) {
    const params = [...op.query].filter(([k]) => !['$skip', '$skiptoken'].includes(k.toLowerCase())).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    params.push(`$skiptoken=${encodeSkipToken(skip + top)}`);
    body['@odata.nextLink'] = `${link}?${params.join('&')}`;
  }
  body['value'] = items;
  return service.ok(200, body);
}
