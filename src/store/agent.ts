// What the resource agent remembers per mailbox (src/agent/): where its reading of the mailbox's changes stands (a
// Graph deltaLink, an EWS SyncState), what it answered to each meeting and why, and the VMR aliases it gave out. A
// restart reads on from the cursor and finds each answer recorded, so nothing is answered twice; an alias stays the
// meeting's until the meeting is cancelled. Both stores implement it (sqlite-agent.ts, postgres-agent.ts), held to
// one contract (test/store/contract.ts).
/** A mailbox's lease as store.ts's Lease (written out here: store.ts imports this file). */
interface Lease {
  calendar: string;
  owner: string;
  token: number;
}

export type AgentAnswer = 'accepted' | 'tentative' | 'declined' | 'cancelled';

/** Where the joining instructions went: nowhere, the response's comment (limited mode), the organiser's body (full mode), or nowhere because the block there was edited by someone. */
export type InstructionsPlace = 'none' | 'comment' | 'body' | 'edited';

export interface AgentMeetingRow {
  mailbox: string;
  /** The meeting's iCalUId (Graph) / UID (EWS). */
  uid: string;
  answer: AgentAnswer;
  reason: string;
  /** The policy rule that decided a refusal (null for an accept). */
  rule: string | null;
  subject: string;
  organizer: string;
  startMs: number;
  endMs: number;
  alias: string | null;
  instructions: InstructionsPlace;
  /** When it was recorded (the store's clock). */
  answeredAt: string;
  /**
   * False while the decision is recorded but not yet carried out: it is recorded *before* the answer is sent, and
   * settled once the answer is sent and the instructions are where they belong. A pass that finds one unsettled (the
   * process died in between) completes it (agent/run.ts), so a crash never loses full mode's instructions.
   */
  settled: boolean;
}

/** What is written: `settled` defaults to true (an answer carried out). */
export type AgentMeetingWrite = Omit<AgentMeetingRow, 'answeredAt' | 'settled'> & { settled?: boolean };

/**
 * The writes take the agent's lease on the mailbox as `fence` (engine/lease.ts), as delivery's writes do: a worker
 * that lost the lease (paused past its expiry, another worker took over) has its write refused with LeaseLost and
 * nothing recorded — it cannot move the cursor or an answer back under the worker that holds the mailbox now.
 */
export interface AgentStore {
  /** Where reading the mailbox's changes stands; null: from the start. */
  agentCursor(mailbox: string): Promise<string | null>;
  saveAgentCursor(mailbox: string, cursor: string | null, fence?: Lease): Promise<void>;
  agentMeeting(mailbox: string, uid: string): Promise<AgentMeetingRow | null>;
  /** The mailbox's meetings, soonest first. */
  agentMeetings(mailbox: string): Promise<AgentMeetingRow[]>;
  saveAgentMeeting(row: AgentMeetingWrite, fence?: Lease): Promise<void>;
  /** The record of a meeting is gone (a decision recorded whose answer the service refused, with nothing before it). */
  forgetAgentMeeting(mailbox: string, uid: string, fence?: Lease): Promise<void>;
  /** The mailbox's decisions recorded but not carried out to the end (settled false), soonest first. */
  unsettledAgentMeetings(mailbox: string): Promise<AgentMeetingRow[]>;
  /**
   * The meeting's alias number in `from`…`to`: the one it holds, else the lowest no other meeting of the mailbox
   * holds (in one transaction). Null when every number is taken. The number is held until `heldUntilMs` (the
   * meeting's end, a series' last end; null or absent: until released): a number whose holder ended before now
   * (the store's clock) is free again, so a range is not used up by meetings long over. Asked again, the
   * meeting's own number stays, its end updated (a meeting moved).
   */
  allocateAlias(mailbox: string, uid: string, range: { from: number; to: number }, heldUntilMs?: number | null, fence?: Lease): Promise<number | null>;
  /** The meeting's alias is free again (it was cancelled or declined). */
  releaseAlias(mailbox: string, uid: string, fence?: Lease): Promise<void>;
}

type Row = Record<string, unknown>;

export const AGENT_MEETING_COLUMNS = 'mailbox, uid, answer, reason, rule, subject, organizer, start_ms, end_ms, alias, instructions, answered_at, settled';

export function toAgentMeeting(row: Row): AgentMeetingRow {
  return {
    mailbox: String(row['mailbox']),
    uid: String(row['uid']),
    answer: String(row['answer']) as AgentAnswer,
    reason: String(row['reason']),
    rule: row['rule'] === null || row['rule'] === undefined ? null : String(row['rule']),
    subject: String(row['subject']),
    organizer: String(row['organizer']),
    startMs: Number(row['start_ms']),
    endMs: Number(row['end_ms']),
    alias: row['alias'] === null || row['alias'] === undefined ? null : String(row['alias']),
    instructions: String(row['instructions']) as InstructionsPlace,
    answeredAt: String(row['answered_at']),
    settled: Number(row['settled']) === 1,
  };
}

/** The lowest number of `range` not in `taken`, or null. */
export function lowestFree(range: { from: number; to: number }, taken: Iterable<number>): number | null {
  const used = new Set(taken);
  for (let n = range.from; n <= range.to; n++) if (!used.has(n)) return n;
  return null;
}
