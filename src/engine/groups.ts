// Allowed organisers by group: the members of the groups an agent mailbox's policy names, read through the
// scheduler (every request counted under the group's address, in the directory's lane), nested groups expanded
// breadth-first with a depth and a size bound, and kept in memory for `refreshMs` as room lists are
// (engine/room-lists.ts): a pass over 300 rooms with one policy asks for the group once.
import { systemClock, type Clock } from '../model/clock.ts';
import type { GroupDirectory } from '../targets/groups.ts';
import { TargetError } from '../targets/target.ts';
import type { Scheduler } from './scheduler.ts';

/** How deep nested groups are followed (EWS): a group in a group in a group … and no further. */
export const MAX_GROUP_DEPTH = 10;
/** Members kept per configured group (nested ones included): bounds memory against a runaway directory. */
export const MAX_GROUP_MEMBERS = 100_000;
/** Requests for one configured group (pages and nested groups): a service that keeps answering cannot hold the pass. */
const MAX_REQUESTS = 2_000;

export interface GroupResolverOptions {
  directory: GroupDirectory;
  scheduler: Pick<Scheduler, 'submit'>;
  /** How long what a group holds is kept (default: for the resolver's life). */
  refreshMs?: number;
  clock?: Clock;
}

export class GroupResolver {
  private readonly options: GroupResolverOptions;
  private readonly clock: Clock;
  private readonly cache = new Map<string, { members: ReadonlySet<string>; readAt: number }>();

  constructor(options: GroupResolverOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  /** The members of `group` (lower case, nested groups expanded); a failure is a TargetError whose message names the group. */
  async members(group: string): Promise<ReadonlySet<string>> {
    const key = group.toLowerCase();
    const cached = this.cache.get(key);
    if (cached && this.clock.now() - cached.readAt < (this.options.refreshMs ?? Infinity)) return cached.members;
    const members = await this.read(key);
    this.cache.set(key, { members, readAt: this.clock.now() });
    return members;
  }

  private async read(root: string): Promise<ReadonlySet<string>> {
    const found = new Set<string>();
    const seen = new Set<string>([root]);
    let level = [root];
    let requests = 0;
    for (let depth = 0; level.length > 0; depth++) {
      if (depth > MAX_GROUP_DEPTH) throw new TargetError('item', 'GroupTooDeep', `group ${root} nests groups more than ${MAX_GROUP_DEPTH} deep`, { remedy: 'name the inner groups in organizers.groups instead' });
      const nextLevel: string[] = [];
      for (const group of level) {
        let next: string | null = null;
        do {
          if (++requests > MAX_REQUESTS) throw new TargetError('item', 'GroupTooLarge', `group ${root} needed more than ${MAX_REQUESTS} requests to read`);
          const page = await this.page(root, group, next);
          for (const member of page.members) found.add(member);
          if (found.size > MAX_GROUP_MEMBERS) throw new TargetError('item', 'GroupTooLarge', `group ${root} holds more than ${MAX_GROUP_MEMBERS} members`, { remedy: 'name smaller groups, or the domain, in organizers' });
          for (const inner of page.groups) if (!seen.has(inner)) (seen.add(inner), nextLevel.push(inner));
          next = page.next;
        } while (next !== null);
      }
      level = nextLevel;
    }
    return found;
  }

  private page(root: string, group: string, next: string | null) {
    const { directory, scheduler } = this.options;
    return scheduler.submit(group, () => directory.members(group, next), { lane: directory.laneFor?.(group) ?? null }).catch((error: unknown) => {
      throw named(error, root);
    });
  }
}

/** The failure with the configured group in its message (the target names the request, not always the group). */
function named(error: unknown, group: string): unknown {
  if (!(error instanceof TargetError) || error.message.includes(group)) return error;
  return new TargetError(error.scope, error.code, `group ${group}: ${error.message}`, {
    ...(error.status !== undefined ? { status: error.status } : {}),
    ...(error.remedy ? { remedy: error.remedy } : {}),
    cause: error,
  });
}
