// The PostgreSQL side of the agent store (store/agent.ts): the tables of sqlite-agent.ts's AGENT_MIGRATION.
import { AGENT_MEETING_COLUMNS, lowestFree, toAgentMeeting, type AgentMeetingRow, type AgentMeetingWrite } from './agent.ts';
import type { Lease } from './store.ts';

type Row = Record<string, unknown>;
type Queries = { query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }> };

export interface PostgresAgentParts {
  query(sql: string, params?: unknown[]): Promise<Row[]>;
  /** A transaction that first checks `fence` is still the mailbox's lease (LeaseLost otherwise). */
  fenced<T>(fence: Lease | undefined, work: (client: Queries) => Promise<T>): Promise<T>;
  now: () => string;
}

/** Appended to the PostgreSQL store's migrations (postgres.ts). */
export const POSTGRES_AGENT_MIGRATION = `
  CREATE TABLE agent_sync (
    mailbox     text COLLATE "C" PRIMARY KEY,
    cursor      text,
    updated_at  text COLLATE "C" NOT NULL
  );
  CREATE TABLE agent_meeting (
    mailbox       text COLLATE "C" NOT NULL,
    uid           text COLLATE "C" NOT NULL,
    answer        text COLLATE "C" NOT NULL CHECK (answer IN ('accepted', 'tentative', 'declined', 'cancelled')),
    reason        text NOT NULL,
    rule          text COLLATE "C",
    subject       text NOT NULL,
    organizer     text COLLATE "C" NOT NULL,
    start_ms      bigint NOT NULL,
    end_ms        bigint NOT NULL,
    alias         text,
    instructions  text COLLATE "C" NOT NULL CHECK (instructions IN ('none', 'comment', 'body', 'edited')),
    answered_at   text COLLATE "C" NOT NULL,
    PRIMARY KEY (mailbox, uid)
  );
  CREATE TABLE agent_alias (
    mailbox  text COLLATE "C" NOT NULL,
    number   integer NOT NULL,
    uid      text COLLATE "C" NOT NULL,
    PRIMARY KEY (mailbox, number),
    UNIQUE (mailbox, uid)
  );
`;

export async function agentCursor(parts: PostgresAgentParts, mailbox: string): Promise<string | null> {
  const [row] = await parts.query('SELECT cursor FROM agent_sync WHERE mailbox = $1', [mailbox]);
  return row && row['cursor'] !== null ? String(row['cursor']) : null;
}

export async function saveAgentCursor(parts: PostgresAgentParts, mailbox: string, cursor: string | null, fence?: Lease): Promise<void> {
  await parts.fenced(fence, (client) => client.query('INSERT INTO agent_sync (mailbox, cursor, updated_at) VALUES ($1, $2, $3) ON CONFLICT (mailbox) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at', [mailbox, cursor, parts.now()]));
}

export async function agentMeeting(parts: PostgresAgentParts, mailbox: string, uid: string): Promise<AgentMeetingRow | null> {
  const [row] = await parts.query(`SELECT ${AGENT_MEETING_COLUMNS} FROM agent_meeting WHERE mailbox = $1 AND uid = $2`, [mailbox, uid]);
  return row ? toAgentMeeting(row) : null;
}

export async function agentMeetings(parts: PostgresAgentParts, mailbox: string): Promise<AgentMeetingRow[]> {
  return (await parts.query(`SELECT ${AGENT_MEETING_COLUMNS} FROM agent_meeting WHERE mailbox = $1 ORDER BY start_ms, uid`, [mailbox])).map(toAgentMeeting);
}

export async function saveAgentMeeting(parts: PostgresAgentParts, row: AgentMeetingWrite, fence?: Lease): Promise<void> {
  await parts.fenced(fence, (client) => client.query(
    `INSERT INTO agent_meeting (${AGENT_MEETING_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
     ON CONFLICT (mailbox, uid) DO UPDATE SET answer = excluded.answer, reason = excluded.reason, rule = excluded.rule, subject = excluded.subject,
       organizer = excluded.organizer, start_ms = excluded.start_ms, end_ms = excluded.end_ms, alias = excluded.alias,
       instructions = excluded.instructions, answered_at = excluded.answered_at, settled = excluded.settled`,
    [row.mailbox, row.uid, row.answer, row.reason, row.rule, row.subject, row.organizer, row.startMs, row.endMs, row.alias, row.instructions, parts.now(), row.settled === false ? 0 : 1],
  ));
}

export async function forgetAgentMeeting(parts: PostgresAgentParts, mailbox: string, uid: string, fence?: Lease): Promise<void> {
  await parts.fenced(fence, (client) => client.query('DELETE FROM agent_meeting WHERE mailbox = $1 AND uid = $2', [mailbox, uid]));
}

export async function unsettledAgentMeetings(parts: PostgresAgentParts, mailbox: string): Promise<AgentMeetingRow[]> {
  return (await parts.query(`SELECT ${AGENT_MEETING_COLUMNS} FROM agent_meeting WHERE mailbox = $1 AND settled = 0 ORDER BY start_ms, uid`, [mailbox])).map(toAgentMeeting);
}

/**
 * The lowest free number, taken in a transaction that locks the mailbox's aliases first (a transaction-scoped
 * advisory lock on the mailbox): two workers allocating for one mailbox take turns, and never hand out one number twice.
 */
/** Appended after POSTGRES_AGENT_MIGRATION: as sqlite-agent.ts's AGENT_ALIAS_HELD_UNTIL_MIGRATION. */
export const POSTGRES_AGENT_ALIAS_HELD_UNTIL_MIGRATION = `
  ALTER TABLE agent_alias ADD COLUMN held_until_ms bigint;
`;

/** Appended after POSTGRES_AGENT_ALIAS_HELD_UNTIL_MIGRATION: as sqlite-agent.ts's AGENT_MEETING_SETTLED_MIGRATION (0/1 as there, so `store copy` copies it as it is). */
export const POSTGRES_AGENT_MEETING_SETTLED_MIGRATION = `
  ALTER TABLE agent_meeting ADD COLUMN settled integer NOT NULL DEFAULT 1 CHECK (settled IN (0, 1));
`;

export async function allocateAlias(parts: PostgresAgentParts, mailbox: string, uid: string, range: { from: number; to: number }, heldUntilMs: number | null, fence?: Lease): Promise<number | null> {
  return parts.fenced(fence, async (client) => {
    await client.query("SELECT pg_advisory_xact_lock(hashtext('calpush.agent_alias:' || $1))", [mailbox]);
    const [held] = (await client.query('UPDATE agent_alias SET held_until_ms = $3 WHERE mailbox = $1 AND uid = $2 RETURNING number', [mailbox, uid, heldUntilMs])).rows as Row[];
    if (held) return Number(held['number']);
    // A number whose meeting has ended is free (the store's clock, as SQLite's): its row gives way to the new holder.
    const nowMs = Date.parse(parts.now());
    const taken = (
      (await client.query('SELECT number FROM agent_alias WHERE mailbox = $1 AND number BETWEEN $2 AND $3 AND (held_until_ms IS NULL OR held_until_ms >= $4)', [mailbox, range.from, range.to, nowMs])).rows as Row[]
    ).map((r) => Number(r['number']));
    const free = lowestFree(range, taken);
    if (free === null) return null;
    await client.query('DELETE FROM agent_alias WHERE mailbox = $1 AND number = $2', [mailbox, free]);
    await client.query('INSERT INTO agent_alias (mailbox, number, uid, held_until_ms) VALUES ($1, $2, $3, $4)', [mailbox, free, uid, heldUntilMs]);
    return free;
  });
}

export async function releaseAlias(parts: PostgresAgentParts, mailbox: string, uid: string, fence?: Lease): Promise<void> {
  await parts.fenced(fence, (client) => client.query('DELETE FROM agent_alias WHERE mailbox = $1 AND uid = $2', [mailbox, uid]));
}
