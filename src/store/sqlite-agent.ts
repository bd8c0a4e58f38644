// The SQLite side of the agent store (store/agent.ts): SqliteStore hands these functions its statements and
// transactions.
import type { StatementSync } from 'node:sqlite';
import type { Lease } from './store.ts';
import { AGENT_MEETING_COLUMNS, lowestFree, toAgentMeeting, type AgentMeetingRow, type AgentMeetingWrite } from './agent.ts';

/** Appended to the store's migrations (sqlite.ts). */
export const AGENT_MIGRATION = `
  -- The resource agent (issue #15): where reading each mailbox's changes stands, what it answered, the VMR aliases.
  CREATE TABLE agent_sync (
    mailbox     TEXT PRIMARY KEY,
    cursor      TEXT,
    updated_at  TEXT NOT NULL
  );
  CREATE TABLE agent_meeting (
    mailbox       TEXT NOT NULL,
    uid           TEXT NOT NULL,
    answer        TEXT NOT NULL CHECK (answer IN ('accepted', 'tentative', 'declined', 'cancelled')),
    reason        TEXT NOT NULL,
    rule          TEXT,
    subject       TEXT NOT NULL,
    organizer     TEXT NOT NULL,
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL,
    alias         TEXT,
    instructions  TEXT NOT NULL CHECK (instructions IN ('none', 'comment', 'body', 'edited')),
    answered_at   TEXT NOT NULL,
    PRIMARY KEY (mailbox, uid)
  ) WITHOUT ROWID;
  CREATE TABLE agent_alias (
    mailbox  TEXT NOT NULL,
    number   INTEGER NOT NULL,
    uid      TEXT NOT NULL,
    PRIMARY KEY (mailbox, number),
    UNIQUE (mailbox, uid)
  ) WITHOUT ROWID;
`;

/**
 * Appended after AGENT_MIGRATION: until when each alias number is held (ms since the epoch; NULL: until released,
 * as every number held before this column was), so that the numbers of meetings that have ended are handed out again.
 */
export const AGENT_ALIAS_HELD_UNTIL_MIGRATION = `
  ALTER TABLE agent_alias ADD COLUMN held_until_ms INTEGER;
`;

/**
 * Appended after AGENT_ALIAS_HELD_UNTIL_MIGRATION: whether a recorded decision was carried out (answer sent,
 * instructions placed). Recorded before the answer is sent, so that a crash in between is completed by the next pass;
 * every row before this column was recorded after its answer, so settled.
 */
export const AGENT_MEETING_SETTLED_MIGRATION = `
  ALTER TABLE agent_meeting ADD COLUMN settled INTEGER NOT NULL DEFAULT 1 CHECK (settled IN (0, 1));
`;

type Row = Record<string, unknown>;

export interface SqliteAgentParts {
  statement: (sql: string) => StatementSync;
  /** A transaction that first checks `fence` is still the mailbox's lease (LeaseLost otherwise). */
  fenced: <T>(fence: Lease | undefined, work: () => T) => T;
  now: () => string;
}

export function agentCursor(parts: SqliteAgentParts, mailbox: string): string | null {
  const row = parts.statement('SELECT cursor FROM agent_sync WHERE mailbox = ?').get(mailbox) as Row | undefined;
  return row && row['cursor'] !== null ? String(row['cursor']) : null;
}

export function saveAgentCursor(parts: SqliteAgentParts, mailbox: string, cursor: string | null, fence?: Lease): void {
  parts.fenced(fence, () => parts.statement('INSERT INTO agent_sync (mailbox, cursor, updated_at) VALUES (?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET cursor = excluded.cursor, updated_at = excluded.updated_at').run(mailbox, cursor, parts.now()));
}

export function agentMeeting(parts: SqliteAgentParts, mailbox: string, uid: string): AgentMeetingRow | null {
  const row = parts.statement(`SELECT ${AGENT_MEETING_COLUMNS} FROM agent_meeting WHERE mailbox = ? AND uid = ?`).get(mailbox, uid) as Row | undefined;
  return row ? toAgentMeeting(row) : null;
}

export function agentMeetings(parts: SqliteAgentParts, mailbox: string): AgentMeetingRow[] {
  return (parts.statement(`SELECT ${AGENT_MEETING_COLUMNS} FROM agent_meeting WHERE mailbox = ? ORDER BY start_ms, uid`).all(mailbox) as Row[]).map(toAgentMeeting);
}

export function saveAgentMeeting(parts: SqliteAgentParts, row: AgentMeetingWrite, fence?: Lease): void {
  parts.fenced(fence, () => parts
    .statement(
      `INSERT INTO agent_meeting (${AGENT_MEETING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (mailbox, uid) DO UPDATE SET answer = excluded.answer, reason = excluded.reason, rule = excluded.rule, subject = excluded.subject,
         organizer = excluded.organizer, start_ms = excluded.start_ms, end_ms = excluded.end_ms, alias = excluded.alias,
         instructions = excluded.instructions, answered_at = excluded.answered_at, settled = excluded.settled`,
    )
    .run(row.mailbox, row.uid, row.answer, row.reason, row.rule, row.subject, row.organizer, row.startMs, row.endMs, row.alias, row.instructions, parts.now(), row.settled === false ? 0 : 1));
}

export function forgetAgentMeeting(parts: SqliteAgentParts, mailbox: string, uid: string, fence?: Lease): void {
  parts.fenced(fence, () => parts.statement('DELETE FROM agent_meeting WHERE mailbox = ? AND uid = ?').run(mailbox, uid));
}

export function unsettledAgentMeetings(parts: SqliteAgentParts, mailbox: string): AgentMeetingRow[] {
  return (parts.statement(`SELECT ${AGENT_MEETING_COLUMNS} FROM agent_meeting WHERE mailbox = ? AND settled = 0 ORDER BY start_ms, uid`).all(mailbox) as Row[]).map(toAgentMeeting);
}

export function allocateAlias(parts: SqliteAgentParts, mailbox: string, uid: string, range: { from: number; to: number }, heldUntilMs: number | null, fence?: Lease): number | null {
  return parts.fenced(fence, () => {
    const held = parts.statement('SELECT number FROM agent_alias WHERE mailbox = ? AND uid = ?').get(mailbox, uid) as Row | undefined;
    if (held) {
      parts.statement('UPDATE agent_alias SET held_until_ms = ? WHERE mailbox = ? AND uid = ?').run(heldUntilMs, mailbox, uid);
      return Number(held['number']);
    }
    // A number whose meeting has ended is free (the store's clock): its row gives way to the new holder.
    const nowMs = Date.parse(parts.now());
    const taken = (
      parts.statement('SELECT number FROM agent_alias WHERE mailbox = ? AND number BETWEEN ? AND ? AND (held_until_ms IS NULL OR held_until_ms >= ?)').all(mailbox, range.from, range.to, nowMs) as Row[]
    ).map((r) => Number(r['number']));
    const free = lowestFree(range, taken);
    if (free === null) return null;
    parts.statement('DELETE FROM agent_alias WHERE mailbox = ? AND number = ?').run(mailbox, free);
    parts.statement('INSERT INTO agent_alias (mailbox, number, uid, held_until_ms) VALUES (?, ?, ?, ?)').run(mailbox, free, uid, heldUntilMs);
    return free;
  });
}

export function releaseAlias(parts: SqliteAgentParts, mailbox: string, uid: string, fence?: Lease): void {
  parts.fenced(fence, () => parts.statement('DELETE FROM agent_alias WHERE mailbox = ? AND uid = ?').run(mailbox, uid));
}
