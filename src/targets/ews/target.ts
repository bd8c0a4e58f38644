// The EWS target: Exchange Server on-premises (2010 SP2 and later) through Exchange Web Services, as a pool of
// service accounts with delegate rights or ApplicationImpersonation (or an OAuth app, for Exchange Online).
//
// Ownership is the Graph target's: the same MAPI named property (PropertySetId 8d406dd4-…, CalpushKey) with the
// same value, so events written through EWS are adopted by the Graph target and the other way round. listOwned
// returns only items whose tag names this instance; update and remove act only on items it listed or created.
//
// Requests: CreateItem / UpdateItem / DeleteItem take several items, which is the natural batch (one request,
// processed item by item by the server: "chain"). A batch of mixed operations becomes up to three requests (creates,
// updates, deletes), sent one after the other. Otherwise each call sends one request; the exceptions are the ChangeKey
// paths (GetItem, then UpdateItem / DeleteItem again), the confirmation of an ErrorItemNotFound (GetFolder: is the
// calendar still reachable?) and the recovery of a create whose answer was lost (FindItem first).
//
// Idempotent create: EWS has no transactionId. Each item carries ours in a second named property
// (CalpushTransactionId). A CreateItem whose answer never arrived (a timeout, a reset connection, a 5xx without a
// SOAP answer) leaves its transactionIds marked uncertain; before such a create is sent again — by the scheduler's
// retry in this process — the calendar is searched for them and a hit is returned instead of creating a second
// item. Across processes (a crash), the engine lists the owned items before re-planning a create whose outcome is
// unknown (src/planner/listing.ts), and the tag adopts what did land.
import type { ProxySettings } from '../../config/proxy.ts';
import { CalpushError } from '../../model/errors.ts';
import type { DesiredEvent } from '../../model/event.ts';
import { parseTagValue } from '../../model/tag.ts';
import { NetworkError } from '../http.ts';
import { TargetError, type BatchCapability, type BatchOp, type BatchOutcome, type CalendarTarget, type ItemRef, type MailboxLocation, type OwnedItem, type OwnedPage, type ServiceLane, type WatchCapability } from '../target.ts';
import { assignAccount } from './accounts.ts';
import { autodiscoverLocation, defaultAutodiscoverUrl } from './autodiscover.ts';
import { CHANGE_KEY_CODES, classifyHttpStatus, classifyResponseCode, type ErrorContext } from './errors.ts';
import type { MappingOptions } from './mapping.ts';
import {
  createItemBody,
  deleteItemBody,
  envelope,
  findByTransactionBody,
  findOwnedBody,
  getCalendarFolderBody,
  getItemsBody,
  soapAction,
  updateItemBody,
  type AccessMode,
  type DeleteType,
  type RequestContext,
  type ServerVersion,
} from './requests.ts';
import { parseSoapAnswer, type Operation, type ParsedItem, type ResponseMessage, type SoapAnswer } from './responses.ts';
import { AccountConnection, type EwsCredentials, type HttpAnswer } from './transport.ts';
import { EWS_DEFAULT_ACCOUNT_CONCURRENCY, EWS_DEFAULT_BATCH, ewsDefaultPage } from './schema.ts';
import type { XmlElement } from './xml.ts';
import { EwsMeetingDesk, type EwsConnection } from './meetings.ts';
import { EwsWatch } from './watch.ts';
import { EwsGroupDirectory } from './groups.ts';
import { EwsRoomDirectory } from './rooms.ts';
import { DEFAULT_EWS_STREAMING, getStreamingEventsBody, StreamReader, subscribeBody, unsubscribeBody, type EwsStreamingOptions, type StreamingChannel, type StreamPart } from './streaming.ts';
import { child, text } from './xml.ts';

export interface EwsAccount {
  /** "DOMAIN\\user", "user@upn.example" or "user" (with `domain`). */
  username: string;
  password: string;
  domain?: string;
  /** Share of the mailboxes this account takes (rendezvous weight), default 1. */
  weight?: number;
  /** Requests in flight for this account; default: the target's accountConcurrency. */
  concurrency?: number;
}

export interface EwsTargetOptions {
  instance: string;
  /** https://mail.example.edu/EWS/Exchange.asmx */
  url: string;
  /** The SOAP Autodiscover endpoint asked by locate(); default https://<EWS host>/autodiscover/autodiscover.svc. */
  autodiscoverUrl?: string;
  serverVersion: ServerVersion;
  access: AccessMode;
  auth: 'ntlm' | 'basic' | 'oauth';
  /** Service accounts (ntlm, basic). */
  accounts?: EwsAccount[];
  /** OAuth (Exchange Online app-only, or a token kept fresh by someone else): the access token. */
  oauth?: { name: string; token: () => Promise<string>; invalidate?: (token: string) => void };
  caPem?: string;
  /** Plain http (credentials and calendars in clear): refused unless this is set. */
  allowInsecureHttp?: boolean;
  allDayTimeZone: string;
  /** Items per CreateItem / UpdateItem / DeleteItem; 1 turns batching off. Default 20. */
  batchSize?: number;
  /** Items per FindItem page when listing (≤ 1000). Default what the server gives: 250 from Exchange 2013, 1000 before (ewsDefaultPage). */
  pageSize?: number;
  /** Default HardDelete: see docs/ews.md ("Deleting"). */
  deleteType?: DeleteType;
  /** Requests in flight per service account. Default 8. */
  accountConcurrency?: number;
  /**
   * Optional client-side budget per service account: items per minute (a request of 20 operations counts 20, a
   * listing 1). Without it calpush finds the account's budget from Exchange's ErrorServerBusy answers.
   */
  accountItemsPerMinute?: number;
  /** ErrorServerBusy answers a request may get before the scheduler counts one as a failed attempt. Default 3. */
  busyRetries?: number;
  requestTimeoutMs?: number;
  /** Largest answer body (DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** NTLM workstation name; default this host's short name. */
  workstation?: string;
  /** Where calpush bugs (a request Exchange finds malformed) are reported; default process.emitWarning. */
  log?: (message: string) => void;
  /** The outbound proxy (src/config/proxy.ts): NTLM runs inside one CONNECT tunnel per connection. */
  proxy?: ProxySettings;
  /** Streaming notifications (streaming.ts, engine/ews-streaming.ts); default DEFAULT_EWS_STREAMING. */
  streaming?: Partial<EwsStreamingOptions>;
}

export { EWS_DEFAULT_ACCOUNT_CONCURRENCY, EWS_DEFAULT_BATCH, ewsDefaultPage };

interface ServiceAccount {
  name: string;
  weight: number;
  /** The account's lane in the scheduler: how much it may send. */
  lane: ServiceLane;
  connection: AccountConnection;
  credentials: EwsCredentials;
  /** Connections to Autodiscover endpoints (locate()), by URL, made when first asked (one connection each: NTLM authenticates it, leg by leg). */
  autodiscover: Map<string, AccountConnection>;
  /** Requests sent as the account, and how many Exchange answered as throttling (ErrorServerBusy, HTTP 503). */
  requests: number;
  busy: number;
  /** The hanging GetStreamingEvents connections, made when first asked (streamingChannel). */
  streams: AccountConnection | null;
}

/** What the target saw of one service account (for the benchmark and diagnostics). */
export interface AccountStats {
  account: string;
  requests: number;
  busy: number;
  maxInFlight: number;
}

/** A failure of a request as a whole, and whether the server certainly did not act on it. */
interface SendFailure {
  error: TargetError;
  refused: boolean;
}

/** A request that failed as a whole, with whether Exchange refused it before doing anything (inside the target only). */
class RequestFailed extends CalpushError {
  readonly failure: SendFailure;
  constructor(failure: SendFailure) {
    super(failure.error.code, failure.error.message, { remedy: failure.error.remedy });
    this.failure = failure;
  }
}

const MAX_REMEMBERED_CHANGE_KEYS = 200_000;

/**
 * SOAP faults Exchange answers before any item of the request is touched (throttling at admission, a malformed
 * request, the identity or the version refused): the request certainly did nothing.
 */
const REFUSED_BEFORE_WORK = new Set([
  'ErrorServerBusy',
  'ErrorExceededConnectionCount',
  'ErrorSchemaValidation',
  'ErrorInvalidRequest',
  'ErrorImpersonateUserDenied',
  'ErrorImpersonationFailed',
  'ErrorNonExistentMailbox',
  'ErrorInvalidServerVersion',
  'ErrorInvalidRequestServerVersion',
  'ErrorIncorrectSchemaVersion',
  'ErrorTimeZone',
]);

export class EwsTarget implements CalendarTarget {
  readonly kind = 'ews' as const;
  readonly batch?: BatchCapability;
  readonly watch: WatchCapability;
  private readonly options: EwsTargetOptions;
  private readonly accounts: ServiceAccount[];
  private readonly assignments = new Map<string, ServiceAccount>();
  private readonly mapping: MappingOptions;
  private readonly pageSize: number;
  private readonly deleteType: DeleteType;
  /** ChangeKeys seen in answers (creates, updates, listings), by item id. */
  private readonly changeKeys = new Map<string, string>();
  /** "calendar\ntransactionId" of creates whose answer never arrived. */
  private readonly uncertain = new Set<string>();
  /**
   * Creates found in the calendar by their transactionId, until their outcome is handed back: a request that found
   * them may still fail for the rest of its creates, and when it is sent again they must not be created twice.
   */
  private readonly landed = new Map<string, ItemRef>();
  /** Set once the server refused an UpdateItem without ChangeKey: from then on it is read first when unknown. */
  private changeKeyRequired = false;
  private readonly busyRetries: number;
  private readonly log: (message: string) => void;
  /** Exchange has answered at least one request (see unreachable()). */
  private answered = false;

  /** What one request may take at most (CalendarTarget.requestTimeoutMs). */
  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? 60_000;
  }

  constructor(options: EwsTargetOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowInsecureHttp)) {
      throw new TargetError('fatal', 'InsecureEwsUrl', `EWS over ${url.protocol.replace(':', '')} would send credentials and calendars unencrypted`, {
        remedy: 'use the https:// URL of the EWS endpoint (allowInsecureHttp only for a lab)',
      });
    }
    this.options = options;
    this.mapping = { instance: options.instance, allDayTimeZone: options.allDayTimeZone, serverVersion: options.serverVersion };
    this.pageSize = Math.max(1, Math.min(1000, options.pageSize ?? ewsDefaultPage(options.serverVersion)));
    this.deleteType = options.deleteType ?? 'HardDelete';
    this.busyRetries = Math.max(0, options.busyRetries ?? 3);
    this.log = options.log ?? ((message) => process.emitWarning(message, 'CalpushEwsWarning'));
    const timeoutMs = options.requestTimeoutMs ?? 60_000;
    const makeAccount = (name: string, credentials: EwsCredentials, weight: number, concurrency: number): ServiceAccount => ({
      name,
      weight,
      lane: {
        // Apart from the same account name on another Exchange organisation (another target).
        key: `ews:${url.host}:${name.toLowerCase()}`,
        concurrency,
        ...(options.accountItemsPerMinute ? { itemsPerMinute: options.accountItemsPerMinute } : {}),
        throttledRetries: this.busyRetries,
      },
      requests: 0,
      busy: 0,
      connection: new AccountConnection(credentials, { url: options.url, ...(options.caPem ? { caPem: options.caPem } : {}), timeoutMs, slots: concurrency, account: name, ...(options.maxResponseBytes ? { maxResponseBytes: options.maxResponseBytes } : {}), ...(options.proxy ? { proxy: options.proxy } : {}) }),
      credentials,
      autodiscover: new Map(),
      streams: null,
    });
    const defaultConcurrency = options.accountConcurrency ?? EWS_DEFAULT_ACCOUNT_CONCURRENCY;
    if (options.auth === 'oauth') {
      if (!options.oauth) throw new Error('EwsTarget: auth "oauth" needs options.oauth');
      const { token, invalidate } = options.oauth;
      this.accounts = [makeAccount(options.oauth.name, { kind: 'bearer', token, ...(invalidate ? { invalidate } : {}) }, 1, defaultConcurrency)];
    } else {
      const accounts = options.accounts ?? [];
      if (accounts.length === 0) throw new Error(`EwsTarget: auth "${options.auth}" needs at least one service account`);
      this.accounts = accounts.map((account) =>
        makeAccount(
          account.username,
          options.auth === 'basic'
            ? { kind: 'basic', username: account.username, password: account.password, ...(account.domain ? { domain: account.domain } : {}) }
            : { kind: 'ntlm', username: account.username, password: account.password, ...(account.domain ? { domain: account.domain } : {}), ...(options.workstation ? { workstation: options.workstation } : {}) },
          account.weight ?? 1,
          account.concurrency ?? defaultConcurrency,
        ),
      );
    }
    const batchSize = Math.max(1, Math.min(100, options.batchSize ?? EWS_DEFAULT_BATCH));
    if (batchSize > 1) {
      // Exchange works through the items of one request one after the other: one slot, like a Graph dependsOn chain.
      this.batch = { maxOps: batchSize, mode: 'chain', parallelism: 1, run: (calendar, ops) => this.runBatch(calendar, ops) };
    }
    this.watch = new EwsWatch(
      this.connection(),
      (mailbox, body, count) => this.unwrap(this.send(mailbox, 'GetItem', body, 'get', count)),
      this.mapping,
      (message, mailbox) => this.failed(message, mailbox, 'get'),
    );
  }

  /**
   * Where the mailbox lives, as this organisation's SOAP Autodiscover answers (autodiscover.ts), asked as the service
   * account that serves the mailbox, on a connection of its own (Autodiscover is not EWS: no EWS budget is spent).
   */
  async locate(mailbox: string): Promise<MailboxLocation> {
    const account = this.accountFor(mailbox);
    const connection = (url: string): AccountConnection => {
      let made = account.autodiscover.get(url);
      if (!made) {
        const { caPem, requestTimeoutMs, maxResponseBytes, proxy } = this.options;
        // Autodiscover goes out through the same proxy as EWS itself (config/proxy.ts).
        made = new AccountConnection(account.credentials, { url, ...(caPem ? { caPem } : {}), timeoutMs: requestTimeoutMs ?? 60_000, slots: 1, account: account.name, ...(maxResponseBytes ? { maxResponseBytes } : {}), ...(proxy ? { proxy } : {}) });
        account.autodiscover.set(url, made);
      }
      return made;
    };
    return autodiscoverLocation(connection, this.autodiscoverUrl(), mailbox, account.name);
  }

  /**
   * locate()'s lane: one question at a time per Autodiscover host and service account, as locate() has one
   * connection per account and URL. The scheduler keeps the others waiting in this lane (no global place, so
   * deliveries go on); one question's own redirects follow one another anyway.
   */
  locateLane(mailbox: string): ServiceLane {
    return { key: `autodiscover:${new URL(this.autodiscoverUrl()).host}:${this.accountFor(mailbox).name.toLowerCase()}`, concurrency: 1 };
  }

  private autodiscoverUrl(): string {
    return this.options.autodiscoverUrl ?? defaultAutodiscoverUrl(this.options.url);
  }

  /** The service account that serves the calendar (rendezvous hashing over the pool; stable). */
  serviceAccount(calendar: string): string {
    return this.accountFor(calendar).name;
  }

  /**
   * The calendar's lane in the scheduler: its service account, whose concurrency (`accountConcurrency`), optional
   * budget (`accountItemsPerMinute`) and throttling Exchange keeps for every mailbox the account serves.
   */
  laneFor(calendar: string): ServiceLane {
    return this.accountFor(calendar).lane;
  }

  /** Per account: requests sent, throttling answers, most requests in flight at once. */
  accountStats(): AccountStats[] {
    return this.accounts.map((account) => ({ account: account.name, requests: account.requests, busy: account.busy, maxInFlight: account.connection.maxInFlight }));
  }

  private accountFor(calendar: string): ServiceAccount {
    let account = this.assignments.get(calendar);
    if (!account) {
      account = this.accounts[assignAccount(this.accounts, calendar)]!;
      this.assignments.set(calendar, account);
    }
    return account;
  }

  private context(calendar: string): RequestContext {
    return { access: this.options.access, serverVersion: this.options.serverVersion, mailbox: calendar };
  }

  private errorContext(calendar: string, operation: ErrorContext['operation']): ErrorContext {
    return { access: this.options.access, auth: this.options.auth, account: this.accountFor(calendar).name, mailbox: calendar, operation };
  }

  private rememberChangeKey(item: { itemId: string; changeKey: string | null }): void {
    if (!item.changeKey) return;
    this.changeKeys.delete(item.itemId);
    this.changeKeys.set(item.itemId, item.changeKey);
    if (this.changeKeys.size > MAX_REMEMBERED_CHANGE_KEYS) this.changeKeys.delete(this.changeKeys.keys().next().value!);
  }

  /**
   * One EWS request as the calendar's account. Resolves with the response messages (one per item of the request); a
   * failure of the request as a whole rejects with RequestFailed.
   *
   * Exchange throttles in three forms (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange,
   * "Throttling related error codes"): HTTP 503 (requests queuing in IIS), HTTP 500 with ErrorServerBusy and a
   * BackOffMilliseconds hint, and HTTP 200 whose items carry ErrorInternalServerError with an inner ErrorServerBusy
   * (read as ErrorServerBusy, responses.ts). Each is a transient TargetError that throttles the account
   * (errors.ts): the scheduler pauses the account's lane — every mailbox of that account waits, not just this one —
   * for BackOffMilliseconds (or Retry-After) and sends the request again when it says; items refused one by one go
   * back to the engine as transient outcomes. The target itself never waits.
   */
  private async send(calendar: string, operation: Operation, body: XmlElement, what: ErrorContext['operation'], expected: number, directory = false, extraHeaders: Record<string, string> = {}): Promise<ResponseMessage[]> {
    const account = this.accountFor(calendar);
    const context = this.errorContext(calendar, what);
    // A directory request (GetRooms) asks as the service account itself: it acts for no mailbox, so it impersonates
    // none and names no anchor mailbox.
    const xml = envelope(directory ? { ...this.context(calendar), access: 'delegate' } : this.context(calendar), body);
    // Always the target mailbox as anchor: Exchange routes the request to the server holding it (required with
    // impersonation, harmless and faster with delegate access); SOAPAction as the WSDL binds the operation.
    const headers: Record<string, string> = directory ? { soapaction: soapAction(operation) } : { 'x-anchormailbox': calendar, soapaction: soapAction(operation), ...extraHeaders };
    account.requests++;
    const answer = await this.post(account, xml, headers);
    const refusal = this.refusal(answer, operation, context);
    if (refusal) {
      if (refusal.error.throttles) account.busy++;
      throw new RequestFailed(refusal);
    }
    const messages = (parseSoapAnswer(answer.body, operation) as Extract<SoapAnswer, { kind: 'messages' }>).messages;
    // Some items of a batch refused as busy (the others done): those go back to the engine as transient.
    if (messages.some((message) => message.code === 'ErrorServerBusy')) account.busy++;
    for (const message of messages) {
      if (message.code === 'ErrorSchemaValidation') this.log(`EWS refused an item of a ${operation} request as malformed (a calpush bug): ${message.code}: ${message.message}`);
    }
    if (messages.length !== expected) {
      throw new RequestFailed({
        error: new TargetError('transient', 'ResponseCountMismatch', `EWS answered ${messages.length} messages to a ${operation} of ${expected} items`, { status: answer.status }),
        refused: false,
      });
    }
    return messages;
  }

  /** The HTTP exchange itself; a request that got no answer is a RequestFailed (refused only when NTLM never let it in). */
  private async post(account: ServiceAccount, xml: string, headers: Record<string, string>): Promise<HttpAnswer> {
    try {
      const answer = await account.connection.post(xml, headers);
      this.answered = true;
      return answer;
    } catch (error) {
      if (error instanceof TargetError) throw new RequestFailed({ error: this.unreachable(error), refused: error.scope === 'fatal' && error.code.startsWith('Ntlm') });
      throw error;
    }
  }

  /**
   * What is wrong with an answer that is not a set of response messages: the failure, and whether Exchange certainly
   * did nothing (`refused`). Null for a readable answer with response messages.
   */
  private refusal(answer: HttpAnswer, operation: Operation, context: ErrorContext): SendFailure | null {
    const { status } = answer;
    if (status === 401 || status === 403 || status === 404 || status === 405 || (status >= 300 && status < 400)) {
      return { error: classifyHttpStatus(status, answer.headers, context, this.options.url), refused: true };
    }
    if (status === 503) {
      // "Indicates that EWS requests are queuing with IIS" (ews-throttling-in-exchange): never reached EWS.
      return { error: classifyHttpStatus(status, answer.headers, context, this.options.url), refused: true };
    }
    const parsed = parseSoapAnswer(answer.body, operation);
    if (parsed.kind === 'fault') {
      const error = classifyResponseCode(parsed.code, parsed.message, parsed.values, context, status);
      if (parsed.code === 'ErrorSchemaValidation' || parsed.code === 'ErrorInvalidRequest') this.log(`EWS refused a ${operation} request as malformed (a calpush bug): ${error.message}`);
      // A fault Exchange sends before touching an item means nothing happened; any other (a timeout, an internal
      // error after a batch was partly done: EWS "limits the execution time of a batch request to one minute") leaves
      // the outcome unknown, so creates are looked up by transactionId before they are sent again.
      return { error, refused: REFUSED_BEFORE_WORK.has(parsed.code) };
    }
    if (parsed.kind === 'unreadable' || status !== 200) {
      const error =
        status === 200
          ? new TargetError('transient', 'UnreadableAnswer', `EWS answered ${operation} with something that is not its SOAP answer (${parsed.kind === 'unreadable' ? parsed.reason : 'unexpected'})`, { status })
          : classifyHttpStatus(status, answer.headers, context, this.options.url);
      return { error, refused: false };
    }
    return null;
  }

  /**
   * Until Exchange has answered once, a refused or unroutable connection means target.url is wrong (or Exchange is
   * down) for every mailbox alike: the run stops with that instead of retrying and failing every request.
   */
  private unreachable(error: TargetError): TargetError {
    if (this.answered || !(error instanceof NetworkError) || (error.reason !== 'refused' && error.reason !== 'unreachable')) return error;
    return new TargetError('fatal', error.code, `could not reach Exchange: ${error.message}`, {
      remedy: error.proxy ? error.remedy : `check target.url (${this.options.url}): ${error.remedy ?? 'is Exchange running?'}`,
      cause: error,
    });
  }

  private failed(message: ResponseMessage, calendar: string, what: ErrorContext['operation']): TargetError {
    return classifyResponseCode(message.code, message.message, message.values, this.errorContext(calendar, what));
  }

  private static ok(message: ResponseMessage): boolean {
    return message.responseClass !== 'Error';
  }

  // ---- the resource agent's requests (meetings.ts) -------------------------------------------------------------

  /** The meeting requests of resource mailboxes, read and answered as the mailbox's service account (issue #15). */
  meetings(): EwsMeetingDesk {
    return new EwsMeetingDesk(this.connection());
  }

  /** One request of one item as the mailbox's service account, for the readers beside the target (the agent's desk, the watch). */
  private connection(): EwsConnection {
    return {
      context: (mailbox) => this.context(mailbox),
      laneFor: (mailbox) => this.laneFor(mailbox),
      call: async (mailbox, operation, body, what) => {
        const messages = await this.unwrap(this.send(mailbox, operation, body, what, 1));
        const message = messages[0]!;
        if (!EwsTarget.ok(message)) throw this.failed(message, mailbox, what);
        return message;
      },
    };
  }

  // ---- streaming notifications (streaming.ts) ------------------------------------------------------------------

  /** Streaming settings, with the defaults filled in. */
  get streamingOptions(): EwsStreamingOptions {
    return { ...DEFAULT_EWS_STREAMING, ...this.options.streaming };
  }

  /**
   * The lane of the hanging connections of the mailbox's service account: as many at once as the account's share of
   * Exchange's HangingConnectionLimit (target.streaming.hangingConnections), apart from its ordinary requests.
   */
  streamLaneFor(mailbox: string): ServiceLane {
    return { key: `${this.laneFor(mailbox).key}:streaming`, concurrency: this.streamingOptions.hangingConnections };
  }

  /** Subscribe, GetStreamingEvents and Unsubscribe as the mailbox's service account, for engine/ews-streaming.ts. */
  streamingChannel(): StreamingChannel {
    return {
      laneFor: (mailbox) => this.laneFor(mailbox),
      streamLaneFor: (mailbox) => this.streamLaneFor(mailbox),
      accountOf: (mailbox) => this.laneFor(mailbox).key,
      subscribe: async (mailbox, folders, anchor) => {
        // Affinity: the group's anchor mailbox and X-PreferServerAffinity route every subscription of one
        // connection to the same mailbox server (how-to-maintain-affinity-between-group-of-subscriptions-and-mailbox-server).
        const headers = { 'x-anchormailbox': anchor, 'x-preferserveraffinity': 'true' };
        const [message] = await this.unwrap(this.send(mailbox, 'Subscribe', subscribeBody(this.context(mailbox), folders), 'list', 1, false, headers));
        if (!EwsTarget.ok(message!)) throw this.failed(message!, mailbox, 'list');
        const id = text(child(message!.node, 'SubscriptionId'));
        if (!id) throw new TargetError('mailbox', 'UnreadableAnswer', `EWS answered Subscribe for ${mailbox} without a SubscriptionId`);
        return id;
      },
      unsubscribe: async (mailbox, subscriptionId, anchor) => {
        const [message] = await this.unwrap(this.send(mailbox, 'Unsubscribe', unsubscribeBody(subscriptionId), 'list', 1, false, { 'x-anchormailbox': anchor }));
        if (!EwsTarget.ok(message!) && message!.code !== 'ErrorSubscriptionNotFound') throw this.failed(message!, mailbox, 'list');
      },
      listen: (anchor, subscriptionIds, onPart, signal) => this.listen(anchor, subscriptionIds, onPart, signal),
    };
  }

  /** One GetStreamingEvents connection, read as it arrives until the server ends it (or `signal` stops it). */
  private async listen(anchor: string, subscriptionIds: readonly string[], onPart: (part: StreamPart) => void, signal: AbortSignal): Promise<void> {
    const account = this.accountFor(anchor);
    const settings = this.streamingOptions;
    account.streams ??= new AccountConnection(account.credentials, {
      url: this.options.url,
      ...(this.options.caPem ? { caPem: this.options.caPem } : {}),
      timeoutMs: this.requestTimeoutMs,
      slots: settings.hangingConnections,
      account: account.name,
      ...(this.options.proxy ? { proxy: this.options.proxy } : {}),
    });
    const context = this.errorContext(anchor, 'list');
    const reader = new StreamReader({ maxEnvelopeBytes: settings.maxEnvelopeBytes, onPart, refused: (code, message, values) => classifyResponseCode(code, message, values, context) });
    const xml = envelope(this.context(anchor), getStreamingEventsBody(subscriptionIds, settings.connectionTimeoutMinutes));
    const headers = { 'x-anchormailbox': anchor, soapaction: soapAction('GetStreamingEvents') };
    // The server closes after ConnectionTimeout; a minute more before calpush gives up on a silent connection.
    const limits = { maxBytes: settings.maxConnectionBytes, totalMs: (settings.connectionTimeoutMinutes + 1) * 60_000, setting: 'target.streaming.maxConnectionBytes' };
    account.requests++;
    let answer: HttpAnswer;
    try {
      answer = await account.streams.post(xml, headers, { chunk: (chunk) => reader.feed(chunk), limits, signal });
      this.answered = true;
    } catch (error) {
      throw error instanceof TargetError ? this.unreachable(error) : error;
    }
    if (answer.status !== 200) {
      const refusal = this.refusal(answer, 'GetStreamingEvents', context);
      throw refusal?.error ?? classifyHttpStatus(answer.status, answer.headers, context, this.options.url);
    }
    reader.end();
  }

  /** The rooms of room lists (GetRooms), asked as a service account, for the `roomList` entries of the config (issue #15). */
  rooms(): EwsRoomDirectory {
    return new EwsRoomDirectory({
      laneFor: (list) => this.laneFor(list),
      call: async (list, body) => {
        const [message] = await this.unwrap(this.send(list, 'GetRooms', body, 'list', 1, true));
        // An unknown list is the directory's to name; anything else (busy, access) is classified as for every request.
        if (!EwsTarget.ok(message!) && message!.code !== 'ErrorNameResolutionNoResults') throw this.failed(message!, list, 'list');
        return message!;
      },
    });
  }

  /** The members of distribution groups (ExpandDL), asked as a service account, for the agent's organizers.groups. */
  groups(): EwsGroupDirectory {
    return new EwsGroupDirectory({
      laneFor: (group) => this.laneFor(group),
      call: async (group, body) => {
        const [message] = await this.unwrap(this.send(group, 'ExpandDL', body, 'list', 1, true));
        // An unknown group is the directory's to name; anything else (busy, access) is classified as for every request.
        if (!EwsTarget.ok(message!) && message!.code !== 'ErrorNameResolutionNoResults') throw this.failed(message!, group, 'list');
        return message!;
      },
    });
  }

  // ---- listing -------------------------------------------------------------------------------------------------

  async listOwned(calendar: string, cursor?: string): Promise<OwnedPage> {
    if (cursor !== undefined && !/^\d{1,9}$/.test(cursor)) throw new TargetError('item', 'BadCursor', `not an EWS listing cursor: ${cursor.slice(0, 40)}`);
    const offset = cursor === undefined ? 0 : Number(cursor);
    const [message] = await this.unwrap(this.send(calendar, 'FindItem', findOwnedBody(this.context(calendar), offset, this.pageSize), 'list', 1));
    if (!EwsTarget.ok(message!)) throw this.failed(message!, calendar, 'list');
    const items: OwnedItem[] = [];
    for (const item of message!.items) {
      this.rememberChangeKey(item);
      const tag = item.tag ? parseTagValue(item.tag) : null;
      // Tagged by another calpush instance, or a tag we cannot read: not ours to touch.
      if (!tag || tag.instance !== this.options.instance) continue;
      items.push({ key: tag.key, itemId: item.itemId, changeKey: item.changeKey, contentHash: tag.contentHash, transactionId: item.transactionId });
    }
    const paging = message!.paging;
    const next = paging && !paging.includesLastItemInRange && paging.nextOffset !== null && paging.nextOffset > offset ? String(paging.nextOffset) : undefined;
    return next ? { items, next } : { items };
  }

  /** Turns a RequestFailed into its TargetError. */
  private async unwrap<T>(promise: Promise<T>): Promise<T> {
    try {
      return await promise;
    } catch (error) {
      if (error instanceof RequestFailed) throw error.failure.error;
      throw error;
    }
  }

  // ---- creating ------------------------------------------------------------------------------------------------

  /**
   * Of these creates, those whose earlier attempt may have landed: looks them up by transactionId and returns the
   * items found (ours, this instance), with those found before whose outcome was not handed back yet. The others are
   * safe to send. Call handedBack() once the outcomes are returned.
   */
  private async recover(calendar: string, transactionIds: string[]): Promise<Map<string, ItemRef>> {
    const found = new Map<string, ItemRef>();
    for (const id of transactionIds) {
      const hit = this.landed.get(`${calendar}\n${id}`);
      if (hit) found.set(id, hit);
    }
    const doubtful = transactionIds.filter((id) => !found.has(id) && this.uncertain.has(`${calendar}\n${id}`));
    if (doubtful.length === 0) return found;
    const [message] = await this.unwrap(this.send(calendar, 'FindItem', findByTransactionBody(this.context(calendar), doubtful), 'list', 1));
    if (!EwsTarget.ok(message!)) throw this.failed(message!, calendar, 'list');
    const wanted = new Set(doubtful);
    for (const item of message!.items) {
      const tag = item.tag ? parseTagValue(item.tag) : null;
      if (!tag || tag.instance !== this.options.instance || !item.transactionId || !wanted.has(item.transactionId) || found.has(item.transactionId)) continue;
      const ref = { itemId: item.itemId, changeKey: item.changeKey };
      found.set(item.transactionId, ref);
      this.landed.set(`${calendar}\n${item.transactionId}`, ref);
      this.rememberChangeKey(item);
    }
    for (const id of doubtful) this.uncertain.delete(`${calendar}\n${id}`);
    return found;
  }

  /** The outcomes of these creates are returned to the engine: what was found of them need not be kept. */
  private handedBack(calendar: string, transactionIds: string[]): void {
    for (const id of transactionIds) this.landed.delete(`${calendar}\n${id}`);
  }

  /** One CreateItem for several events; outcomes in order. Rejects with RequestFailed when the request as a whole failed. */
  private async createMany(calendar: string, creates: Array<{ desired: DesiredEvent; transactionId: string }>): Promise<BatchOutcome[]> {
    const mark = () => creates.forEach((create) => this.uncertain.add(`${calendar}\n${create.transactionId}`));
    let messages: ResponseMessage[];
    try {
      messages = await this.send(calendar, 'CreateItem', createItemBody(this.context(calendar), creates, this.mapping), 'create', creates.length);
    } catch (error) {
      if (!(error instanceof RequestFailed) || !error.failure.refused) mark();
      throw error;
    }
    return messages.map((message, index): BatchOutcome => {
      const create = creates[index]!;
      if (!EwsTarget.ok(message)) return { ok: false, error: this.failed(message, calendar, 'create') };
      const item = message.items[0];
      if (!item) {
        this.uncertain.add(`${calendar}\n${create.transactionId}`);
        return { ok: false, error: new TargetError('transient', 'MissingItemId', 'the CreateItem answer carries no item id') };
      }
      this.rememberChangeKey(item);
      return { ok: true, item: { itemId: item.itemId, changeKey: item.changeKey } };
    });
  }

  async create(desired: DesiredEvent, transactionId: string): Promise<ItemRef> {
    const calendar = desired.event.calendar;
    const recovered = await this.recover(calendar, [transactionId]);
    const hit = recovered.get(transactionId);
    if (hit) {
      this.handedBack(calendar, [transactionId]);
      return hit;
    }
    const [outcome] = await this.unwrap(this.createMany(calendar, [{ desired, transactionId }]));
    if (!outcome!.ok) throw outcome!.error;
    return outcome!.item!;
  }

  // ---- updating ------------------------------------------------------------------------------------------------

  /**
   * Current ChangeKeys by GetItem, checking each item still carries our tag. Per item: a ref or the failure (an item
   * that is gone only after the mailbox was found reachable, see confirmGone).
   */
  private async currentChangeKeys(calendar: string, items: ItemRef[]): Promise<Array<ItemRef | TargetError>> {
    const messages = await this.send(calendar, 'GetItem', getItemsBody(items), 'get', items.length);
    const results = messages.map((message, index): ItemRef | TargetError => {
      if (!EwsTarget.ok(message)) return this.failed(message, calendar, 'get');
      const item: ParsedItem | undefined = message.items[0];
      if (!item) return new TargetError('transient', 'MissingItemId', 'the GetItem answer carries no item');
      const tag = item.tag ? parseTagValue(item.tag) : null;
      if (!tag || tag.instance !== this.options.instance) {
        // Someone removed our tag (or it now belongs elsewhere): not ours to change any more. As "gone", the
        // engine forgets it and creates the event anew; the item itself is left alone.
        return new TargetError('gone', 'NotOurs', `item ${items[index]!.itemId.slice(0, 16)}… no longer carries this instance's tag`);
      }
      this.rememberChangeKey(item);
      return { itemId: item.itemId, changeKey: item.changeKey };
    });
    return this.confirmGone(calendar, results);
  }

  /**
   * Exchange answers ErrorItemNotFound also when "you do not have permission to access the item"
   * (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode), so a service account
   * that lost its rights sees every item of ours as gone. Before an ErrorItemNotFound counts as gone (a delete done,
   * an update re-created), the calendar folder is read once (GetFolder): refused there, the mailbox has become
   * unreachable and every such item gets that mailbox-level failure instead — no delete is recorded, nothing is
   * created twice. Results that are not ErrorItemNotFound pass through.
   */
  private async confirmGone<T>(calendar: string, results: Array<T | TargetError>): Promise<Array<T | TargetError>> {
    if (!results.some((result) => result instanceof TargetError && result.code === 'ErrorItemNotFound')) return results;
    let unreachable: TargetError | null;
    try {
      const [message] = await this.send(calendar, 'GetFolder', getCalendarFolderBody(this.context(calendar)), 'list', 1);
      unreachable = EwsTarget.ok(message!) ? null : this.failed(message!, calendar, 'list');
    } catch (error) {
      unreachable = error instanceof RequestFailed ? error.failure.error : error instanceof TargetError ? error : new TargetError('transient', 'InternalError', String(error));
    }
    if (!unreachable) return results;
    return results.map((result) => (result instanceof TargetError && result.code === 'ErrorItemNotFound' ? unreachable : result));
  }

  /** The ChangeKey to send for an item: the freshest this process has seen, else the one delivery stored. */
  private changeKeyOf(item: ItemRef): ItemRef {
    return { itemId: item.itemId, changeKey: this.changeKeys.get(item.itemId) ?? item.changeKey ?? null };
  }

  /**
   * UpdateItem for several events with the ChangeKeys we hold. Exchange wants a current one "even when conflict
   * resolution is set to always overwrite" (ErrorChangeKeyRequiredForWriteOperations; ErrorStaleObject "when the
   * change key is not up-to-date or was not supplied. Call the GetItem operation to retrieve an updated change key
   * and then try the operation again": https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode).
   * So a refused ChangeKey is read again with GetItem — which also checks the item still carries our tag: a person's
   * edit is overwritten (the source is the authority), an item that is no longer ours is not — and the update sent
   * once more. Rejects with RequestFailed when a request as a whole failed.
   */
  private async updateMany(calendar: string, updates: Array<{ desired: DesiredEvent; item: ItemRef }>): Promise<BatchOutcome[]> {
    const outcomes: Array<BatchOutcome | undefined> = new Array(updates.length).fill(undefined);
    let pending = updates.map((update, index) => ({ index, desired: update.desired, item: this.changeKeyOf(update.item) }));
    const refresh = (entries: typeof pending) => this.refreshed(calendar, entries, outcomes);

    if (this.changeKeyRequired) {
      const unknown = pending.filter((entry) => !entry.item.changeKey);
      pending = [...pending.filter((entry) => entry.item.changeKey), ...(await refresh(unknown))];
    }
    for (let round = 1; pending.length > 0; round++) {
      const messages = await this.send(calendar, 'UpdateItem', updateItemBody(pending, this.mapping), 'update', pending.length);
      const again: typeof pending = [];
      const results = await this.confirmGone(
        calendar,
        messages.map((message) => (EwsTarget.ok(message) ? message : this.failed(message, calendar, 'update'))),
      );
      results.forEach((result, i) => {
        const entry = pending[i]!;
        if (!(result instanceof TargetError)) {
          const item = result.items[0];
          if (item) this.rememberChangeKey(item);
          outcomes[entry.index] = { ok: true, item: { itemId: item?.itemId ?? entry.item.itemId, changeKey: item?.changeKey ?? null } };
        } else if (CHANGE_KEY_CODES.has(result.code) && round === 1) {
          if (result.code.startsWith('ErrorChangeKeyRequired')) this.changeKeyRequired = true;
          again.push(entry);
        } else {
          outcomes[entry.index] = { ok: false, error: result };
        }
      });
      pending = await refresh(again);
    }
    return outcomes.map((outcome) => outcome ?? { ok: false, error: new TargetError('transient', 'NotSent', 'the update was not sent') });
  }

  /** Entries with their current ChangeKey (GetItem); an entry that cannot have one gets its failure as outcome. */
  private async refreshed<E extends { index: number; item: ItemRef }>(calendar: string, entries: E[], outcomes: Array<BatchOutcome | undefined>): Promise<E[]> {
    if (entries.length === 0) return entries;
    const current = await this.currentChangeKeys(calendar, entries.map((entry) => entry.item));
    const kept: E[] = [];
    entries.forEach((entry, i) => {
      const result = current[i]!;
      if (result instanceof TargetError) outcomes[entry.index] = { ok: false, error: result };
      else kept.push({ ...entry, item: result });
    });
    return kept;
  }

  async update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
    const [outcome] = await this.unwrap(this.updateMany(desired.event.calendar, [{ desired, item }]));
    if (!outcome!.ok) throw outcome!.error;
    return outcome!.item!;
  }

  // ---- deleting ------------------------------------------------------------------------------------------------

  /**
   * DeleteItem with the ChangeKeys we hold. A ChangeKey the server refuses is read again (GetItem, which checks the
   * tag) and the delete sent once more; an item that no longer carries our tag is forgotten and left alone. An
   * ErrorItemNotFound counts as deleted only once the mailbox is known to be reachable (confirmGone).
   */
  private async deleteMany(calendar: string, items: ItemRef[]): Promise<BatchOutcome[]> {
    const outcomes: Array<BatchOutcome | undefined> = new Array(items.length).fill(undefined);
    let pending = items.map((item, index) => ({ index, item: this.changeKeyOf(item) }));
    for (let round = 1; pending.length > 0; round++) {
      const messages = await this.send(calendar, 'DeleteItem', deleteItemBody(pending.map((entry) => entry.item), this.deleteType), 'delete', pending.length);
      const results = await this.confirmGone(
        calendar,
        messages.map((message) => (EwsTarget.ok(message) ? message : this.failed(message, calendar, 'delete'))),
      );
      const again: typeof pending = [];
      results.forEach((result, i) => {
        const entry = pending[i]!;
        if (!(result instanceof TargetError) || result.code === 'ErrorItemNotFound') {
          this.changeKeys.delete(entry.item.itemId);
          outcomes[entry.index] = { ok: true };
        } else if (CHANGE_KEY_CODES.has(result.code) && round === 1) {
          again.push(entry);
        } else {
          outcomes[entry.index] = { ok: false, error: result };
        }
      });
      pending = await this.refreshed(calendar, again, outcomes);
    }
    // Gone meanwhile (confirmed), or no longer ours: nothing of ours is left to delete.
    return outcomes.map((outcome) =>
      outcome && !outcome.ok && outcome.error.scope === 'gone' ? { ok: true } : (outcome ?? { ok: false, error: new TargetError('transient', 'NotSent', 'the delete was not sent') }),
    );
  }

  async remove(calendar: string, item: ItemRef): Promise<void> {
    const [outcome] = await this.unwrap(this.deleteMany(calendar, [item]));
    if (!outcome!.ok) throw outcome!.error;
  }

  // ---- batches -------------------------------------------------------------------------------------------------

  /**
   * Creates, updates and deletes of one calendar, as (at most) one request of each kind. A request that fails as
   * a whole before anything was done rejects the batch (the scheduler retries it); after something was done, its
   * operations get the failure as their outcome and the rest stands.
   */
  private async runBatch(calendar: string, ops: BatchOp[]): Promise<BatchOutcome[]> {
    const outcomes: Array<BatchOutcome | undefined> = new Array(ops.length).fill(undefined);
    let done = false;
    let stop: TargetError | null = null;
    const step = async (indexes: number[], work: () => Promise<BatchOutcome[]>) => {
      if (indexes.length === 0) return;
      if (stop) {
        for (const index of indexes) outcomes[index] = { ok: false, error: stop };
        return;
      }
      try {
        const results = await work();
        results.forEach((result, i) => (outcomes[indexes[i]!] = result));
        done = true;
      } catch (error) {
        const failure = error instanceof RequestFailed ? error.failure.error : error instanceof TargetError ? error : new TargetError('item', 'InternalError', String(error));
        if (!done) throw failure;
        for (const index of indexes) outcomes[index] = { ok: false, error: failure };
        if (failure.scope === 'fatal' || failure.scope === 'mailbox') stop = failure;
      }
    };

    const creates: number[] = [];
    const updates: number[] = [];
    const deletes: number[] = [];
    ops.forEach((op, index) => (op.kind === 'create' ? creates : op.kind === 'update' ? updates : deletes).push(index));

    await step(creates, async () => {
      const list = creates.map((index) => ops[index] as Extract<BatchOp, { kind: 'create' }>);
      const recovered = await this.recover(calendar, list.map((op) => op.transactionId));
      const results: Array<BatchOutcome | undefined> = list.map((op) => {
        const hit = recovered.get(op.transactionId);
        return hit ? { ok: true, item: hit } : undefined;
      });
      const toSend = list.map((op, i) => ({ op, i })).filter(({ op }) => !recovered.has(op.transactionId));
      if (toSend.length > 0) {
        const sent = await this.createMany(calendar, toSend.map(({ op }) => ({ desired: op.desired, transactionId: op.transactionId })));
        sent.forEach((result, j) => (results[toSend[j]!.i] = result));
      }
      this.handedBack(calendar, list.map((op) => op.transactionId));
      return results.map((result) => result ?? { ok: false, error: new TargetError('transient', 'NotSent', 'not sent') });
    });
    await step(updates, () =>
      this.updateMany(
        calendar,
        updates.map((index) => {
          const op = ops[index] as Extract<BatchOp, { kind: 'update' }>;
          return { desired: op.desired, item: op.item };
        }),
      ),
    );
    await step(deletes, () => this.deleteMany(calendar, deletes.map((index) => (ops[index] as Extract<BatchOp, { kind: 'delete' }>).item)));
    return outcomes.map((outcome) => outcome ?? { ok: false, error: new TargetError('transient', 'NotSent', 'not sent') });
  }

  async close(): Promise<void> {
    for (const account of this.accounts) {
      account.connection.close();
      account.streams?.close();
      for (const connection of account.autodiscover.values()) connection.close();
    }
  }
}
