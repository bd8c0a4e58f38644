// EWS streaming notifications put to use (issue #15 item 1; the protocol: targets/ews/streaming.ts). The resource
// agent's mailboxes on an EWS target, and up to target.streaming.watchMailboxes watched mailboxes, are subscribed;
// a change in one asks its consumer for a look soon (the agent: a pass; serve's watcher: a round of that mailbox).
// Polling goes on as before and stays the backstop: a lost notification delays a change to the next poll, never
// loses it.
//
// Every request goes through the scheduler: Subscribe and Unsubscribe in the account's lane like any request, each
// hanging GetStreamingEvents in the account's streaming lane (EwsTarget.streamLaneFor), so Retry-After,
// BackOffMilliseconds and the back-off after a failure are the scheduler's. When the server ends a connection
// (ConnectionStatus Closed, after ConnectionTimeout) it is opened again at once — a new request, not a retry. When
// the scheduler gives up on one (its attempts spent, or an error it does not retry: AnswerTooLarge, a garbled
// stream), it stays down and is reported; arm() — called by each agent pass and watch round — opens it again, so
// a broken stream costs one request per poll at most, and nothing here waits on its own.
import type { MailboxRoutes } from './routes.ts';
import type { Scheduler } from './scheduler.ts';
import { MAX_SUBSCRIPTIONS_PER_CONNECTION, type StreamedFolder, type StreamingChannel, type StreamPart } from '../targets/ews/streaming.ts';
import { EwsTarget } from '../targets/ews/target.ts';
import { TargetError, type CalendarTarget } from '../targets/target.ts';

export interface StreamedMailbox {
  mailbox: string;
  folders: readonly StreamedFolder[];
}

export interface EwsStreamsOptions {
  channel: StreamingChannel;
  scheduler: Scheduler;
  /** Hanging connections per service account (each carries up to 200 subscriptions). */
  connectionsPerAccount: number;
  /** Something changed in the mailbox, or may have while its subscription was lost: look at it soon. */
  onChange: (mailbox: string) => void;
  /** A mailbox could not be subscribed (mailbox set), or a connection went down (null): polling covers it. */
  onError?: (mailbox: string | null, error: TargetError) => void;
}

interface Subscription {
  mailbox: string;
  folders: readonly StreamedFolder[];
  id: string | null;
  group: Group;
  /** Its Subscribe in flight: an arm() meanwhile waits for it instead of subscribing twice. */
  subscribing: Promise<boolean> | null;
}

/** The subscriptions of one hanging connection: one service account, at most 200. */
interface Group {
  account: string;
  /** The scheduler's key for its connection (its own mailbox lane). */
  key: string;
  /** X-AnchorMailbox of every request of the group: its first mailbox (affinity). */
  anchor: string;
  members: Set<Subscription>;
  running: Promise<void> | null;
  abort: AbortController | null;
  /** Subscriptions the server reported lost on the current connection. */
  lost: Set<string> | 'all';
}

export interface EwsStreamsStatus {
  subscribed: number;
  connections: number;
  /** Connections running (open, or waiting for their lane). */
  running: number;
}

export class EwsStreams {
  private readonly options: EwsStreamsOptions;
  private readonly subscriptions = new Map<string, Subscription>();
  private readonly byId = new Map<string, Subscription>();
  private readonly groups: Group[] = [];
  /** Mailboxes Exchange refused to subscribe for good (access, version): not asked again by this process. */
  private readonly refused = new Set<string>();
  private stopped = false;
  private sequence = 0;

  constructor(options: EwsStreamsOptions) {
    this.options = options;
  }

  status(): EwsStreamsStatus {
    return { subscribed: [...this.subscriptions.values()].filter((s) => s.id).length, connections: this.groups.length, running: this.groups.filter((g) => g.running).length };
  }

  /**
   * Streams exactly these mailboxes: subscribes the new ones, unsubscribes the others, and opens every connection
   * that is down. Resolves when the subscriptions are made (the connections run on).
   */
  async arm(wanted: readonly StreamedMailbox[]): Promise<void> {
    if (this.stopped) return;
    const keep = new Map(wanted.map((w) => [w.mailbox.toLowerCase(), w]));
    const gone = [...this.subscriptions.values()].filter((s) => !keep.has(s.mailbox.toLowerCase()));
    await Promise.all(gone.map((s) => this.drop(s)));
    // Alphabetical: the first mailbox of a group is its anchor (maintain-affinity: "the user whose name appears first").
    const added = [...keep.values()].filter((w) => !this.subscriptions.has(w.mailbox.toLowerCase()) && !this.refused.has(w.mailbox.toLowerCase()));
    added.sort((a, b) => a.mailbox.toLowerCase().localeCompare(b.mailbox.toLowerCase()));
    for (const w of added) this.place(w);
    await Promise.all([...this.subscriptions.values()].filter((s) => s.id === null).map((s) => this.subscribe(s)));
    for (const group of this.groups) {
      if (!group.running) this.open(group);
    }
  }

  /** Ends every connection and unsubscribes (what fails to unsubscribe expires on the server on its own). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const group of this.groups) group.abort?.abort();
    await Promise.all(this.groups.map((g) => g.running));
    await Promise.allSettled([...this.subscriptions.values()].map((s) => this.unsubscribe(s)));
    this.subscriptions.clear();
    this.byId.clear();
  }

  // ---- subscriptions --------------------------------------------------------------------------------------------

  /** A place in a group of its account with room (a new group while the account has connections to spare). */
  private place(wanted: StreamedMailbox): void {
    const account = this.options.channel.accountOf(wanted.mailbox);
    let group = this.groups.find((g) => g.account === account && g.members.size < MAX_SUBSCRIPTIONS_PER_CONNECTION);
    if (!group) {
      if (this.groups.filter((g) => g.account === account).length >= this.options.connectionsPerAccount) {
        this.options.onError?.(
          wanted.mailbox,
          new TargetError('mailbox', 'StreamingFull', `not streamed: the service account's ${this.options.connectionsPerAccount} streaming connection(s) carry ${MAX_SUBSCRIPTIONS_PER_CONNECTION} mailboxes each`, {
            remedy: 'polling covers it; raise target.streaming.hangingConnections (within Exchange’s HangingConnectionLimit) or stream fewer mailboxes',
          }),
        );
        this.refused.add(wanted.mailbox.toLowerCase());
        return;
      }
      group = { account, key: `ews-streaming:${account}:${this.sequence++}`, anchor: wanted.mailbox, members: new Set(), running: null, abort: null, lost: new Set() };
      this.groups.push(group);
    }
    const subscription: Subscription = { mailbox: wanted.mailbox, folders: wanted.folders, id: null, group, subscribing: null };
    group.members.add(subscription);
    this.subscriptions.set(wanted.mailbox.toLowerCase(), subscription);
  }

  /** Subscribe through the scheduler; true when it worked. A connection already open is reopened to carry it. */
  private subscribe(s: Subscription): Promise<boolean> {
    s.subscribing ??= this.subscribeOnce(s).finally(() => {
      s.subscribing = null;
    });
    return s.subscribing;
  }

  private async subscribeOnce(s: Subscription): Promise<boolean> {
    const { channel, scheduler } = this.options;
    try {
      const id = await scheduler.submit(s.mailbox, () => channel.subscribe(s.mailbox, s.folders, s.group.anchor), { lane: channel.laneFor(s.mailbox) });
      if (this.stopped || this.subscriptions.get(s.mailbox.toLowerCase()) !== s) {
        await this.unsubscribeId(s, id).catch(() => {});
        return false;
      }
      if (s.id) this.byId.delete(s.id);
      s.id = id;
      this.byId.set(id, s);
      s.group.abort?.abort();
      // What changed before the subscription existed was not streamed: one look now closes that gap.
      this.options.onChange(s.mailbox);
      return true;
    } catch (error) {
      const failure = asTargetError(error);
      if (failure.scope !== 'transient') {
        // Not asked again by this process; a transient failure is tried at the next arm().
        this.refused.add(s.mailbox.toLowerCase());
        this.forget(s);
      }
      this.options.onError?.(s.mailbox, failure);
      return false;
    }
  }

  private async drop(s: Subscription): Promise<void> {
    this.forget(s);
    s.group.abort?.abort();
    await this.unsubscribe(s).catch(() => {});
  }

  private forget(s: Subscription): void {
    this.subscriptions.delete(s.mailbox.toLowerCase());
    if (s.id) this.byId.delete(s.id);
    s.group.members.delete(s);
  }

  private async unsubscribe(s: Subscription): Promise<void> {
    if (s.id) await this.unsubscribeId(s, s.id);
  }

  private unsubscribeId(s: Subscription, id: string): Promise<void> {
    const { channel, scheduler } = this.options;
    return scheduler.submit(s.mailbox, () => channel.unsubscribe(s.mailbox, id, s.group.anchor), { lane: channel.laneFor(s.mailbox) });
  }

  // ---- connections ----------------------------------------------------------------------------------------------

  private open(group: Group): void {
    group.running = this.run(group).finally(() => {
      group.running = null;
      group.abort = null;
    });
  }

  /** The group's connection, opened again each time the server ends it, until it fails or streaming stops. */
  private async run(group: Group): Promise<void> {
    while (!this.stopped) {
      const ids = [...group.members].flatMap((s) => (s.id ? [s.id] : []));
      if (ids.length === 0) return;
      const abort = new AbortController();
      group.abort = abort;
      group.lost = new Set();
      try {
        await this.options.scheduler.submit(group.key, () => this.options.channel.listen(group.anchor, ids, (part) => this.heard(group, part), abort.signal), {
          lane: this.options.channel.streamLaneFor(group.anchor),
        });
      } catch (error) {
        // Stopped by us (stop(), a new member, a lost subscription): not a failure.
        if (!abort.signal.aborted) {
          this.options.onError?.(null, asTargetError(error));
          return;
        }
      }
      // (heard() may have set it meanwhile: read it again, whatever the compiler assumes after the assignment above)
      const lost = group.lost as Group['lost'];
      if (lost === 'all' || lost.size > 0) await this.resubscribe(group);
    }
  }

  /** One part of the stream: changes asked for, lost subscriptions noted (the connection is then reopened). */
  private heard(group: Group, part: StreamPart): void {
    const mailboxes = new Set<string>();
    for (const id of part.changed) {
      const s = this.byId.get(id);
      if (s) mailboxes.add(s.mailbox);
    }
    for (const mailbox of mailboxes) this.options.onChange(mailbox);
    if (part.lost === 'all' || part.lost.length > 0) {
      group.lost = part.lost === 'all' || group.lost === 'all' ? 'all' : new Set([...group.lost, ...part.lost]);
      group.abort?.abort();
    }
  }

  /** Subscribes the lost ones again (without the old watermark) and asks for a look at each: events may be missed. */
  private async resubscribe(group: Group): Promise<void> {
    const lost = group.lost;
    const members = [...group.members].filter((s) => s.id && (lost === 'all' || lost.has(s.id)));
    group.lost = new Set();
    for (const s of members) {
      this.byId.delete(s.id!);
      s.id = null;
    }
    // subscribe() asks for a look at each one it subscribes again: events may have been missed meanwhile.
    await Promise.all(members.map((s) => this.subscribe(s)));
  }
}

function asTargetError(error: unknown): TargetError {
  return error instanceof TargetError ? error : new TargetError('mailbox', 'StreamingFailed', error instanceof Error ? error.message : String(error), { cause: error });
}

/** Streams for the mailboxes of an EWS target whose target.streaming allows it; null for any other target. */
export function ewsStreamsFor(target: CalendarTarget, scheduler: Scheduler, onChange: (mailbox: string) => void, onError?: EwsStreamsOptions['onError']): EwsStreams | null {
  if (!(target instanceof EwsTarget)) return null;
  const settings = target.streamingOptions;
  return new EwsStreams({ channel: target.streamingChannel(), scheduler, connectionsPerAccount: settings.hangingConnections, onChange, ...(onError ? { onError } : {}) });
}

/** The resource agent's mailboxes streamed (their inboxes: meeting requests arrive there), armed after each pass. */
export interface AgentStreaming {
  afterPass(mailboxes: readonly string[]): void;
  stop(): Promise<void>;
}

/**
 * For `calpush agent --watch` and serve: a change asks for a pass of the mailbox that changed (Cadence.soon); armed
 * after each full pass with every mailbox it read (arm() unsubscribes the mailboxes it is not given). Null unless the agent's target is EWS with
 * target.streaming.enabled.
 */
export function agentStreaming(target: CalendarTarget, scheduler: Scheduler, passSoon: (mailbox: string) => void, onError?: EwsStreamsOptions['onError']): AgentStreaming | null {
  if (!(target instanceof EwsTarget) || !target.streamingOptions.enabled) return null;
  const streams = ewsStreamsFor(target, scheduler, (mailbox) => passSoon(mailbox), onError)!;
  return {
    afterPass: (mailboxes) => void streams.arm(mailboxes.map((mailbox) => ({ mailbox, folders: ['inbox'] as const }))),
    stop: () => streams.stop(),
  };
}

/**
 * serve's watched mailboxes streamed (target.streaming.watchMailboxes of each EWS target: the first so many delivered
 * mailboxes it serves, in address order): a change asks the watcher for a round of that mailbox, as a Graph change
 * notification does (engine/notifications.ts). Armed before each round of every mailbox (the watcher's upkeep).
 */
export class WatchedMailboxStreams {
  private readonly routes: MailboxRoutes<Scheduler>;
  private readonly watchSoon: (calendars: string[]) => void;
  private readonly onError: EwsStreamsOptions['onError'];
  /** One EwsStreams per EWS target, by route name. */
  private readonly streams = new Map<string, EwsStreams>();

  constructor(routes: MailboxRoutes<Scheduler>, watchSoon: (calendars: string[]) => void, onError?: EwsStreamsOptions['onError']) {
    this.routes = routes;
    this.watchSoon = watchSoon;
    this.onError = onError;
  }

  async upkeep(calendars: readonly string[]): Promise<void> {
    const byTarget = new Map<string, { target: EwsTarget; scheduler: Scheduler; calendars: string[] }>();
    for (const calendar of [...calendars].sort()) {
      const route = await this.routes.route(calendar).catch(() => null);
      if (!route || !(route.target instanceof EwsTarget) || route.target.streamingOptions.watchMailboxes === 0) continue;
      const entry = byTarget.get(route.name) ?? { target: route.target, scheduler: route.scheduler, calendars: [] };
      if (entry.calendars.length < route.target.streamingOptions.watchMailboxes) entry.calendars.push(calendar);
      byTarget.set(route.name, entry);
    }
    for (const [name, { target, scheduler, calendars: chosen }] of byTarget) {
      let streams = this.streams.get(name);
      if (!streams) {
        streams = ewsStreamsFor(target, scheduler, (mailbox) => this.watchSoon([mailbox]), this.onError)!;
        this.streams.set(name, streams);
      }
      await streams.arm(chosen.map((mailbox) => ({ mailbox, folders: ['calendar'] as const })));
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.streams.values()].map((s) => s.stop()));
  }
}
