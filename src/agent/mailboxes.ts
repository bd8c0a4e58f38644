// The agent's mailboxes: those the config names, and the rooms of the room lists it names, each with its policy. A
// room named in `mailboxes` keeps its own policy; a room in two lists takes the first list's (in the config's order).
// A list that cannot be read is reported by its address; the other mailboxes are answered all the same.
import type { RoomListResolver } from '../engine/room-lists.ts';
import { TargetError } from '../targets/target.ts';
import { policyOf, type AgentConfig } from './config.ts';
import type { AgentMailbox } from './run.ts';

export interface RoomListProblem {
  roomList: string;
  error: { code: string; message: string; remedy?: string };
}

export interface AgentMailboxes {
  mailboxes: AgentMailbox[];
  /** Which room list each room came from (for the summary). */
  fromList: Map<string, string>;
  problems: RoomListProblem[];
}

export async function agentMailboxes(config: Pick<AgentConfig, 'mailboxes' | 'roomLists'>, resolver: RoomListResolver | null): Promise<AgentMailboxes> {
  const named = Object.entries(config.mailboxes).map(([address, mailbox]) => ({ address: address.toLowerCase(), config: mailbox, policy: policyOf(mailbox) }));
  const taken = new Set(named.map((m) => m.address));
  const fromList = new Map<string, string>();
  const problems: RoomListProblem[] = [];
  const listed: AgentMailbox[] = [];
  for (const [list, mailbox] of Object.entries(config.roomLists)) {
    try {
      if (!resolver) throw new TargetError('item', 'RoomListsUnsupported', `room list ${list}: the agent's target cannot read room lists`);
      for (const room of await resolver.rooms(list)) {
        if (taken.has(room.address)) continue;
        taken.add(room.address);
        fromList.set(room.address, list.toLowerCase());
        listed.push({ address: room.address, config: mailbox, policy: policyOf(mailbox) });
      }
    } catch (error) {
      if (!(error instanceof TargetError)) throw error;
      problems.push({ roomList: list.toLowerCase(), error: { code: error.code, message: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) } });
    }
  }
  return { mailboxes: [...named, ...listed], fromList, problems };
}
