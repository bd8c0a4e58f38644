// What a service says about mail-enabled groups (distribution groups), by the group's address: who is in it. The
// resource agent allows organisers by group (agent config `organizers.groups`). Graph (graph/groups.ts) and EWS
// (ews/groups.ts) implement it; each call is one request, so the scheduler counts, gates and retries each
// (engine/scheduler.ts), as for room lists (rooms.ts).
import type { ServiceLane } from './target.ts';

export interface GroupPage {
  /** Members' addresses (lower case) this request found. */
  members: string[];
  /** Nested groups to expand in turn (EWS ExpandDL names them; Graph's transitiveMembers has expanded them already). */
  groups: string[];
  /** Where the next request reads (Graph: the lookup's members URL, then @odata.nextLink); null: the group is done. */
  next: string | null;
}

export interface GroupDirectory {
  readonly kind: 'graph' | 'ews';
  /** One request about `group`; a group the service does not know is GROUP_NOT_FOUND. */
  members(group: string, next: string | null): Promise<GroupPage>;
  /** The lane between everything and the directory (EWS: the service account), as CalendarTarget.laneFor. */
  laneFor?(group: string): ServiceLane | null;
}

/** The service knows no group by that address (a typo, or an address that is not a mail-enabled group). */
export const GROUP_NOT_FOUND = 'GroupNotFound';
