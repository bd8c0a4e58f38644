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
// paths (GetItem, then UpdateItem again) and the recovery of a create whose answer was lost (FindItem first).
//
// Idempotent create: EWS has no transactionId. Each item carries ours in a second named property
// (CalpushTransactionId). A CreateItem whose answer never arrived (a timeout, a reset connection, a 5xx without a
// SOAP answer) leaves its transactionIds marked uncertain; before such a create is sent again — by the scheduler's
// retry in this process — the calendar is searched for them and a hit is returned instead of creating a second
// item. Across processes (a crash), the engine lists the owned items before re-planning a create whose outcome is
// unknown (delivery.ts, outcomeUnknown), and the tag adopts what did land.
import type { DesiredEvent } from '../../model/event.ts';
import { parseTagValue } from '../graph/mapping.ts';
import { NetworkError } from '../http.ts';
import { TargetError, type BatchCapability, type BatchOp, type BatchOutcome, type CalendarTarget, type ItemRef, type OwnedItem, type OwnedPage } from '../target.ts';
import { AccountGate, assignAccount, type GateStats } from './accounts.ts';
import { CHANGE_KEY_CODES, classifyHttpStatus, classifyResponseCode, DEFAULT_BUSY_BACKOFF_MS, type ErrorContext } from './errors.ts';
import type { MappingOptions } from './mapping.ts';
import {
  createItemBody,
  deleteItemBody,
  envelope,
  findByTransactionBody,
  findOwnedBody,
  getItemsBody,
  updateItemBody,
  type AccessMode,
  type DeleteType,
  type RequestContext,
  type ServerVersion,
} from './requests.ts';
import { backOffMs, parseSoapAnswer, type Operation, type ParsedItem, type ResponseMessage } from './responses.ts';
import { AccountConnection, type EwsCredentials } from './transport.ts';
import { EWS_DEFAULT_ACCOUNT_CONCURRENCY, EWS_DEFAULT_BATCH, EWS_DEFAULT_PAGE } from './schema.ts';
import type { XmlElement } from './xml.ts';

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
  /** Items per FindItem page when listing (≤ 1000, Exchange's default EWSFindCountLimit). Default 500. */
  pageSize?: number;
  /** Default HardDelete: see docs/ews.md ("Deleting"). */
  deleteType?: DeleteType;
  /** Requests in flight per service account. Default 8. */
  accountConcurrency?: number;
  /**
   * Optional client-side budget per service account: items per minute (a CreateItem of 20 counts 20, any other
   * request at least 1). Without it calpush finds the account's budget from Exchange's ErrorServerBusy answers.
   */
  accountItemsPerMinute?: number;
  /** ErrorServerBusy answers to one request that the target waits out itself before the scheduler sees one. Default 3. */
  busyRetries?: number;
  requestTimeoutMs?: number;
  /** Largest answer body (DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** NTLM workstation name; default this host's short name. */
  workstation?: string;
  /** Where calpush bugs (a request Exchange finds malformed) are reported; default process.emitWarning. */
  log?: (message: string) => void;
}

export { EWS_DEFAULT_ACCOUNT_CONCURRENCY, EWS_DEFAULT_BATCH, EWS_DEFAULT_PAGE };

interface ServiceAccount {
  name: string;
  weight: number;
  gate: AccountGate;
  connection: AccountConnection;
}

/** A failure of a request as a whole, and whether the server certainly did not act on it. */
interface SendFailure {
  error: TargetError;
  refused: boolean;
}

class RequestFailed extends Error {
  readonly failure: SendFailure;
  constructor(failure: SendFailure) {
    super(failure.error.message);
    this.failure = failure;
  }
}

const MAX_REMEMBERED_CHANGE_KEYS = 200_000;

export class EwsTarget implements CalendarTarget {
  readonly kind = 'ews' as const;
  readonly batch?: BatchCapability;
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
  /** Set once the server refused an UpdateItem without ChangeKey: from then on it is read first when unknown. */
  private changeKeyRequired = false;
  private readonly busyRetries: number;
  private readonly log: (message: string) => void;
  /** Exchange has answered at least one request (see unreachable()). */
  private answered = false;

  constructor(options: EwsTargetOptions) {
    const url = new URL(options.url);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowInsecureHttp)) {
      throw new TargetError('fatal', 'InsecureEwsUrl', `EWS over ${url.protocol.replace(':', '')} would send credentials and calendars unencrypted`, {
        remedy: 'use the https:// URL of the EWS endpoint (allowInsecureHttp only for a lab)',
      });
    }
    this.options = options;
    this.mapping = { instance: options.instance, allDayTimeZone: options.allDayTimeZone };
    this.pageSize = Math.max(1, Math.min(1000, options.pageSize ?? EWS_DEFAULT_PAGE));
    this.deleteType = options.deleteType ?? 'HardDelete';
    this.busyRetries = Math.max(0, options.busyRetries ?? 3);
    this.log = options.log ?? ((message) => process.emitWarning(message, 'CalpushEwsWarning'));
    const timeoutMs = options.requestTimeoutMs ?? 60_000;
    const makeAccount = (name: string, credentials: EwsCredentials, weight: number, concurrency: number): ServiceAccount => ({
      name,
      weight,
      gate: new AccountGate({ concurrency, ...(options.accountItemsPerMinute ? { itemsPerMinute: options.accountItemsPerMinute } : {}) }),
      connection: new AccountConnection(credentials, { url: options.url, ...(options.caPem ? { caPem: options.caPem } : {}), timeoutMs, slots: concurrency, account: name, ...(options.maxResponseBytes ? { maxResponseBytes: options.maxResponseBytes } : {}) }),
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
  }

  /** The service account that serves the calendar (rendezvous hashing over the pool; stable). */
  laneFor(calendar: string): string {
    return this.accountFor(calendar).name;
  }

  /** Per account: the gate's counters (for the benchmark and diagnostics). */
  accountStats(): Array<{ account: string; stats: GateStats; limit: number }> {
    return this.accounts.map((account) => ({ account: account.name, stats: { ...account.gate.stats }, limit: account.gate.currentLimit }));
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
   * One EWS request as the calendar's account, through the account's gate. Resolves with the response messages
   * (one per item of the request); a failure of the request as a whole rejects with RequestFailed.
   *
   * ErrorServerBusy for the whole request means Exchange did nothing: the account's gate is paused for the
   * BackOffMilliseconds it names (every mailbox of that account waits, not just this one) and the request is sent
   * again, first in the account's line, up to `busyRetries` times; only then does the scheduler see the transient
   * error (with retryAfterMs), so that a budget-bound account does not burn the scheduler's attempts.
   */
  private async send(calendar: string, operation: Operation, body: XmlElement, what: ErrorContext['operation'], expected: number): Promise<ResponseMessage[]> {
    const account = this.accountFor(calendar);
    const context = this.errorContext(calendar, what);
    const xml = envelope(this.context(calendar), body);
    // What the request costs against the account's budget: its items, at least 1 (FindItem, GetItem of one).
    const cost = Math.max(1, operation === 'FindItem' ? 1 : expected);
    for (let round = 0; ; round++) {
      let slot: number;
      try {
        slot = await account.gate.acquire(cost, round > 0);
      } catch (error) {
        throw new RequestFailed({ error: error instanceof TargetError ? error : new TargetError('transient', 'GateClosed', String(error)), refused: true });
      }
      let outcome: 'ok' | 'busy' | 'other' = 'other';
      try {
        let answer;
        try {
          // Always the target mailbox as anchor: Exchange routes the request to the server holding it (required
          // with impersonation, harmless and faster with delegate access).
          answer = await account.connection.post(slot, xml, { 'x-anchormailbox': calendar });
          this.answered = true;
        } catch (error) {
          if (error instanceof TargetError) throw new RequestFailed({ error: this.unreachable(error), refused: error.scope === 'fatal' && error.code.startsWith('Ntlm') });
          throw error;
        }
        const { status } = answer;
        if (status === 401 || status === 403 || status === 404 || status === 405 || (status >= 300 && status < 400)) {
          throw new RequestFailed({ error: classifyHttpStatus(status, answer.headers, context, this.options.url), refused: true });
        }
        const parsed = parseSoapAnswer(answer.body, operation);
        if (parsed.kind === 'fault') {
          const error = classifyResponseCode(parsed.code, parsed.message, parsed.values, context, status);
          if (parsed.code === 'ErrorServerBusy') {
            outcome = 'busy';
            account.gate.busy(error.retryAfterMs ?? DEFAULT_BUSY_BACKOFF_MS);
            if (round < this.busyRetries) continue;
          }
          if (parsed.code === 'ErrorSchemaValidation' || parsed.code === 'ErrorInvalidRequest') this.log(`EWS refused a ${operation} request as malformed (a calpush bug): ${error.message}`);
          throw new RequestFailed({ error, refused: true });
        }
        if (parsed.kind === 'unreadable' || status !== 200) {
          const error =
            status === 200
              ? new TargetError('transient', 'UnreadableAnswer', `EWS answered ${operation} with something that is not its SOAP answer (${parsed.kind === 'unreadable' ? parsed.reason : 'unexpected'})`, { status })
              : classifyHttpStatus(status, answer.headers, context, this.options.url);
          throw new RequestFailed({ error, refused: false });
        }
        // Some items of a batch refused as busy (the others done): those go back to the engine as transient.
        const busy = parsed.messages.find((message) => message.code === 'ErrorServerBusy');
        if (busy) {
          outcome = 'busy';
          account.gate.busy(backOffMs(busy.values) ?? DEFAULT_BUSY_BACKOFF_MS);
        } else {
          outcome = 'ok';
        }
        for (const message of parsed.messages) {
          if (message.code === 'ErrorSchemaValidation') this.log(`EWS refused an item of a ${operation} request as malformed (a calpush bug): ${message.code}: ${message.message}`);
        }
        if (parsed.messages.length !== expected) {
          throw new RequestFailed({
            error: new TargetError('transient', 'ResponseCountMismatch', `EWS answered ${parsed.messages.length} messages to a ${operation} of ${expected} items`, { status }),
            refused: false,
          });
        }
        return parsed.messages;
      } finally {
        account.gate.release(slot, outcome);
      }
    }
  }

  /**
   * Until Exchange has answered once, a refused or unroutable connection means target.url is wrong (or Exchange is
   * down) for every mailbox alike: the run stops with that instead of retrying and failing every request.
   */
  private unreachable(error: TargetError): TargetError {
    if (this.answered || !(error instanceof NetworkError) || (error.reason !== 'refused' && error.reason !== 'unreachable')) return error;
    return new TargetError('fatal', error.code, `could not reach Exchange: ${error.message}`, {
      remedy: `check target.url (${this.options.url}): ${error.remedy ?? 'is Exchange running?'}`,
      cause: error,
    });
  }

  private failed(message: ResponseMessage, calendar: string, what: ErrorContext['operation']): TargetError {
    return classifyResponseCode(message.code, message.message, message.values, this.errorContext(calendar, what));
  }

  private static ok(message: ResponseMessage): boolean {
    return message.responseClass !== 'Error';
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
   * items found (ours, this instance). The others are safe to send.
   */
  private async recover(calendar: string, transactionIds: string[]): Promise<Map<string, ItemRef>> {
    const found = new Map<string, ItemRef>();
    const doubtful = transactionIds.filter((id) => this.uncertain.has(`${calendar}\n${id}`));
    if (doubtful.length === 0) return found;
    const [message] = await this.unwrap(this.send(calendar, 'FindItem', findByTransactionBody(this.context(calendar), doubtful), 'list', 1));
    if (!EwsTarget.ok(message!)) throw this.failed(message!, calendar, 'list');
    for (const item of message!.items) {
      const tag = item.tag ? parseTagValue(item.tag) : null;
      if (!tag || tag.instance !== this.options.instance || !item.transactionId || found.has(item.transactionId)) continue;
      found.set(item.transactionId, { itemId: item.itemId, changeKey: item.changeKey });
      this.rememberChangeKey(item);
    }
    for (const id of doubtful) this.uncertain.delete(`${calendar}\n${id}`);
    return found;
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
    if (hit) return hit;
    const [outcome] = await this.unwrap(this.createMany(calendar, [{ desired, transactionId }]));
    if (!outcome!.ok) throw outcome!.error;
    return outcome!.item!;
  }

  // ---- updating ------------------------------------------------------------------------------------------------

  /** Current ChangeKeys by GetItem, checking each item still carries our tag. Per item: a ref or the failure. */
  private async currentChangeKeys(calendar: string, items: ItemRef[]): Promise<Array<ItemRef | TargetError>> {
    const messages = await this.send(calendar, 'GetItem', getItemsBody(items), 'get', items.length);
    return messages.map((message, index) => {
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
  }

  /** UpdateItem for several events, re-reading stale ChangeKeys once. Rejects with RequestFailed when a request as a whole failed. */
  private async updateMany(calendar: string, updates: Array<{ desired: DesiredEvent; item: ItemRef }>): Promise<BatchOutcome[]> {
    const outcomes: Array<BatchOutcome | undefined> = new Array(updates.length).fill(undefined);
    let pending = updates.map((update, index) => ({ index, desired: update.desired, item: { itemId: update.item.itemId, changeKey: update.item.changeKey ?? this.changeKeys.get(update.item.itemId) ?? null } }));

    const refresh = async (entries: typeof pending): Promise<typeof pending> => {
      if (entries.length === 0) return entries;
      const current = await this.currentChangeKeys(calendar, entries.map((entry) => entry.item));
      const kept: typeof pending = [];
      entries.forEach((entry, i) => {
        const result = current[i]!;
        if (result instanceof TargetError) outcomes[entry.index] = { ok: false, error: result };
        else kept.push({ ...entry, item: result });
      });
      return kept;
    };

    if (this.changeKeyRequired) {
      const unknown = pending.filter((entry) => !entry.item.changeKey);
      const refreshed = await refresh(unknown);
      pending = [...pending.filter((entry) => entry.item.changeKey), ...refreshed];
    }
    for (let round = 1; pending.length > 0; round++) {
      const messages = await this.send(calendar, 'UpdateItem', updateItemBody(pending, this.mapping), 'update', pending.length);
      const again: typeof pending = [];
      messages.forEach((message, i) => {
        const entry = pending[i]!;
        if (EwsTarget.ok(message)) {
          const item = message.items[0];
          if (item) this.rememberChangeKey(item);
          outcomes[entry.index] = { ok: true, item: { itemId: item?.itemId ?? entry.item.itemId, changeKey: item?.changeKey ?? null } };
        } else if (CHANGE_KEY_CODES.has(message.code) && round === 1) {
          if (message.code.startsWith('ErrorChangeKeyRequired')) this.changeKeyRequired = true;
          again.push(entry);
        } else {
          outcomes[entry.index] = { ok: false, error: this.failed(message, calendar, 'update') };
        }
      });
      pending = await refresh(again);
    }
    return outcomes.map((outcome) => outcome ?? { ok: false, error: new TargetError('transient', 'NotSent', 'the update was not sent') });
  }

  async update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
    const [outcome] = await this.unwrap(this.updateMany(desired.event.calendar, [{ desired, item }]));
    if (!outcome!.ok) throw outcome!.error;
    return outcome!.item!;
  }

  // ---- deleting ------------------------------------------------------------------------------------------------

  private async deleteMany(calendar: string, items: ItemRef[]): Promise<BatchOutcome[]> {
    const messages = await this.send(calendar, 'DeleteItem', deleteItemBody(items, this.deleteType), 'delete', items.length);
    return messages.map((message, index): BatchOutcome => {
      this.changeKeys.delete(items[index]!.itemId);
      if (EwsTarget.ok(message) || message.code === 'ErrorItemNotFound') return { ok: true };
      return { ok: false, error: this.failed(message, calendar, 'delete') };
    });
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
    const closed = new TargetError('fatal', 'TargetClosed', 'the EWS target was closed');
    for (const account of this.accounts) {
      account.gate.close(closed);
      account.connection.close();
    }
  }
}
