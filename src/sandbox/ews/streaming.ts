// EWS streaming notifications in the sandbox: Subscribe (StreamingSubscriptionRequest), GetStreamingEvents and
// Unsubscribe over the shared change log (../changes.ts), so that a change made through Graph, EWS or the meeting
// engine (a meeting request delivered to a room's inbox) is streamed to the subscriptions of that folder.
//
// - Subscribe answers a SubscriptionId and a Watermark
//   (https://learn.microsoft.com/exchange/client-developer/web-service-reference/subscribe-operation).
// - GetStreamingEvents is a hanging answer: SOAP envelopes one after the other on a chunked HTTP/1.1 answer, each a
//   GetStreamingEventsResponseMessage: Notifications when there are events (at most 50 per notification: "the first
//   50 events from the queue are pulled", the operation's Remarks), ConnectionStatus OK as a heartbeat while there
//   are none, and ConnectionStatus Closed when ConnectionTimeout minutes have passed, after which the answer ends
//   (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getstreamingevents-operation,
//   https://learn.microsoft.com/exchange/client-developer/web-service-reference/connectionstatus).
// - An unknown, expired or unsubscribed SubscriptionId: ErrorSubscriptionNotFound with the IDs in
//   ErrorSubscriptionIds and ConnectionStatus Closed ("the subscription might have expired, the EWS process might
//   have restarted", https://learn.microsoft.com/exchange/client-developer/exchange-web-services/handling-notification-related-errors-in-ews-in-exchange).
//   A streaming subscription with no connection for `lifetimeMinutes` expires [VERIFY] the lifetime Exchange keeps
//   a streaming subscription without a connection (the sandbox uses 30 minutes, the longest ConnectionTimeout).
// - Only the account that subscribed may stream or unsubscribe it (the Remarks: the authenticated user is checked):
//   ErrorSubscriptionAccessDenied otherwise.
// - Past `hangingConnectionLimit` open connections of one account: ErrorExceededConnectionCount (HangingConnectionLimit,
//   3 by default on-premises: the error page above).
// Faults for tests: closeConnections() (the server ends every connection now), expireSubscriptions(), and
// garbleNext()/floodNext() (the next part written is not XML / is a huge envelope).
import type { ServerResponse } from 'node:http';
import type { Change, ChangeLog, Folder } from '../changes.ts';
import { inboxFolderId } from '../messages.ts';
import { calendarFolderId, ewsIdFromGraph } from './items.ts';
import { envelope, type EwsServerVersion } from './soap.ts';
import { esc, NS } from './xml.ts';

export interface StreamingTiming {
  /** How long a "minute" of ConnectionTimeout and of the subscription lifetime lasts (tests shorten it). */
  minuteMs: number;
  /** How often an idle connection gets a heartbeat (ConnectionStatus OK). */
  heartbeatMs: number;
  lifetimeMinutes: number;
  hangingConnectionLimit: number;
}

export const DEFAULT_STREAMING_TIMING: StreamingTiming = { minuteMs: 60_000, heartbeatMs: 30_000, lifetimeMinutes: 30, hangingConnectionLimit: 3 };

export interface SandboxStreamingStats {
  subscribes: number;
  unsubscribes: number;
  /** GetStreamingEvents answered (connections opened, or refused). */
  connections: number;
  open: number;
  /** Subscriptions alive now. */
  subscriptions: number;
  /** Notifications written. */
  notifications: number;
}

interface EventRecord {
  kind: 'CreatedEvent' | 'ModifiedEvent' | 'DeletedEvent';
  folder: Folder;
  itemId: string;
  watermark: string;
  at: number;
}

interface Subscription {
  id: string;
  account: string;
  mailbox: string;
  folders: Set<Folder>;
  queue: EventRecord[];
  /** When it last had a connection (or was made): it expires lifetimeMinutes after. */
  lastSeen: number;
  connection: Connection | null;
}

interface Connection {
  res: ServerResponse;
  account: string;
  subscriptions: Subscription[];
  close: () => void;
}

/** Events kept per subscription while no connection reads them; older ones are dropped (Exchange keeps a queue too). */
const MAX_QUEUED = 1000;
const EVENTS_PER_NOTIFICATION = 50;

export class EwsStreamingSubscriptions {
  timing: StreamingTiming = { ...DEFAULT_STREAMING_TIMING };
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly connections = new Set<Connection>();
  private readonly statistics: SandboxStreamingStats = { subscribes: 0, unsubscribes: 0, connections: 0, open: 0, subscriptions: 0, notifications: 0 };
  private next: 'garble' | { flood: number } | null = null;
  private sequence = 0;
  private readonly version: () => EwsServerVersion;

  constructor(changes: ChangeLog, version: () => EwsServerVersion) {
    this.version = version;
    changes.subscribe((change) => this.changed(change));
  }

  stats(): SandboxStreamingStats {
    return { ...this.statistics, open: this.connections.size, subscriptions: this.subscriptions.size };
  }

  /** Subscribe: the message for one streaming subscription to `folders` of `mailbox`. */
  subscribe(account: string, mailbox: string, folders: Folder[]): string {
    this.statistics.subscribes++;
    const id = Buffer.from(`sandbox-streaming:${++this.sequence}:${mailbox}`).toString('base64');
    this.subscriptions.set(id, { id, account: account.toLowerCase(), mailbox: mailbox.toLowerCase(), folders: new Set(folders), queue: [], lastSeen: Date.now(), connection: null });
    const watermark = this.watermark();
    return `<m:SubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:SubscriptionId>${esc(id)}</m:SubscriptionId><m:Watermark>${watermark}</m:Watermark></m:SubscribeResponseMessage>`;
  }

  /** Unsubscribe's response message (https://learn.microsoft.com/exchange/client-developer/web-service-reference/unsubscribe-operation). */
  unsubscribe(account: string, id: string): string {
    const subscription = this.alive(id);
    if (!subscription) return errorMessage('UnsubscribeResponseMessage', 'ErrorSubscriptionNotFound', 'The specified subscription was not found.');
    if (subscription.account !== account.toLowerCase()) return errorMessage('UnsubscribeResponseMessage', 'ErrorSubscriptionAccessDenied', 'A subscription can only be used by the account that created it.');
    this.statistics.unsubscribes++;
    this.subscriptions.delete(id);
    subscription.connection?.close();
    return `<m:UnsubscribeResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:UnsubscribeResponseMessage>`;
  }

  /** GetStreamingEvents: takes over the HTTP answer and keeps it open for `minutes`. */
  stream(res: ServerResponse, account: string, ids: string[], minutes: number): void {
    this.statistics.connections++;
    res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'x-calpush-ews-account': account });
    const unknown = ids.filter((id) => !this.alive(id));
    const foreign = ids.filter((id) => this.alive(id) && this.alive(id)!.account !== account.toLowerCase());
    if (unknown.length > 0 || foreign.length > 0) {
      const code = unknown.length > 0 ? 'ErrorSubscriptionNotFound' : 'ErrorSubscriptionAccessDenied';
      const bad = unknown.length > 0 ? unknown : foreign;
      res.end(this.part(errorMessage('GetStreamingEventsResponseMessage', code, code === 'ErrorSubscriptionNotFound' ? 'The specified subscription was not found.' : 'A subscription can only be used by the account that created it.', `<m:ErrorSubscriptionIds>${bad.map((id) => `<t:SubscriptionId>${esc(id)}</t:SubscriptionId>`).join('')}</m:ErrorSubscriptionIds><m:ConnectionStatus>Closed</m:ConnectionStatus>`)));
      return;
    }
    if ([...this.connections].filter((c) => c.account === account.toLowerCase()).length >= this.timing.hangingConnectionLimit) {
      res.end(this.part(errorMessage('GetStreamingEventsResponseMessage', 'ErrorExceededConnectionCount', 'You have exceeded the available concurrent connections for your account.', '<m:ConnectionStatus>Closed</m:ConnectionStatus>')));
      return;
    }
    this.open(res, account, ids.map((id) => this.subscriptions.get(id)!), minutes);
  }

  // ---- faults -----------------------------------------------------------------------------------------------------

  /** The server ends every open connection now, with ConnectionStatus Closed (as at ConnectionTimeout). */
  closeConnections(): void {
    for (const connection of [...this.connections]) connection.close();
  }

  /** Every subscription is forgotten (an expiry, a restarted EWS process): the next use is ErrorSubscriptionNotFound. */
  expireSubscriptions(): void {
    const open = [...this.connections];
    this.subscriptions.clear();
    // A restarted process has no connections either.
    for (const connection of open) connection.res.destroy();
  }

  /** The next part written to a connection is not XML. */
  garbleNext(): void {
    this.next = 'garble';
  }

  /** The next part written is an envelope of `bytes` bytes that does not end. */
  floodNext(bytes: number): void {
    this.next = { flood: bytes };
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  private alive(id: string): Subscription | undefined {
    const subscription = this.subscriptions.get(id);
    if (!subscription) return undefined;
    if (!subscription.connection && Date.now() - subscription.lastSeen > this.timing.lifetimeMinutes * this.timing.minuteMs) {
      this.subscriptions.delete(id);
      return undefined;
    }
    return subscription;
  }

  private watermark(): string {
    return Buffer.from(`wm:${this.sequence}:${Date.now()}`).toString('base64');
  }

  private open(res: ServerResponse, account: string, subscriptions: Subscription[], minutes: number): void {
    let closed = false;
    const connection: Connection = {
      res,
      account: account.toLowerCase(),
      subscriptions,
      close: () => {
        if (closed) return;
        this.write(connection, this.statusMessage('Closed'));
        finish();
        res.end();
      },
    };
    const finish = () => {
      closed = true;
      clearInterval(heartbeat);
      clearTimeout(timeout);
      this.connections.delete(connection);
      for (const s of subscriptions) {
        if (s.connection === connection) s.connection = null;
        s.lastSeen = Date.now();
      }
    };
    const heartbeat = setInterval(() => this.write(connection, this.statusMessage('OK')), this.timing.heartbeatMs);
    const timeout = setTimeout(() => connection.close(), minutes * this.timing.minuteMs);
    res.on('close', () => {
      if (!closed) finish();
    });
    this.connections.add(connection);
    for (const s of subscriptions) {
      s.connection?.close();
      s.connection = connection;
    }
    // What was queued while no connection read it goes first.
    for (const s of subscriptions) this.flush(s);
  }

  private changed(change: Change): void {
    const kind = change.kind === 'created' ? 'CreatedEvent' : change.kind === 'updated' ? 'ModifiedEvent' : 'DeletedEvent';
    for (const s of this.subscriptions.values()) {
      if (s.mailbox !== change.mailbox || !s.folders.has(change.folder)) continue;
      s.queue.push({ kind, folder: change.folder, itemId: ewsIdFromGraph(change.id), watermark: Buffer.from(`wm:${change.seq}`).toString('base64'), at: Date.now() });
      if (s.queue.length > MAX_QUEUED) s.queue.shift();
      this.flush(s);
    }
  }

  private flush(s: Subscription): void {
    if (!s.connection) return;
    while (s.queue.length > 0) {
      const events = s.queue.splice(0, EVENTS_PER_NOTIFICATION);
      this.statistics.notifications++;
      const body = events.map((e) => `<t:${e.kind}><t:Watermark>${e.watermark}</t:Watermark><t:TimeStamp>${new Date(e.at).toISOString()}</t:TimeStamp><t:ItemId Id="${esc(e.itemId)}"/><t:ParentFolderId Id="${esc(e.folder === 'calendar' ? calendarFolderId(s.mailbox) : inboxFolderId(s.mailbox))}"/></t:${e.kind}>`).join('');
      // t:Notification: NonEmptyArrayOfNotificationsType is declared in types.xsd (Learn's example prints m:).
      const notification = `<t:Notification><t:SubscriptionId>${esc(s.id)}</t:SubscriptionId>${body}</t:Notification>`;
      this.write(s.connection, `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notifications>${notification}</m:Notifications></m:GetStreamingEventsResponseMessage>`);
    }
  }

  private statusMessage(status: 'OK' | 'Closed'): string {
    return `<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>${status}</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>`;
  }

  private part(message: string): string {
    return envelope(`<m:GetStreamingEventsResponse xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:ResponseMessages>${message}</m:ResponseMessages></m:GetStreamingEventsResponse>`, this.version());
  }

  private write(connection: Connection, message: string): void {
    if (connection.res.destroyed || connection.res.writableEnded) return;
    const fault = this.next;
    this.next = null;
    if (fault === 'garble') connection.res.write('<<this is not XML>>&&</s:Envelope>');
    else if (fault) connection.res.write(`<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${NS.soap}"><s:Body>${'x'.repeat(fault.flood)}`);
    else connection.res.write(this.part(message));
  }
}

function errorMessage(name: string, code: string, text: string, tail = ''): string {
  return `<m:${name} ResponseClass="Error"><m:MessageText>${esc(text)}</m:MessageText><m:ResponseCode>${code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>${tail}</m:${name}>`;
}
