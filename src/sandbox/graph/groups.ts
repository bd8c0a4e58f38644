// Mail-enabled groups and their members, as the resource agent reads them (targets/graph/groups.ts):
// - GET /groups?$filter=mail eq '…'&$select=id (https://learn.microsoft.com/graph/api/group-list): `mail` supports
//   $filter with eq (https://learn.microsoft.com/graph/aad-advanced-queries); no match is an empty `value`, not 404.
// - GET /groups/{id}/transitiveMembers/microsoft.graph.user?$select=… (https://learn.microsoft.com/graph/api/group-list-transitivemembers):
//   users of the group and of groups nested in it, each once; the cast keeps users only. A group id that does not
//   exist is 404 Request_ResourceNotFound. Directory pages hold 100 objects by default ($top up to 999), the next
//   through @odata.nextLink.
// - Application permission: GroupMember.Read.All, Group.Read.All or Directory.Read.All; without one, 403
//   Authorization_RequestDenied "Insufficient privileges to complete the operation." (Microsoft Entra's answer).
// Properties are those the v1.0 CSDL declares for group and user (id, mail, userPrincipalName, displayName).
import { objectIdFor } from '../tenant.ts';
import type { GroupSeed } from '../types.ts';
import { badRequest, GraphHttpError, type GraphResult } from './errors.ts';
import { decodeSkipToken, encodeSkipToken } from './odata.ts';
import type { GraphOperation, GraphService, RootHandler } from './service.ts';

const PAGE_SIZE = 100;
const ROLES = ['GroupMember.Read.All', 'Group.Read.All', 'Directory.Read.All'];
/** Nested groups followed at most this deep (the seed could name a cycle). */
const MAX_DEPTH = 32;

export function groupsRoot(service: GraphService, groups: GroupSeed[]): RootHandler {
  return (op, segments) => {
    if (op.method !== 'GET') throw new GraphHttpError(405, 'BadRequest', 'Specified HTTP method is not allowed for the request target.', { allow: 'GET' });
    if (!op.app.roles.some((r) => ROLES.includes(r))) throw new GraphHttpError(403, 'Authorization_RequestDenied', 'Insufficient privileges to complete the operation.');
    const base = `${service.baseUrl()}/v1.0`;
    const lower = segments.map((s) => s.toLowerCase());
    if (lower.length === 0) return byMail(service, op, groups, base);
    if (lower.length === 3 && lower[1] === 'transitivemembers' && lower[2] === 'microsoft.graph.user') {
      const group = groups.find((g) => objectIdFor(g.address) === segments[0]);
      if (!group) throw new GraphHttpError(404, 'Request_ResourceNotFound', `Resource '${segments[0]}' does not exist or one of its queried reference-property objects are not present.`);
      const users = transitiveUsers(group, groups).map((address) => ({ id: objectIdFor(address), displayName: service.mailbox(address)?.displayName ?? address, mail: address, userPrincipalName: address }));
      return page(service, op, users, `${base}/$metadata#users`, `${base}/groups/${segments[0]}/transitiveMembers/microsoft.graph.user`);
    }
    throw badRequest(`Resource not found for the segment '${segments[segments.length - 1] ?? 'groups'}'.`);
  };
}

/** The only $filter the sandbox models on /groups: `mail eq '…'` (a quote in the literal doubled, as OData has it). */
function byMail(service: GraphService, op: GraphOperation, groups: GroupSeed[], base: string): GraphResult {
  const filter = [...op.query].find(([k]) => k.toLowerCase() === '$filter')?.[1];
  const match = filter?.match(/^mail eq '((?:[^']|'')*)'$/i);
  if (!match) throw badRequest('The sandbox models only $filter=mail eq \'…\' on groups.', 'Request_UnsupportedQuery');
  const mail = match[1]!.replaceAll("''", "'").toLowerCase();
  const all = groups.filter((g) => g.address.toLowerCase() === mail).map((g) => ({ id: objectIdFor(g.address), displayName: g.displayName, mail: g.address }));
  return page(service, op, all, `${base}/$metadata#groups`, `${base}/groups`);
}

function transitiveUsers(root: GroupSeed, groups: GroupSeed[]): string[] {
  const users = new Set<string>();
  const seen = new Set<string>();
  const visit = (group: GroupSeed, depth: number) => {
    if (seen.has(group.address) || depth > MAX_DEPTH) return;
    seen.add(group.address);
    for (const member of group.members) {
      const inner = groups.find((g) => g.address.toLowerCase() === member.toLowerCase());
      if (inner) visit(inner, depth + 1);
      else users.add(member.toLowerCase());
    }
  };
  visit(root, 0);
  return [...users];
}

function page(service: GraphService, op: GraphOperation, all: Array<Record<string, unknown>>, context: string, link: string): GraphResult {
  let top = PAGE_SIZE;
  let skip = 0;
  let select: string[] | undefined;
  for (const [rawName, value] of op.query) {
    const name = rawName.toLowerCase();
    if (name === '$top' && /^\d+$/.test(value) && Number(value) >= 1 && Number(value) <= 999) top = Number(value);
    else if (name === '$skiptoken' && decodeSkipToken(value) !== undefined) skip = decodeSkipToken(value)!;
    else if (name === '$select') select = value.split(',').map((s) => s.trim());
    else if (name === '$filter') continue;
    else if (name.startsWith('$')) throw badRequest(`Invalid value '${value}' for ${rawName} query option, or the query parameter '${rawName}' is not supported.`);
  }
  const items = all.slice(skip, skip + top).map((o) => (select ? Object.fromEntries(Object.entries(o).filter(([k]) => k === 'id' || select!.includes(k))) : o));
  const body: Record<string, unknown> = { '@odata.context': context };
  if (skip + top < all.length) {
    const params = [...op.query].filter(([k]) => k.toLowerCase() !== '$skiptoken').map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`);
    params.push(`$skiptoken=${encodeSkipToken(skip + top)}`);
    body['@odata.nextLink'] = `${link}?${params.join('&')}`;
  }
  body['value'] = items;
  return service.ok(200, body);
}
