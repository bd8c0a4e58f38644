// The members of a mail-enabled group on Microsoft Graph, in two steps, each one request:
// 1. the group by its address: `GET /groups?$filter=mail eq '…'&$select=id` (https://learn.microsoft.com/graph/api/group-list,
//    "mail" supports $filter eq: https://learn.microsoft.com/graph/aad-advanced-queries);
// 2. its users, nested groups included: `GET /groups/{id}/transitiveMembers/microsoft.graph.user?$select=mail,userPrincipalName`
//    (https://learn.microsoft.com/graph/api/group-list-transitivemembers), paged through @odata.nextLink.
// Application permission GroupMember.Read.All (the least privileged the pages name). A member without `mail` is taken
// by its userPrincipalName, which is the address organisers send from in most tenants.
import type { HttpResponse } from '../http.ts';
import { GROUP_NOT_FOUND, type GroupDirectory, type GroupPage } from '../groups.ts';
import { TargetError } from '../target.ts';
import type { GraphPlacesConnection } from './rooms.ts';

const PERMISSION_REMEDY = 'grant the app the Microsoft Graph application permission GroupMember.Read.All (and admin consent)';

export class GraphGroupDirectory implements GroupDirectory {
  readonly kind = 'graph' as const;
  private readonly graph: GraphPlacesConnection;
  constructor(graph: GraphPlacesConnection) {
    this.graph = graph;
  }

  async members(group: string, next: string | null): Promise<GroupPage> {
    if (next === null) return this.lookup(group);
    const page = JSON.parse((await this.get(group, next)).body) as { value?: Array<{ mail?: unknown; userPrincipalName?: unknown }>; '@odata.nextLink'?: string };
    const members = (page.value ?? []).flatMap((user) => {
      const address = typeof user.mail === 'string' && user.mail.includes('@') ? user.mail : typeof user.userPrincipalName === 'string' ? user.userPrincipalName : '';
      return address.includes('@') ? [address.toLowerCase()] : [];
    });
    return { members, groups: [], next: page['@odata.nextLink'] ?? null };
  }

  private async lookup(group: string): Promise<GroupPage> {
    // OData string literals double a single quote (https://learn.microsoft.com/graph/query-parameters#escaping-single-quotes).
    const filter = encodeURIComponent(`mail eq '${group.replaceAll("'", "''")}'`);
    const found = JSON.parse((await this.get(group, `${this.graph.base}/groups?$filter=${filter}&$select=id`)).body) as { value?: Array<{ id?: unknown }> };
    const id = found.value?.[0]?.id;
    if (typeof id !== 'string' || !/^[A-Za-z0-9-]{1,64}$/.test(id)) {
      throw new TargetError('item', GROUP_NOT_FOUND, `Graph knows no group with the address ${group}`, { remedy: 'name a mail-enabled group by its primary SMTP address (Get-DistributionGroup lists them)' });
    }
    return { members: [], groups: [], next: `${this.graph.base}/groups/${id}/transitiveMembers/microsoft.graph.user?$select=mail,userPrincipalName` };
  }

  private async get(group: string, url: string): Promise<HttpResponse> {
    try {
      return await this.graph.get(group, url);
    } catch (error) {
      if (error instanceof TargetError && error.status === 403) {
        throw new TargetError('item', error.code, `Graph refused to read group ${group}: ${error.message}`, { status: 403, remedy: PERMISSION_REMEDY });
      }
      if (error instanceof TargetError && error.status === 404) {
        throw new TargetError('item', GROUP_NOT_FOUND, `Graph knows no group ${group}: ${error.message}`, { status: 404 });
      }
      throw error;
    }
  }
}
