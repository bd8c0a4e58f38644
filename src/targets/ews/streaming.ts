// EWS streaming notifications (Exchange 2010 SP1 and later): the mailboxes where waiting for the next poll costs
// someone — the resource agent's rooms, whose organisers wait for an answer, and a bounded number of watched
// mailboxes — are told about changes within a second instead of at the next poll. Polling stays the backstop: a
// notification only asks for a pass or a round sooner, it never replaces one.
//
// The protocol (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-stream-notifications-about-mailbox-events-by-using-ews-in-exchange):
// - Subscribe with a StreamingSubscriptionRequest for a mailbox's calendar and inbox: a SubscriptionId
//   (https://learn.microsoft.com/exchange/client-developer/web-service-reference/subscribe-operation). A delegate names
//   the mailbox in each DistinguishedFolderId, as for every other request; under impersonation the request acts as
//   the mailbox (ExchangeImpersonation).
// - GetStreamingEvents with up to 200 SubscriptionIds and a ConnectionTimeout of 1–30 minutes (the schema's
//   StreamingSubscriptionConnectionTimeoutType): a hanging HTTP answer of SOAP envelopes one after the other, each a
//   GetStreamingEventsResponseMessage with Notifications (events with watermarks), a heartbeat (ConnectionStatus OK)
//   or the end (ConnectionStatus Closed), after which the server ends the answer and the client opens it again
//   (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getstreamingevents-operation).
// - ErrorSubscriptionNotFound: "the subscription might have expired, the EWS process might have restarted" —
//   subscribe again, without the old watermark ("Recovering from lost subscriptions": resubscribing with an old
//   watermark makes Exchange scan linearly), and look at the mailbox once for what was missed
//   (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/handling-notification-related-errors-in-ews-in-exchange).
// - Unsubscribe when calpush stops (https://learn.microsoft.com/exchange/client-developer/web-service-reference/unsubscribe-operation).
// - Hanging connections are few: Exchange's HangingConnectionLimit is 3 per account on-premises by default (10 in
//   Exchange Online), ErrorExceededConnectionCount past it, and "a maximum of 200 subscription IDs" share one
//   connection (the error page above). Each connection is a request in the scheduler's streaming lane of its service
//   account (EwsTarget.streamLaneFor), whose concurrency is the account's share of that limit: the scheduler owns the
//   wait for a free connection, the back-off after a failure and Retry-After / BackOffMilliseconds, like for every
//   other request. Nothing sleeps: a connection the scheduler gave up on stays down until it is armed again
//   (engine/ews-streaming.ts: the agent's next pass, the next watch round).
// - Affinity (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server):
//   the subscriptions of one connection name the group's first mailbox as X-AnchorMailbox with
//   X-PreferServerAffinity, and the connection names it too, so a load balancer sends them to the server that
//   holds the subscriptions (EwsTarget.streamingChannel).
//
// The answer is read as it arrives and bounded: one envelope at most `maxEnvelopeBytes`, a connection at most
// `maxConnectionBytes` (AnswerTooLarge), text that is not a SOAP envelope is a TargetError (UnreadableStream) — all
// of scope "mailbox": not retried at once, the connection stays down until armed again, polling goes on.
import { TargetError, type ServiceLane } from '../target.ts';
import type { RequestContext } from './requests.ts';
import { parseSoapAnswer, type ResponseMessage } from './responses.ts';
import { child, children, el, text, type XmlElement } from './xml.ts';

/** Subscription IDs one GetStreamingEvents may carry (handling-notification-related-errors-in-ews-in-exchange). */
export const MAX_SUBSCRIPTIONS_PER_CONNECTION = 200;

/** Events that mean "something changed in the calendar or the inbox": a delete to Deleted Items is a move. */
const EVENT_TYPES = ['CreatedEvent', 'DeletedEvent', 'ModifiedEvent', 'MovedEvent', 'NewMailEvent'] as const;
const CHANGE_EVENTS = new Set<string>([...EVENT_TYPES, 'CopiedEvent', 'FreeBusyChangedEvent']);
/** Answers meaning the subscription is gone on the server: subscribe again. */
const LOST_SUBSCRIPTION = new Set(['ErrorSubscriptionNotFound', 'ErrorInvalidSubscription', 'ErrorReadEventsFailed']);

export type StreamedFolder = 'calendar' | 'inbox';

/** target.streaming (docs/ews.md, "Streaming notifications"). */
export interface EwsStreamingOptions {
  /** Stream the resource agent's mailboxes (calpush agent --watch, serve). */
  enabled: boolean;
  /** At most this many watched (delivered) mailboxes are streamed too; 0: watching polls only. */
  watchMailboxes: number;
  /** ConnectionTimeout of each GetStreamingEvents (1–30 minutes): how long one connection stays open. */
  connectionTimeoutMinutes: number;
  /** Hanging connections per service account at once: its share of Exchange's HangingConnectionLimit (3). */
  hangingConnections: number;
  /** Largest single envelope of the stream, and largest whole answer of one connection. */
  maxEnvelopeBytes: number;
  maxConnectionBytes: number;
}

/**
 * Defaults. One hanging connection per account (of Exchange's 3 per account) carries up to 200 subscriptions,
 * leaving the others to the administrators' own tools; 30 minutes per connection (the most the schema allows: the
 * fewest reconnects); watched mailboxes not streamed, as a person's edit waits for the next watch round anyway
 * unless someone is waiting for it — an organiser waiting for a room's answer is.
 */
export const DEFAULT_EWS_STREAMING: EwsStreamingOptions = {
  enabled: true,
  watchMailboxes: 0,
  connectionTimeoutMinutes: 30,
  hangingConnections: 1,
  maxEnvelopeBytes: 1024 * 1024,
  maxConnectionBytes: 64 * 1024 * 1024,
};

/** What engine/ews-streaming.ts asks of the EWS target: the requests, as the mailbox's service account. */
export interface StreamingChannel {
  /** The lane of Subscribe and Unsubscribe (the account's ordinary requests). */
  laneFor(mailbox: string): ServiceLane;
  /** The lane of the account's hanging connections. */
  streamLaneFor(mailbox: string): ServiceLane;
  /** Names the service account: subscriptions share a connection only within one account. */
  accountOf(mailbox: string): string;
  /** A streaming subscription to the mailbox's folders; its SubscriptionId. `anchor`: the connection's group. */
  subscribe(mailbox: string, folders: readonly StreamedFolder[], anchor: string): Promise<string>;
  unsubscribe(mailbox: string, subscriptionId: string, anchor: string): Promise<void>;
  /** One connection: resolves when the server ended it (or `signal` stopped it: then a StreamStopped error). */
  listen(anchor: string, subscriptionIds: readonly string[], onPart: (part: StreamPart) => void, signal: AbortSignal): Promise<void>;
}

// ---- requests ------------------------------------------------------------------------------------------------

function folderId(context: RequestContext, folder: StreamedFolder): XmlElement {
  return el('t:DistinguishedFolderId', { Id: folder }, context.access === 'delegate' && el('t:Mailbox', {}, el('t:EmailAddress', {}, context.mailbox)));
}

/** Subscribe: a streaming subscription to the mailbox's folders (subscribe-operation). */
export function subscribeBody(context: RequestContext, folders: readonly StreamedFolder[]): XmlElement {
  return el(
    'm:Subscribe',
    {},
    el(
      'm:StreamingSubscriptionRequest',
      {},
      el('t:FolderIds', {}, folders.map((folder) => folderId(context, folder))),
      el('t:EventTypes', {}, EVENT_TYPES.map((type) => el('t:EventType', {}, type))),
    ),
  );
}

/** GetStreamingEvents: the subscriptions of one connection, kept open `minutes` (1–30). */
export function getStreamingEventsBody(subscriptionIds: readonly string[], minutes: number): XmlElement {
  return el(
    'm:GetStreamingEvents',
    {},
    el('m:SubscriptionIds', {}, subscriptionIds.map((id) => el('t:SubscriptionId', {}, id))),
    el('m:ConnectionTimeout', {}, String(Math.max(1, Math.min(30, Math.floor(minutes))))),
  );
}

export function unsubscribeBody(subscriptionId: string): XmlElement {
  return el('m:Unsubscribe', {}, el('m:SubscriptionId', {}, subscriptionId));
}

// ---- reading the stream --------------------------------------------------------------------------------------

/** What one envelope of the stream said. */
export interface StreamPart {
  /** Subscriptions with change events in this part. */
  changed: string[];
  /** Subscriptions the server no longer knows. */
  lost: string[] | 'all';
  closed: boolean;
}

const ENVELOPE_END = /<\/(?:[A-Za-z_][\w.-]*:)?Envelope\s*>/;

/**
 * Splits the hanging answer into its SOAP envelopes as the bytes arrive and hands each over, read. Holds at most
 * one unfinished envelope of at most `maxEnvelopeBytes`.
 */
export class StreamReader {
  private readonly decoder = new TextDecoder('utf-8');
  private pending = '';
  private readonly maxEnvelopeBytes: number;
  private readonly onPart: (part: StreamPart) => void;
  private readonly refused: (code: string, message: string, values: Record<string, string>) => TargetError;

  constructor(options: { maxEnvelopeBytes: number; onPart: (part: StreamPart) => void; refused: (code: string, message: string, values: Record<string, string>) => TargetError }) {
    this.maxEnvelopeBytes = options.maxEnvelopeBytes;
    this.onPart = options.onPart;
    this.refused = options.refused;
  }

  feed(chunk: Buffer): void {
    this.pending += this.decoder.decode(chunk, { stream: true });
    for (let end = ENVELOPE_END.exec(this.pending); end; end = ENVELOPE_END.exec(this.pending)) {
      const cut = end.index + end[0].length;
      const envelope = this.pending.slice(0, cut);
      this.pending = this.pending.slice(cut);
      this.onPart(this.read(envelope));
    }
    // UTF-16 length ≥ what it counts in UTF-8 bytes / 3: a cheap bound, checked exactly only near it.
    if (this.pending.length * 3 > this.maxEnvelopeBytes && Buffer.byteLength(this.pending) > this.maxEnvelopeBytes) {
      throw new TargetError('mailbox', 'StreamPartTooLarge', `EWS sent a part of its notification stream of more than ${this.maxEnvelopeBytes} bytes; the connection was closed`, {
        remedy: 'streaming notifications are a hint, polling goes on; if Exchange is right to send this much, raise target.streaming.maxEnvelopeBytes',
      });
    }
  }

  /** The end of the answer: what is left must be whitespace. */
  end(): void {
    if (this.pending.trim() !== '') throw unreadable('the answer ended inside an envelope');
  }

  private read(envelope: string): StreamPart {
    const answer = parseSoapAnswer(envelope, 'GetStreamingEvents');
    if (answer.kind === 'unreadable') throw unreadable(answer.reason);
    if (answer.kind === 'fault') throw this.refused(answer.code, answer.message, answer.values);
    const part: StreamPart = { changed: [], lost: [], closed: false };
    for (const message of answer.messages) this.readMessage(message, part);
    return part;
  }

  private readMessage(message: ResponseMessage, part: StreamPart): void {
    const node = message.node;
    if (text(child(node, 'ConnectionStatus')) === 'Closed') part.closed = true;
    if (message.responseClass === 'Error') {
      if (!LOST_SUBSCRIPTION.has(message.code)) throw this.refused(message.code, message.message, message.values);
      const ids = children(child(node, 'ErrorSubscriptionIds'), 'SubscriptionId').map((id) => text(id));
      if (part.lost !== 'all') part.lost = ids.length > 0 ? [...part.lost, ...ids] : 'all';
      return;
    }
    for (const notification of children(child(node, 'Notifications'), 'Notification')) {
      const id = text(child(notification, 'SubscriptionId'));
      if (id && Object.keys(notification).some((name) => CHANGE_EVENTS.has(name.replace(/^.*:/, '')))) part.changed.push(id);
    }
  }
}

function unreadable(reason: string): TargetError {
  return new TargetError('mailbox', 'UnreadableStream', `EWS sent a notification stream calpush cannot read (${reason}); the connection was closed`, {
    remedy: 'streaming notifications are a hint, polling goes on; is something between calpush and Exchange rewriting or cutting long answers?',
  });
}
