// The inbox of each mailbox: the meeting messages the sandbox's meetings deliver (requests, updates, cancellations,
// responses). Other mail is not modelled. Graph shows them as eventMessage / eventMessageRequest /
// eventMessageResponse (https://learn.microsoft.com/graph/api/resources/eventmessage), EWS as MeetingRequest,
// MeetingCancellation and MeetingResponse items (types.xsd MeetingRequestMessageType and its siblings).
import { createHash, randomBytes } from 'node:crypto';
import type { ChangeLog } from './changes.ts';
import type { MeetingResponse, TimePoint } from './graph/store.ts';

/** Graph's meetingMessageType (the v1.0 CSDL spells the tentative one "meetingTenativelyAccepted"). */
export type MeetingMessageType = 'meetingRequest' | 'meetingCancelled' | 'meetingAccepted' | 'meetingTenativelyAccepted' | 'meetingDeclined';
/** Graph's meetingRequestType: a first request, or an update that needs a new response (full) or does not (informational). */
export type MeetingRequestType = 'newMeetingRequest' | 'fullUpdate' | 'informationalUpdate';

export interface Person {
  name: string;
  address: string;
}

/** The meeting as the message carries it (what the organiser sent at that moment). */
export interface MeetingSnapshot {
  iCalUId: string;
  organizer: Person;
  start: TimePoint;
  end: TimePoint;
  isAllDay: boolean;
  location: string;
  attendees: Array<Record<string, unknown>>;
  responseRequested: boolean;
  allowNewTimeProposals: boolean;
  /** the organiser's showAs: what the attendee's calendar shows once it accepts (IntendedFreeBusyStatus) */
  showAs: string;
  sequence: number;
  isRecurring: boolean;
  /** the series' Graph patternedRecurrence (null: a single meeting); attendees' copies are series too */
  recurrence: unknown;
}

export interface MessageRecord {
  id: string;
  seq: number;
  mailbox: string;
  type: MeetingMessageType;
  changeKey: string;
  createdMs: number;
  modifiedMs: number;
  isRead: boolean;
  subject: string;
  body: { contentType: 'text' | 'html'; content: string };
  from: Person;
  to: Person[];
  cc: Person[];
  meeting: MeetingSnapshot;
  /** requests only */
  requestType?: MeetingRequestType;
  previous?: { start: TimePoint; end: TimePoint; location: string };
  /** responses only: what the attendee answered */
  response?: Exclude<MeetingResponse, 'none' | 'organizer' | 'notResponded'>;
  /** a later update or cancellation of the same meeting has arrived */
  isOutOfDate: boolean;
  internetMessageId: string;
}

export type NewMessage = Omit<MessageRecord, 'id' | 'seq' | 'changeKey' | 'createdMs' | 'modifiedMs' | 'isRead' | 'isOutOfDate' | 'internetMessageId' | 'mailbox'>;

function opaqueId(): string {
  // Same shape as event ids: Outlook REST ids are URL-safe base64 (store.ts).
  return `AAMkA${randomBytes(70).toString('base64').replace(/\//g, '-').replace(/\+/g, '_')}`;
}

export class MessageStore {
  private readonly byMailbox = new Map<string, Map<string, MessageRecord>>();
  private seq = 0;
  private readonly now: () => number;
  private readonly changes: ChangeLog | undefined;
  private readonly domain: string;

  constructor(now: () => number, changes: ChangeLog | undefined, domain: string) {
    this.now = now;
    this.changes = changes;
    this.domain = domain;
  }

  private inbox(mailbox: string): Map<string, MessageRecord> {
    const key = mailbox.toLowerCase();
    let map = this.byMailbox.get(key);
    if (!map) {
      map = new Map();
      this.byMailbox.set(key, map);
    }
    return map;
  }

  /** Newest first, as Outlook lists a folder. */
  list(mailbox: string): MessageRecord[] {
    return [...this.inbox(mailbox).values()].sort((a, b) => b.seq - a.seq);
  }

  get(mailbox: string, id: string): MessageRecord | undefined {
    return this.inbox(mailbox).get(id);
  }

  /** The mailbox and message an id belongs to, whatever the mailbox (EWS ids name no mailbox). */
  find(id: string): MessageRecord | undefined {
    for (const inbox of this.byMailbox.values()) {
      const message = inbox.get(id);
      if (message) return message;
    }
    return undefined;
  }

  deliver(mailbox: string, message: NewMessage): MessageRecord {
    const now = this.now();
    const record: MessageRecord = {
      ...message,
      id: opaqueId(),
      seq: ++this.seq,
      mailbox: mailbox.toLowerCase(),
      changeKey: randomBytes(21).toString('base64'),
      createdMs: now,
      modifiedMs: now,
      isRead: false,
      isOutOfDate: false,
      internetMessageId: `<${randomBytes(12).toString('hex')}@${this.domain}>`,
    };
    this.inbox(mailbox).set(record.id, record);
    this.changes?.record(mailbox, 'inbox', record.id, 'created');
    return record;
  }

  update(record: MessageRecord, change: (record: MessageRecord) => void): void {
    change(record);
    record.modifiedMs = Math.max(this.now(), record.modifiedMs + 1);
    record.changeKey = randomBytes(21).toString('base64');
    this.changes?.record(record.mailbox, 'inbox', record.id, 'updated');
  }

  delete(mailbox: string, id: string): boolean {
    const deleted = this.inbox(mailbox).delete(id);
    if (deleted) this.changes?.record(mailbox, 'inbox', id, 'deleted');
    return deleted;
  }

  /** The messages of one meeting in a mailbox's inbox. */
  ofMeeting(mailbox: string, iCalUId: string): MessageRecord[] {
    return this.list(mailbox).filter((m) => m.meeting.iCalUId === iCalUId);
  }
}

/** A stable inbox folder id per mailbox, in EWS form (FolderId of the "inbox" distinguished folder). */
export function inboxFolderId(mailbox: string): string {
  const digest = createHash('sha256').update(`calpush-sandbox:inbox:${mailbox.toLowerCase()}`).digest();
  return `AAMkA${Buffer.concat([Buffer.from([0x2e, 0x00]), digest, digest.subarray(0, 8)]).toString('base64')}`;
}
