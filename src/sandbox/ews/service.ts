// EWS at /EWS/Exchange.asmx: an Exchange Server 2016-like SOAP endpoint over the sandbox's shared event store (the
// Graph side sees the same mailboxes and events). Operations: CreateItem, UpdateItem, DeleteItem, FindItem,
// GetItem (calendar items and meeting messages), GetFolder (calendar, inbox), GetRoomLists, GetRooms,
// SyncFolderItems; CreateItem also takes the meeting response objects (ews/meetings.ts).
//
// Request pipeline: authentication (Basic / NTLM, auth.ts) → schema validation (validate.ts) → SOAP headers
// (RequestServerVersion, TimeZoneContext, ExchangeImpersonation) → throttling budget (throttle.ts) → operation.
// Per-item failures are ResponseClass="Error" response messages (HTTP 200, one per item); request-level failures
// (schema, impersonation, throttling) are SOAP faults with HTTP 500
// (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode; docs/sandbox.md, "EWS").
import type { GraphService } from '../graph/service.ts';
import { GraphHttpError } from '../graph/errors.ts';
import { EventStore, sameExtendedPropertyId, type EventRecord } from '../graph/store.ts';
import { isSeriesMaster, occurrencesIn } from '../graph/occurrences.ts';
import { inboxFolderId, type MessageRecord } from '../messages.ts';
import type { SendScope } from '../meetings.ts';
import type { ResolvedZone } from '../graph/timezones.ts';
import { readBody, sleep, type RequestContext } from '../http.ts';
import type { EwsAccountStats, EwsBehaviour, EwsStats, EwsThrottlingOptions, GroupSeed, LatencyOptions, MailboxSeed, RoomListSeed, TenantSeed } from '../types.ts';
import { EwsAccounts, netbiosDomain, type EwsAccount } from './accounts.ts';
import { getUserSettingsAnswer, remoteRoutingAddress } from './autodiscover.ts';
import { EwsAuthenticator } from './auth.ts';
import {
  calendarFolderId,
  compareWith,
  ewsIdFromGraph,
  formatEwsDateTime,
  graphIdFromEws,
  isKnownFieldUri,
  isWellFormedChangeKey,
  isWellFormedId,
  parseEwsDateTime,
  parsePath,
  pathElements,
  readCalendarItem,
  renderCalendarItem,
  resolveZoneOrThrow,
  setExtendedIdComparer,
  UTC_ZONE,
  valueOf,
  type FieldPath,
  type ItemInput,
  type PathValue,
  type Shape,
} from './items.ts';
import { itemClassOf, renderMessage, respondToItem, RESPONSE_OBJECTS, type ReferencedItem } from './meetings.ts';
import { envelope, EwsFault, EwsHttpAnswer, EwsItemError, faultEnvelope, MESSAGES } from './soap.ts';
import { readSyncState, syncFolderItems } from './sync.ts';
import { expectedSoapAction, requestVersionRank, SERVER_VERSION_RANK } from './versions.ts';
import { DEFAULT_EWS_THROTTLING, EwsThrottler, type EwsAdmission } from './throttle.ts';
import { SchemaValidator } from './validate.ts';
import { EwsStreamingSubscriptions } from './streaming.ts';
import { attr, element, elements, esc, firstElement, NS, parseXml, positionOf, tEl, textOf, walk, XmlParseError, type XmlElement } from './xml.ts';

setExtendedIdComparer(sameExtendedPropertyId);

/** IIS/ASP.NET request limit for EWS is large; the sandbox takes 16 MB. */
const MAX_EWS_BODY_BYTES = 16 * 1024 * 1024;
/**
 * EWSFindCountLimit (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange):
 * "The default policy in Exchange limits the page size to 1000 items"; "In Exchange Online and on-premises versions
 * of Exchange starting with Exchange 2013, the EWSFindCountLimit for AQS search and any Exchange search with a
 * restriction is 250 results. An Exchange search without a restriction will return up to 1000 results."
 */
const FIND_COUNT_LIMIT = 1000;
const RESTRICTED_FIND_COUNT_LIMIT_2013 = 250;

/** Paces the items of one request: each after the first is charged to the budget, waiting for it (within the time limit). */
interface ItemPacer {
  /** Resolves true when the request's time limit is reached before the budget has room (the rest is not done). */
  next(): Promise<boolean>;
  overrun: EwsThrottlingOptions['overrun'];
}

interface Mailbox extends MailboxSeed {
  objectId: string;
}

/** Who a request acts for. */
export interface Principal {
  account: EwsAccount;
  /** ExchangeImpersonation target */
  impersonated?: Mailbox;
  /** TimeZoneContext zone (naive dateTimes are read in it; default UTC) */
  zone: ResolvedZone;
}

function emptyAccountStats(): EwsAccountStats {
  return { requests: 0, items: 0, busy: 0, overConcurrency: 0, maxConcurrent: 0, anchorMailboxMissing: 0, anchorMailboxMismatch: 0, impersonated: 0, byOperation: {}, anchorMailboxes: {} };
}

function emptyStats(): EwsStats {
  return { httpRequests: 0, soapActionMissing: 0, soapActionMismatch: 0, unauthorized: 0, schemaRejected: 0, schemaValidationRuns: 0, logins: { basic: 0, ntlm: 0 }, perAccount: {} };
}

export const DEFAULT_EWS_BEHAVIOUR: EwsBehaviour = { serverVersion: 'Exchange2016', delegateDenied: 'ErrorAccessDenied' };

const itemError = (code: keyof typeof MESSAGES | string, message?: string) => new EwsItemError(code, message ?? (MESSAGES as Record<string, string>)[code] ?? code);

/** The folders the sandbox has: each mailbox's calendar and inbox. */
type FolderKind = 'calendar' | 'inbox';

/**
 * SendMeetingInvitations / SendMeetingInvitationsOrCancellations / SendMeetingCancellations as the meeting engine's
 * scope (https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem: SendOnlyToChanged
 * "sent only to attendees that are affected by the change").
 */
function sendScope(value: string | undefined): SendScope {
  if (value === undefined || value === 'SendToNone') return 'none';
  return value === 'SendOnlyToChanged' || value === 'SendToChangedAndSaveCopy' ? 'changed' : 'all';
}

export class EwsService {
  readonly accounts: EwsAccounts;
  readonly throttler: EwsThrottler;
  readonly validator: SchemaValidator;
  /** Streaming notifications: Subscribe, GetStreamingEvents, Unsubscribe (streaming.ts). */
  readonly streaming: EwsStreamingSubscriptions;
  schemaValidation: boolean;
  readonly behaviour: EwsBehaviour;
  stats: EwsStats = emptyStats();
  private readonly onResponse: ((response: { service: 'ews'; status: number; body: string }) => void) | undefined;
  private readonly graph: GraphService;
  private readonly store: EventStore;
  private readonly auth: EwsAuthenticator;
  private readonly latency: LatencyOptions;
  private readonly roomLists: RoomListSeed[];
  private readonly groups: GroupSeed[];
  private readonly folderIds = new Map<string, { address: string; folder: FolderKind }>();
  private runsAtReset = 0;

  constructor(options: {
    graph: GraphService;
    seed: TenantSeed;
    latency: LatencyOptions;
    throttling?: Partial<EwsThrottlingOptions>;
    schemaValidation?: boolean;
    behaviour?: Partial<EwsBehaviour>;
    onResponse?: (response: { service: 'ews'; status: number; body: string }) => void;
  }) {
    this.graph = options.graph;
    this.store = options.graph.store;
    this.latency = options.latency;
    this.roomLists = options.seed.roomLists ?? [];
    this.groups = options.seed.groups ?? [];
    this.accounts = new EwsAccounts(options.seed.ewsAccounts ?? [], this.roomLists, options.seed.domain);
    this.auth = new EwsAuthenticator(this.accounts, options.seed.domain, netbiosDomain(options.seed.domain));
    this.throttler = new EwsThrottler({ ...DEFAULT_EWS_THROTTLING, ...options.throttling });
    this.validator = new SchemaValidator();
    this.schemaValidation = options.schemaValidation ?? true;
    this.behaviour = { ...DEFAULT_EWS_BEHAVIOUR, ...options.behaviour };
    this.streaming = new EwsStreamingSubscriptions(options.graph.changes, () => this.behaviour.serverVersion);
    this.onResponse = options.onResponse;
    for (const m of options.graph.listMailboxes()) {
      this.folderIds.set(calendarFolderId(m.address), { address: m.address.toLowerCase(), folder: 'calendar' });
      this.folderIds.set(inboxFolderId(m.address), { address: m.address.toLowerCase(), folder: 'inbox' });
    }
  }

  resetStats(): void {
    this.stats = emptyStats();
    this.runsAtReset = this.validator.runs;
  }

  private accountStats(account: EwsAccount): EwsAccountStats {
    return (this.stats.perAccount[account.name] ??= emptyAccountStats());
  }

  // -------------------------------------------------------------------------------------------------------------
  // HTTP

  /**
   * SOAP Autodiscover (/autodiscover/autodiscover.svc), signed in like EWS: where each asked user lives
   * (autodiscover.ts). `ewsUrl`: the EWS endpoint it names.
   */
  async handleAutodiscover(ctx: RequestContext, ewsUrl: string, domain: string): Promise<void> {
    const { res } = ctx;
    const outcome = this.auth.authenticate(ctx.req.socket, ctx.headers['authorization']);
    if (!outcome.ok) {
      ctx.note = outcome.reason === 'challenge' ? 'NTLM challenge' : '401';
      res.writeHead(401, { ...outcome.headers, 'content-type': 'text/html', 'content-length': 0 });
      res.end();
      return;
    }
    ctx.note = `Autodiscover ${outcome.account.name}`;
    if (ctx.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-length': 0 });
      res.end();
      return;
    }
    const text = (await readBody(ctx.req, MAX_EWS_BODY_BYTES)).toString('utf8');
    const xml = getUserSettingsAnswer(text, {
      ewsUrl,
      user: (address) => {
        const mailbox = this.graph.mailbox(address);
        if (!mailbox || mailbox.state === 'noMailbox') return { kind: 'unknown' };
        if (mailbox.home === 'online') return { kind: 'mailUser', targetAddress: remoteRoutingAddress(mailbox.address, domain) };
        return { kind: 'mailbox', displayName: mailbox.displayName };
      },
    });
    res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8', 'content-length': Buffer.byteLength(xml) });
    res.end(xml);
  }

  async handle(ctx: RequestContext): Promise<void> {
    this.stats.httpRequests++;
    const { res } = ctx;
    const outcome = this.auth.authenticate(ctx.req.socket, ctx.headers['authorization']);
    if (!outcome.ok) {
      this.stats.unauthorized++;
      ctx.note = outcome.reason === 'challenge' ? 'NTLM challenge' : '401';
      const html = '<!DOCTYPE html><html><head><title>401 - Unauthorized</title></head><body><h1>401 - Unauthorized: Access is denied due to invalid credentials.</h1></body></html>';
      res.writeHead(401, { ...outcome.headers, 'content-type': 'text/html', 'content-length': Buffer.byteLength(html) });
      res.end(html);
      return;
    }
    const account = outcome.account;
    if (ctx.headers['authorization']) this.stats.logins[outcome.scheme]++;
    ctx.note = account.name;
    if (ctx.method !== 'POST') {
      res.writeHead(405, { allow: 'POST', 'content-type': 'text/plain', 'content-length': 0 });
      res.end();
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(ctx.req, MAX_EWS_BODY_BYTES);
    } catch {
      res.writeHead(413, { connection: 'close', 'content-length': 0 });
      res.end();
      return;
    }
    const answer = (status: number, body: string, contentType = 'text/xml; charset=utf-8', headers: Record<string, string> = {}) => {
      if (res.headersSent || res.destroyed) return;
      res.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), 'x-calpush-ews-account': account.name, ...headers });
      res.end(body);
      this.onResponse?.({ service: 'ews', status, body });
    };
    try {
      const xml = await this.process(ctx, account, raw.toString('utf8'));
      if (typeof xml !== 'string') return xml.stream(res);
      if (ctx.dropAnswer) {
        // Fault injection (faults.dropResponseAfterCreate): the items were created, the answer never arrives.
        ctx.note = `${ctx.note} (response dropped)`;
        ctx.req.socket.destroy();
        return;
      }
      answer(200, xml);
    } catch (error) {
      if (error instanceof EwsHttpAnswer) {
        ctx.note = `${ctx.note} HTTP ${error.status}`;
        return answer(error.status, error.body, 'text/html', error.headers);
      }
      if (error instanceof EwsFault) {
        ctx.note = `${ctx.note} ${error.fault.code}`;
        return answer(500, faultEnvelope(error.fault));
      }
      return answer(500, faultEnvelope({ code: 'ErrorInternalServerError', faultString: `An internal server error occurred. The operation failed. (${(error as Error).message})` }));
    }
  }

  private schemaFault(line: number, position: number, violation: string): EwsFault {
    this.stats.schemaRejected++;
    // ErrorSchemaValidation fault (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getserviceconfiguration-operation, error response).
    return new EwsFault({
      code: 'ErrorSchemaValidation',
      faultString: `The request failed schema validation: ${violation}`,
      message: MESSAGES.ErrorSchemaValidation,
      messageXml: `${tEl('LineNumber', line)}${tEl('LinePosition', position)}${tEl('Violation', violation)}`,
    });
  }

  private async process(ctx: RequestContext, account: EwsAccount, text: string): Promise<string | { stream: (res: RequestContext['res']) => void }> {
    await this.validateSchema(text);
    let root: XmlElement;
    try {
      root = parseXml(text);
    } catch (error) {
      const e = error as XmlParseError;
      throw this.schemaFault(e.line ?? 1, e.column ?? 1, e.message);
    }
    if (root.namespaceURI !== NS.soap || root.localName !== 'Envelope') {
      throw this.schemaFault(1, 1, `The root element must be {${NS.soap}}Envelope.`);
    }
    const header = element(root, NS.soap, 'Header');
    const body = element(root, NS.soap, 'Body');
    const request = firstElement(body);
    if (!request || request.namespaceURI !== NS.m) throw this.schemaFault(1, 1, 'The SOAP body must contain an EWS request element.');
    const operation = request.localName ?? '';
    this.checkSoapAction(ctx.headers['soapaction'], operation);
    this.checkVersion(header, request);

    // Headers.
    const principal = this.principal(account, header);
    const stats = this.accountStats(account);
    stats.requests++;
    stats.byOperation[operation] = (stats.byOperation[operation] ?? 0) + 1;
    this.noteAnchor(ctx, stats, principal);
    // A hanging connection is counted against HangingConnectionLimit, not the request budgets (streaming.ts).
    if (operation === 'GetStreamingEvents') return this.getStreamingEvents(request, account);

    // Throttling: per account; under impersonation a copy of the target mailbox's budget per account.
    const items = Math.max(1, this.requestItemCount(request));
    const key = principal.impersonated ? `${account.name.toLowerCase()}|${principal.impersonated.address}` : account.name.toLowerCase();
    const throttling = this.throttler.options;
    const admission = this.throttler.acquire(key, throttling.perItem ? 1 : items);
    if (!admission.ok) return this.throttled(admission, stats, operation, items);
    stats.maxConcurrent = Math.max(stats.maxConcurrent, admission.inFlight);
    try {
      const deadline = Date.now() + throttling.batchTimeLimitMs;
      await sleep((this.latency.perRequestMs ?? 0) + (this.latency.perItemMs ?? 0) * items);
      const pacer = throttling.perItem && throttling.enabled ? this.pacer(key, deadline) : undefined;
      const { xml, handled, drop } = await this.dispatch(operation, request, principal, pacer);
      if (drop) ctx.dropAnswer = true;
      stats.items += Math.max(handled, 0);
      return envelope(xml, this.behaviour.serverVersion);
    } finally {
      admission.release();
    }
  }

  /** 1. Schema (the whole envelope: SOAP 1.1 + messages.xsd/types.xsd). */
  private async validateSchema(text: string): Promise<void> {
    if (!this.schemaValidation || !this.validator.available) return;
    const result = await this.validator.validate(text);
    this.stats.schemaValidationRuns = this.validator.runs - this.runsAtReset;
    if (result.ok) return;
    let position = 1;
    try {
      const root = parseXml(text);
      const name = /^Element '\{[^}]*\}([^']+)'/.exec(result.message)?.[1];
      const at = [...walk(root)].find((el) => positionOf(el).line === result.line && (name === undefined || el.localName === name));
      position = at ? positionOf(at).column + 1 : 1;
    } catch {
      position = 1;
    }
    throw this.schemaFault(result.line, position, result.message);
  }

  /**
   * SOAPAction as services.wsdl binds the operation (SOAP 1.1 §6.1.1: a quoted URI; "An HTTP client MUST use this
   * header field when issuing a SOAP HTTP Request"). A missing one is counted (clients such as the EWS Managed API
   * are accepted by Exchange without it [VERIFY]); one that names another operation is refused as a client fault
   * (the dispatcher of a SOAP 1.1 service routes by it; [VERIFY] Exchange's wording).
   */
  private checkSoapAction(header: string | undefined, operation: string): void {
    if (header === undefined) {
      this.stats.soapActionMissing++;
      return;
    }
    const action = header.trim().replace(/^"(.*)"$/, '$1');
    if (action === expectedSoapAction(operation)) return;
    this.stats.soapActionMismatch++;
    throw new EwsFault({ code: 'ErrorInvalidRequest', clientFault: true, faultString: `The SOAPAction '${action}' does not match the operation ${operation} (expected '${expectedSoapAction(operation)}').` });
  }

  /**
   * The Exchange version the sandbox stands in for: a newer RequestServerVersion than it speaks is refused
   * (ErrorInvalidServerVersion: "the requested server version is invalid",
   * https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode), and Exchange 2010's
   * schema has no LegacyFreeBusyStatus WorkingElsewhere (added in Exchange 2013:
   * https://learn.microsoft.com/dotnet/api/microsoft.exchange.webservices.data.legacyfreebusystatus), so an Exchange 2010
   * server fails such a request at schema validation.
   */
  private checkVersion(header: XmlElement | undefined, request: XmlElement): void {
    const version = attr(element(header, NS.t, 'RequestServerVersion'), 'Version');
    if (version !== undefined && requestVersionRank(version) > SERVER_VERSION_RANK[this.behaviour.serverVersion]) {
      throw new EwsFault({ code: 'ErrorInvalidServerVersion', faultString: MESSAGES.ErrorInvalidServerVersion });
    }
    if (this.behaviour.serverVersion !== 'Exchange2010_SP2') return;
    const offending = [...walk(request)].find((el) => el.localName === 'LegacyFreeBusyStatus' && textOf(el).trim() === 'WorkingElsewhere');
    if (offending) {
      const at = positionOf(offending);
      throw this.schemaFault(at.line, at.column + 1, "The 'http://schemas.microsoft.com/exchange/services/2006/types:LegacyFreeBusyStatus' element is invalid - The value 'WorkingElsewhere' is invalid according to its datatype 'http://schemas.microsoft.com/exchange/services/2006/types:LegacyFreeBusyType' - The Enumeration constraint failed.");
    }
  }

  /**
   * X-AnchorMailbox: "When EWS Impersonation is used, the X-AnchorMailbox should always be correctly set"
   * (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/impersonation-and-ews-in-exchange).
   */
  private noteAnchor(ctx: RequestContext, stats: EwsAccountStats, principal: Principal): void {
    const anchor = ctx.headers['x-anchormailbox']?.trim().toLowerCase();
    if (!anchor) stats.anchorMailboxMissing++;
    else {
      stats.anchorMailboxes[anchor] = (stats.anchorMailboxes[anchor] ?? 0) + 1;
      if (principal.impersonated && anchor !== principal.impersonated.address) stats.anchorMailboxMismatch++;
    }
    if (principal.impersonated) stats.impersonated++;
  }

  /**
   * A request over its budget (or its concurrency), in the form the sandbox is set to. "EWS throttling in Exchange"
   * (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange,
   * "Throttling related error codes"): HTTP 503 — "EWS requests are queuing with IIS"; HTTP 500 — ErrorServerBusy
   * with a BackOffMilliseconds hint (the fault shape: protocol notes B2, github.com/mguessan/davmail/issues/161);
   * HTTP 200 — "an EWS schema-based error response with an ErrorInternalServerError error code. An inner
   * ErrorServerBusy error code may be present" (InnerErrorResponseCode in MessageXml, as Microsoft's support article
   * "Email can't be received because the license is invalid for the mailbox" shows the inner-error shape).
   */
  private throttled(admission: Exclude<EwsAdmission, { ok: true }>, stats: EwsAccountStats, operation: string, items: number): string {
    if (admission.code === 'ErrorExceededConnectionCount') {
      stats.overConcurrency++;
      throw new EwsFault({ code: 'ErrorExceededConnectionCount', faultString: MESSAGES.ErrorExceededConnectionCount });
    }
    stats.busy++;
    const backOff = `<t:Value Name="BackOffMilliseconds">${admission.backOffMs}</t:Value>`;
    switch (this.throttler.options.form) {
      case 'http503':
        throw new EwsHttpAnswer(503, '<!DOCTYPE html><html><head><title>Service Unavailable</title></head><body><h1>Service Unavailable</h1><p>HTTP Error 503. The service is unavailable.</p></body></html>');
      case 'innerError': {
        if (operation === 'GetRoomLists' || operation === 'GetRooms' || operation === 'ExpandDL') break;
        const inner = `<t:Value Name="InnerErrorMessageText">${esc(MESSAGES.ErrorServerBusy)}</t:Value><t:Value Name="InnerErrorResponseCode">ErrorServerBusy</t:Value><t:Value Name="InnerErrorDescriptiveLinkKey">0</t:Value>${backOff}`;
        const message = `<m:${operation}ResponseMessage ResponseClass="Error"><m:MessageText>${esc(MESSAGES.ErrorInternalServerError)}</m:MessageText><m:ResponseCode>ErrorInternalServerError</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey><m:MessageXml>${inner}</m:MessageXml>${this.itemsTail(operation)}</m:${operation}ResponseMessage>`;
        return envelope(this.response(operation, Array.from({ length: items }, () => message)), this.behaviour.serverVersion);
      }
      default:
        break;
    }
    throw new EwsFault({ code: 'ErrorServerBusy', faultString: MESSAGES.ErrorServerBusy, messageXml: backOff });
  }

  /** Waits for the budget before each further item of a request, until the request's time limit. */
  private pacer(key: string, deadline: number): ItemPacer {
    return {
      overrun: this.throttler.options.overrun,
      next: async () => {
        for (;;) {
          const charge = this.throttler.chargeItem(key);
          if (charge.ok) return false;
          if (Date.now() + charge.waitMs > deadline) return true;
          await sleep(charge.waitMs);
        }
      },
    };
  }

  /** The (empty) item list an error message of this operation carries. */
  private itemsTail(operation: string): string {
    return operation === 'CreateItem' || operation === 'UpdateItem' || operation === 'GetItem' ? '<m:Items/>' : '';
  }

  private requestItemCount(request: XmlElement): number {
    switch (request.localName) {
      case 'CreateItem':
        return elements(element(request, NS.m, 'Items'), NS.t).length;
      case 'UpdateItem':
        return elements(element(request, NS.m, 'ItemChanges'), NS.t, 'ItemChange').length;
      case 'DeleteItem':
      case 'GetItem':
        return elements(element(request, NS.m, 'ItemIds'), NS.t).length;
      default:
        return 1;
    }
  }

  /** RequestServerVersion, TimeZoneContext and ExchangeImpersonation. */
  private principal(account: EwsAccount, header: XmlElement | undefined): Principal {
    const principal: Principal = { account, zone: UTC_ZONE };
    const tzContext = element(header, NS.t, 'TimeZoneContext');
    if (tzContext) {
      const id = attr(element(tzContext, NS.t, 'TimeZoneDefinition'), 'Id') ?? '';
      try {
        principal.zone = resolveZoneOrThrow(id);
      } catch {
        // [VERIFY] Exchange's answer to an unknown TimeZoneContext id.
        throw new EwsFault({ code: 'ErrorTimeZone', faultString: `The time zone '${id}' isn't valid.` });
      }
    }
    const impersonation = element(header, NS.t, 'ExchangeImpersonation');
    if (impersonation) {
      const sid = element(impersonation, NS.t, 'ConnectingSID');
      const id = firstElement(sid);
      const value = textOf(id).trim().toLowerCase();
      // PrimarySmtpAddress / SmtpAddress / PrincipalName (the sandbox's UPNs are the addresses) / SID
      // (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-identify-the-account-to-impersonate).
      const mailbox = id && id.localName !== 'SID' ? this.graph.mailbox(value) : undefined;
      if (!mailbox || mailbox.state === 'noMailbox' || mailbox.home === 'online') {
        throw new EwsFault({ code: 'ErrorNonExistentMailbox', faultString: MESSAGES.ErrorNonExistentMailbox });
      }
      if (!EwsAccounts.mayImpersonate(account, mailbox.address)) {
        // ErrorImpersonateUserDenied (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode),
        // a fault for the whole request.
        throw new EwsFault({ code: 'ErrorImpersonateUserDenied', faultString: MESSAGES.ErrorImpersonateUserDenied });
      }
      principal.impersonated = mailbox;
    }
    return principal;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Access

  /** The calendar a folder id (SavedItemFolderId / ParentFolderIds / FolderIds child) points at, after the rights check. */
  private folderMailbox(folder: XmlElement | undefined, p: Principal): Mailbox {
    const target = this.folderOf(folder, p);
    // Calendar items live in calendars only.
    if (target.folder !== 'calendar') throw itemError('ErrorFolderNotFound');
    return target.mailbox;
  }

  /**
   * The mailbox and folder a folder id points at: the sandbox has each mailbox's calendar and inbox (where meeting
   * messages arrive). Rights: the calendar as before; the inbox only as the mailbox itself — impersonation — since
   * the delegates hold a calendar folder permission only.
   */
  folderOf(folder: XmlElement | undefined, p: Principal): { mailbox: Mailbox; folder: FolderKind } {
    let address: string | undefined;
    let kind: FolderKind = 'calendar';
    if (folder) {
      if (folder.localName === 'DistinguishedFolderId') {
        const id = attr(folder, 'Id');
        if (id !== 'calendar' && id !== 'inbox') throw itemError('ErrorFolderNotFound');
        kind = id;
        const email = textOf(element(element(folder, NS.t, 'Mailbox'), NS.t, 'EmailAddress')).trim();
        if (email) address = email.toLowerCase();
      } else if (folder.localName === 'FolderId') {
        const owner = this.folderIds.get(attr(folder, 'Id') ?? '');
        if (!owner) throw itemError('ErrorFolderNotFound');
        address = owner.address;
        kind = owner.folder;
      } else throw itemError('ErrorFolderNotFound');
    }
    if (kind === 'inbox') {
      const mailbox = this.mailboxFor(address, p, false);
      if (p.impersonated?.address !== mailbox.address) throw itemError('ErrorAccessDenied');
      return { mailbox, folder: kind };
    }
    return { mailbox: this.mailboxFor(address, p), folder: kind };
  }

  private mailboxFor(address: string | undefined, p: Principal, checkCalendar = true): Mailbox {
    if (address === undefined) {
      if (p.impersonated) return p.impersonated;
      // The service accounts have no mailbox of their own (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode, ErrorMissingEmailAddress).
      throw itemError('ErrorMissingEmailAddress');
    }
    const mailbox = this.graph.mailbox(address);
    // A mailbox moved to Exchange Online is a mail user on-premises: no mailbox here (its inbox neither).
    if (!mailbox || mailbox.state === 'noMailbox' || mailbox.home === 'online') throw itemError('ErrorNonExistentMailbox');
    if (checkCalendar) this.assertAccess(mailbox.address, p);
    return mailbox;
  }

  /** May the principal open the mailbox's calendar? */
  private mayAccess(address: string, p: Principal): boolean {
    // Impersonation: acting as the impersonated user, who has no rights on other people's calendars in the sandbox.
    if (p.impersonated) return p.impersonated.address === address;
    // Delegate access: calendar folder permission (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-access-a-calendar-as-a-delegate-by-using-ews-in-exchange).
    return EwsAccounts.isDelegate(p.account, address);
  }

  /**
   * The calendar folder without rights: ErrorAccessDenied, or — for a delegate, where the sandbox is set to it —
   * ErrorFolderNotFound, which the responsecode page documents for "the delegate does not have permission to access
   * the folder" (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode).
   */
  private assertAccess(address: string, p: Principal): void {
    if (this.mayAccess(address, p)) return;
    throw itemError(p.impersonated ? 'ErrorAccessDenied' : this.behaviour.delegateDenied);
  }

  /** The event an ItemId names, after the rights check. */
  private itemById(idEl: XmlElement | undefined, p: Principal): { record: EventRecord; mailbox: Mailbox } {
    if (!idEl || (idEl.localName !== 'ItemId' && idEl.localName !== 'ReferenceItemId')) {
      // OccurrenceItemId / RecurringMasterItemId: the sandbox keeps single items only.
      throw itemError('ErrorItemNotFound');
    }
    const id = attr(idEl, 'Id') ?? '';
    if (!isWellFormedId(id)) throw itemError('ErrorInvalidIdMalformed');
    const graphId = graphIdFromEws(id);
    for (const m of this.graph.listMailboxes()) {
      const record = this.store.get(m.address, graphId);
      if (record) {
        const mailbox = this.graph.mailbox(m.address)!;
        // An item the caller may not see is not found: ErrorItemNotFound "occurs when the item was not found or you
        // do not have permission to access the item" (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode).
        if (!this.mayAccess(mailbox.address, p)) break;
        // Moved to Exchange Online: no longer in any on-premises mailbox.
        if (mailbox.home === 'online') break;
        return { record, mailbox };
      }
    }
    throw itemError('ErrorItemNotFound');
  }

  /** A meeting message an ItemId names, in an inbox the principal may open (as the mailbox itself); undefined when the id is no message's. */
  private messageById(idEl: XmlElement | undefined, p: Principal): { message: MessageRecord; mailbox: Mailbox } | undefined {
    if (!idEl || (idEl.localName !== 'ItemId' && idEl.localName !== 'ReferenceItemId')) return undefined;
    const id = attr(idEl, 'Id') ?? '';
    if (!isWellFormedId(id)) return undefined;
    const message = this.graph.messages.find(graphIdFromEws(id));
    if (!message) return undefined;
    // Another mailbox's message is not found for this caller (ErrorItemNotFound, as for events).
    if (p.impersonated?.address !== message.mailbox) throw itemError('ErrorItemNotFound');
    return { message, mailbox: this.graph.mailbox(message.mailbox)! };
  }

  /** What a response object's ReferenceItemId names: a meeting message or a calendar item. */
  private referenced(idEl: XmlElement | undefined, p: Principal): ReferencedItem {
    const found = this.messageById(idEl, p);
    if (found) return { kind: 'message', message: found.message, mailbox: found.mailbox.address };
    const { record, mailbox } = this.itemById(idEl, p);
    return { kind: 'event', record, mailbox: mailbox.address };
  }

  /**
   * A meeting message with the mailbox's calendar copy of its meeting; a series' exceptions are the copy's, or — no
   * copy yet (AutomateProcessing None adds none) — the organiser's series', as Graph's /instances of either has them.
   */
  private renderMessageItem(message: MessageRecord, shape: Shape): string {
    const copy = this.store.findByICalUId(message.mailbox, message.meeting.iCalUId);
    const series = copy ?? (message.meeting.isRecurring ? this.store.findByICalUId(message.meeting.organizer.address, message.meeting.iCalUId) : undefined);
    return renderMessage(message, shape, copy, series);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Operations

  private async dispatch(operation: string, request: XmlElement, p: Principal, pacer: ItemPacer | undefined): Promise<{ xml: string; handled: number; drop?: boolean }> {
    switch (operation) {
      case 'CreateItem':
        return this.createItem(request, p, pacer);
      case 'UpdateItem':
        return this.updateItem(request, p, pacer);
      case 'DeleteItem':
        return this.deleteItem(request, p, pacer);
      case 'GetItem':
        return this.getItem(request, p, pacer);
      case 'FindItem':
        return this.findItem(request, p);
      case 'GetFolder':
        return this.getFolder(request, p);
      case 'GetRoomLists':
        return this.getRoomLists();
      case 'GetRooms':
        return this.getRooms(request);
      case 'ExpandDL':
        return this.expandDl(request);
      case 'SyncFolderItems':
        return this.syncFolderItems(request, p);
      case 'Subscribe':
        return this.subscribe(request, p);
      case 'Unsubscribe':
        return { xml: this.response('Unsubscribe', [this.streaming.unsubscribe(p.account.name, textOf(element(request, NS.m, 'SubscriptionId')).trim())]), handled: 1 };
      default:
        throw new EwsFault({ code: 'ErrorInvalidRequest', faultString: `The request is valid but the sandbox does not implement ${operation}.` });
    }
  }

  /** `<m:XResponseMessage ResponseClass="Error">…` with the error's code and text. */
  private errorMessage(name: string, error: unknown, tail = ''): string {
    if (error instanceof EwsItemError) {
      return `<m:${name} ResponseClass="Error"><m:MessageText>${esc(error.message)}</m:MessageText><m:ResponseCode>${esc(error.code)}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>${tail}</m:${name}>`;
    }
    if (error instanceof EwsFault) throw error;
    const message = error instanceof Error ? error.message : String(error);
    return `<m:${name} ResponseClass="Error"><m:MessageText>An internal server error occurred. The operation failed. ${esc(message)}</m:MessageText><m:ResponseCode>ErrorInternalServerError</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>${tail}</m:${name}>`;
  }

  /**
   * The items of a request one by one. With a pacer (throttling per item), each item after the first waits for the
   * budget; items still waiting when the request's time limit is reached are not done: they are answered
   * ErrorTimeoutExpired, or (overrun "fault") the whole request is answered with that fault although the first items
   * were done — either way the batch comes back half done.
   */
  private async eachItem<T>(items: T[], pacer: ItemPacer | undefined, name: string, work: (item: T) => string): Promise<string[]> {
    const messages: string[] = [];
    for (const [index, item] of items.entries()) {
      if (index > 0 && pacer && (await pacer.next())) {
        if (pacer.overrun === 'fault') throw new EwsFault({ code: 'ErrorTimeoutExpired', faultString: MESSAGES.ErrorTimeoutExpired });
        const timedOut = this.errorMessage(name, itemError('ErrorTimeoutExpired'), this.itemsTail(name.replace(/ResponseMessage$/, '')));
        for (let rest = index; rest < items.length; rest++) messages.push(timedOut);
        break;
      }
      messages.push(work(item));
    }
    return messages;
  }

  private response(name: string, messages: string[]): string {
    return `<m:${name}Response xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:ResponseMessages>${messages.join('')}</m:ResponseMessages></m:${name}Response>`;
  }

  /** Graph's store errors as EWS item errors. */
  private storeError(error: unknown): never {
    if (error instanceof GraphHttpError) {
      if (error.code === 'ErrorPropertyValidationFailure') throw itemError('ErrorCalendarEndDateIsEarlierThanStartDate');
      if (error.code === 'TimeZoneNotSupportedException') throw itemError('ErrorCalendarInvalidTimeZone', error.message);
      throw itemError('ErrorCalendarInvalidPropertyValue', error.message);
    }
    throw error;
  }

  /**
   * Graph start/end for an item's Start/End: a value with Z/offset is absolute; a naive value is read in the item's
   * StartTimeZone/EndTimeZone, else the TimeZoneContext, else UTC ("time zones and EWS",
   * https://learn.microsoft.com/exchange/client-developer/exchange-web-services/time-zones-and-ews-in-exchange).
   */
  private timePoint(value: string, zone: ResolvedZone, readZone: ResolvedZone, which: 'Start' | 'End'): { dateTime: string; timeZone: string } {
    const instant = parseEwsDateTime(value, readZone);
    if (instant === undefined) throw itemError('ErrorCalendarInvalidPropertyValue', `The ${which} value '${value}' is not a valid date and time.`);
    return { dateTime: `${formatEwsDateTime(instant).slice(0, 19)}.${String(instant % 1000).padStart(3, '0')}0000Z`, timeZone: zone.name };
  }

  private graphBody(input: ItemInput, p: Principal, current?: EventRecord): Record<string, unknown> {
    const body: Record<string, unknown> = { ...input.fields };
    const startZone = input.startZoneId !== undefined ? resolveZoneOrThrow(input.startZoneId) : undefined;
    const endZone = input.endZoneId !== undefined ? resolveZoneOrThrow(input.endZoneId) : startZone;
    if (input.start !== undefined) body['start'] = this.timePoint(input.start, startZone ?? current?.start.zone ?? p.zone, startZone ?? p.zone, 'Start');
    else if (startZone && current) body['start'] = { dateTime: `${formatEwsDateTime(current.start.instant)}`, timeZone: startZone.name };
    if (input.end !== undefined) body['end'] = this.timePoint(input.end, endZone ?? current?.end.zone ?? p.zone, endZone ?? p.zone, 'End');
    else if (input.endZoneId !== undefined && endZone && current) body['end'] = { dateTime: `${formatEwsDateTime(current.end.instant)}`, timeZone: endZone.name };
    if (input.extended.length > 0) body['singleValueExtendedProperties'] = input.extended;
    const types = Object.keys(input.attendees) as Array<'required' | 'optional' | 'resource'>;
    if (types.length > 0) {
      const existing = ((current?.fields['attendees'] as Array<Record<string, unknown>> | undefined) ?? []).filter((a) => !types.includes((a['type'] as 'required') ?? 'required'));
      body['attendees'] = [...existing, ...types.flatMap((t) => input.attendees[t] ?? [])];
    }
    return body;
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item
  private async createItem(request: XmlElement, p: Principal, pacer: ItemPacer | undefined): Promise<{ xml: string; handled: number; drop: boolean }> {
    const send = attr(request, 'SendMeetingInvitations');
    const folder = firstElement(element(request, NS.m, 'SavedItemFolderId'));
    const items = elements(element(request, NS.m, 'Items'), NS.t);
    let drop = false;
    const messages = await this.eachItem(items, pacer, 'CreateItemResponseMessage', (item) => {
      try {
        if ((item.localName ?? '') in RESPONSE_OBJECTS) return this.responseObject(item, attr(request, 'MessageDisposition'), p);
        if (item.localName !== 'CalendarItem') throw itemError('ErrorInvalidItemForOperationCreateItem', 'The item type is not supported by the sandbox (calendar items and meeting responses only).');
        // "SendMeetingInvitations … is required for calendar items" (https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem).
        if (send === undefined) throw itemError('ErrorSendMeetingInvitationsRequired');
        const mailbox = this.folderMailbox(folder, p);
        const input = readCalendarItem(item);
        if (input.start === undefined || input.end === undefined) {
          // [VERIFY] Exchange's answer to a calendar item without Start/End.
          throw itemError('ErrorCalendarInvalidPropertyValue', 'Start and End are required for a calendar item in the sandbox.');
        }
        const body = this.graphBody(input, p);
        let record: EventRecord;
        try {
          record = this.store.create(mailbox.address, mailbox.displayName, body);
        } catch (error) {
          this.storeError(error);
        }
        if (input.uid) record.iCalUId = input.uid;
        // A calendar item with attendees is a meeting; SendToAllAndSaveCopy / SendOnlyToAll send its requests,
        // SendToNone saves it unsent (https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem).
        this.graph.meetings.created(record, sendScope(send) === 'none' ? 'none' : 'all');
        if (this.graph.takeCreateDrop(mailbox.address)) drop = true;
        return `<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:CalendarItem><t:ItemId Id="${esc(ewsIdFromGraph(record.id))}" ChangeKey="${esc(record.changeKey)}"/></t:CalendarItem></m:Items></m:CreateItemResponseMessage>`;
      } catch (error) {
        return this.errorMessage('CreateItemResponseMessage', error, '<m:Items/>');
      }
    });
    return { xml: this.response('CreateItem', messages), handled: items.length, drop };
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/updateitem
  private async updateItem(request: XmlElement, p: Principal, pacer: ItemPacer | undefined): Promise<{ xml: string; handled: number }> {
    const conflict = attr(request, 'ConflictResolution') ?? 'AutoResolve';
    const send = attr(request, 'SendMeetingInvitationsOrCancellations');
    const changes = elements(element(request, NS.m, 'ItemChanges'), NS.t, 'ItemChange');
    const messages = await this.eachItem(changes, pacer, 'UpdateItemResponseMessage', (change) => {
      try {
        const idEl = elements(change).find((e) => e.localName === 'ItemId' || e.localName === 'OccurrenceItemId' || e.localName === 'RecurringMasterItemId');
        const { record } = this.itemById(idEl, p);
        // "SendMeetingInvitationsOrCancellations … required for calendar items" (…/updateitem).
        if (send === undefined) throw itemError('ErrorSendMeetingInvitationsOrCancellationsRequired');
        this.checkChangeKey(attr(idEl, 'ChangeKey'), record, conflict);
        const { patch, deleteExtended } = this.updates(element(change, NS.t, 'Updates'), record, p);
        const before = this.graph.meetings.before(record);
        if ('attendees' in patch) patch['attendees'] = this.graph.meetings.keepStatuses(record, patch['attendees']);
        try {
          this.store.update(record, patch);
        } catch (error) {
          this.storeError(error);
        }
        this.graph.meetings.updated(record, before, sendScope(send));
        if (deleteExtended.length > 0) record.extendedProperties = record.extendedProperties.filter((e) => !deleteExtended.some((id) => sameExtendedPropertyId(id, e.id)));
        return `<m:UpdateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items><t:CalendarItem><t:ItemId Id="${esc(ewsIdFromGraph(record.id))}" ChangeKey="${esc(record.changeKey)}"/></t:CalendarItem></m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults></m:UpdateItemResponseMessage>`;
      } catch (error) {
        return this.errorMessage('UpdateItemResponseMessage', error, '<m:Items/>');
      }
    });
    return { xml: this.response('UpdateItem', messages), handled: changes.length };
  }

  /**
   * The ChangeKey of an UpdateItem: "For SendItem, UpdateItem, and UpdateFolder operations, the caller must pass in a
   * correct and current change key for the item. Note that this is the case with UpdateItem even when conflict
   * resolution is set to always overwrite" (ErrorChangeKeyRequiredForWriteOperations); ErrorStaleObject "occurs in an
   * UpdateItem operation … when the change key is not up-to-date"; with NeverOverwrite a conflict is
   * ErrorIrresolvableConflict (https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode;
   * ConflictResolution: …/updateitem). A ChangeKey that is no base64 is ErrorInvalidChangeKey.
   */
  private checkChangeKey(changeKey: string | undefined, record: EventRecord, conflict: string): void {
    if (changeKey === undefined) throw itemError('ErrorChangeKeyRequiredForWriteOperations');
    if (!isWellFormedChangeKey(changeKey)) throw itemError('ErrorInvalidChangeKey');
    if (changeKey === record.changeKey) return;
    throw itemError(conflict === 'NeverOverwrite' ? 'ErrorIrresolvableConflict' : 'ErrorStaleObject');
  }

  /** SetItemField / AppendToItemField / DeleteItemField (https://learn.microsoft.com/exchange/client-developer/web-service-reference/updates-item). */
  private updates(updates: XmlElement | undefined, record: EventRecord, p: Principal): { patch: Record<string, unknown>; deleteExtended: string[] } {
    const merged: ItemInput = { fields: {}, extended: [], attendees: {} };
    const deleteExtended: string[] = [];
    const deletes: Record<string, unknown> = {};
    for (const op of elements(updates, NS.t)) {
      const pathEl = pathElements(op)[0];
      if (!pathEl) continue;
      const path = parsePath(pathEl);
      if (path.kind === 'field' && !isKnownFieldUri(path.uri) && path.uri !== 'calendar:StartTimeZone' && path.uri !== 'calendar:EndTimeZone') {
        throw itemError('ErrorInvalidPropertyForOperation', `The property '${path.uri}' cannot be updated in the sandbox.`);
      }
      if (op.localName === 'DeleteItemField') {
        if (path.kind === 'extended') {
          deleteExtended.push(path.id);
          continue;
        }
        const cleared: Record<string, unknown> = {
          'item:Categories': ['categories', []],
          'item:Body': ['body', { contentType: 'text', content: '' }],
          'item:Subject': ['subject', ''],
          'calendar:Location': ['location', { displayName: '' }],
          'calendar:RequiredAttendees': ['#attendees', 'required'],
          'calendar:OptionalAttendees': ['#attendees', 'optional'],
          'calendar:Resources': ['#attendees', 'resource'],
        };
        const entry = cleared[path.kind === 'field' ? path.uri : ''] as [string, unknown] | undefined;
        if (!entry) throw itemError('ErrorInvalidPropertyDelete', `The property '${path.kind === 'field' ? path.uri : ''}' cannot be deleted.`);
        if (entry[0] === '#attendees') merged.attendees[entry[1] as 'required'] = [];
        else deletes[entry[0]] = entry[1];
        continue;
      }
      const container = elements(op, NS.t).find((e) => e.localName === 'CalendarItem' || e.localName === 'Item');
      if (!container) throw itemError('ErrorInvalidPropertySet', 'An item element with the property value is required.');
      const input = readCalendarItem(container);
      if (op.localName === 'AppendToItemField') {
        // Append works on Body and the attendee lists (https://learn.microsoft.com/exchange/client-developer/web-service-reference/appendtoitemfield).
        if (path.kind === 'field' && path.uri === 'item:Body' && input.fields['body']) {
          const current = (record.fields['body'] as { contentType?: string; content?: string } | undefined) ?? { contentType: 'text', content: '' };
          const add = input.fields['body'] as { content: string };
          input.fields['body'] = { contentType: current.contentType ?? 'text', content: `${current.content ?? ''}${add.content}` };
        } else if (Object.keys(input.attendees).length > 0) {
          for (const type of Object.keys(input.attendees) as Array<'required'>) {
            const existing = ((record.fields['attendees'] as Array<Record<string, unknown>> | undefined) ?? []).filter((a) => (a['type'] ?? 'required') === type);
            input.attendees[type] = [...existing, ...(input.attendees[type] ?? [])];
          }
        } else throw itemError('ErrorInvalidPropertyAppend', 'The property does not support append.');
      }
      Object.assign(merged.fields, input.fields);
      merged.extended.push(...input.extended);
      Object.assign(merged.attendees, input.attendees);
      if (input.start !== undefined) merged.start = input.start;
      if (input.end !== undefined) merged.end = input.end;
      if (input.startZoneId !== undefined) merged.startZoneId = input.startZoneId;
      if (input.endZoneId !== undefined) merged.endZoneId = input.endZoneId;
    }
    const patch = { ...this.graphBody(merged, p, record), ...deletes };
    return { patch, deleteExtended };
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/deleteitem-operation
  private async deleteItem(request: XmlElement, p: Principal, pacer: ItemPacer | undefined): Promise<{ xml: string; handled: number }> {
    const send = attr(request, 'SendMeetingCancellations');
    const ids = elements(element(request, NS.m, 'ItemIds'), NS.t);
    const messages = await this.eachItem(ids, pacer, 'DeleteItemResponseMessage', (idEl) => {
      try {
        const message = this.messageById(idEl, p);
        if (message) {
          this.graph.messages.delete(message.mailbox.address, message.message.id);
          return `<m:DeleteItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:DeleteItemResponseMessage>`;
        }
        const { record, mailbox } = this.itemById(idEl, p);
        // "SendMeetingCancellations … required for calendar items" (…/deleteitem).
        if (send === undefined) throw itemError('ErrorSendMeetingCancellationsRequired');
        // Deleting the organiser's meeting with SendOnlyToAll / SendToAllAndSaveCopy cancels it for the attendees
        // (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-delete-appointments-and-cancel-meetings-by-using-ews-in-exchange).
        this.graph.meetings.cancelled(record, undefined, sendScope(send));
        this.store.delete(mailbox.address, record.id);
        return `<m:DeleteItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:DeleteItemResponseMessage>`;
      } catch (error) {
        return this.errorMessage('DeleteItemResponseMessage', error);
      }
    });
    return { xml: this.response('DeleteItem', messages), handled: ids.length };
  }

  private shape(shapeEl: XmlElement | undefined, forFind: boolean): Shape {
    const base = (textOf(element(shapeEl, NS.t, 'BaseShape')).trim() || 'Default') as Shape['base'];
    const bodyType = (textOf(element(shapeEl, NS.t, 'BodyType')).trim() || 'Best') as Shape['bodyType'];
    const additional: FieldPath[] = pathElements(element(shapeEl, NS.t, 'AdditionalProperties')).map(parsePath);
    if (forFind && additional.some((a) => a.kind === 'field' && a.uri === 'item:Body')) {
      // [VERIFY] code; "The property Body can't be used in FindItem requests."
      throw itemError('ErrorInvalidPropertyRequest', "The property Body can't be used in FindItem requests.");
    }
    return { base: base === 'IdOnly' || base === 'AllProperties' ? base : 'Default', bodyType: bodyType === 'HTML' || bodyType === 'Text' ? bodyType : 'Best', additional, forFind };
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/getitem-operation
  private async getItem(request: XmlElement, p: Principal, pacer: ItemPacer | undefined): Promise<{ xml: string; handled: number }> {
    const ids = elements(element(request, NS.m, 'ItemIds'), NS.t);
    let shape: Shape | undefined;
    let shapeError: unknown;
    try {
      shape = this.shape(element(request, NS.m, 'ItemShape'), false);
    } catch (error) {
      shapeError = error;
    }
    const messages = await this.eachItem(ids, pacer, 'GetItemResponseMessage', (idEl) => {
      try {
        if (!shape) throw shapeError;
        const message = this.messageById(idEl, p);
        if (message) return `<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>${this.renderMessageItem(message.message, shape)}</m:Items></m:GetItemResponseMessage>`;
        const { record, mailbox } = this.itemById(idEl, p);
        return `<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>${renderCalendarItem(record, shape, { folderId: calendarFolderId(mailbox.address) })}</m:Items></m:GetItemResponseMessage>`;
      } catch (error) {
        return this.errorMessage('GetItemResponseMessage', error, '<m:Items/>');
      }
    });
    return { xml: this.response('GetItem', messages), handled: ids.length };
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/finditem-operation
  private findItem(request: XmlElement, p: Principal): { xml: string; handled: number } {
    const traversal = attr(request, 'Traversal') ?? 'Shallow';
    const folders = elements(element(request, NS.m, 'ParentFolderIds'), NS.t);
    const calendarView = element(request, NS.m, 'CalendarView');
    const indexed = element(request, NS.m, 'IndexedPageItemView');
    const restriction = element(request, NS.m, 'Restriction');
    const sortOrder = element(request, NS.m, 'SortOrder');
    let handled = 0;
    const messages = folders.map((folder) => {
      try {
        const shape = this.shape(element(request, NS.m, 'ItemShape'), true);
        if (calendarView && (restriction || sortOrder)) {
          // "Restrictions and sort order may not be specified for a CalendarView." (https://github.com/jamesiarmes/php-ews/issues/164;
          // [VERIFY] the response code).
          throw itemError('ErrorInvalidRestriction');
        }
        const target = this.folderOf(folder, p);
        if (target.folder === 'inbox') {
          // "ErrorCalendarFolderIsInvalidForCalendarView: … a CalendarView element is used in a FindItem request on a folder that is not a calendar" (…/responsecode).
          if (calendarView) throw itemError('ErrorCalendarFolderIsInvalidForCalendarView', 'The folder for a CalendarView must be a calendar folder.');
          const found = this.findMessages(target.mailbox, shape, restriction, indexed, p);
          handled += found.count;
          return found.xml;
        }
        const mailbox = target.mailbox;
        let records = traversal === 'Shallow' ? this.store.list(mailbox.address) : [];
        let attrs: string;
        let page: EventRecord[];
        if (calendarView) {
          // CalendarView: items overlapping [StartDate, EndDate], at most MaxEntriesReturned, by start
          // (https://learn.microsoft.com/exchange/client-developer/web-service-reference/calendarview).
          const start = parseEwsDateTime(attr(calendarView, 'StartDate') ?? '', p.zone) ?? 0;
          const end = parseEwsDateTime(attr(calendarView, 'EndDate') ?? '', p.zone) ?? 0;
          if (end < start) throw itemError('ErrorCalendarEndDateIsEarlierThanStartDate');
          // A series as its occurrences: "CalendarView … returns single calendar items and occurrences of recurring
          // calendar items" (the page above; graph/occurrences.ts).
          records = records
            .flatMap((r) => (isSeriesMaster(r) ? occurrencesIn(r, start, end) : [r]))
            .filter((r) => {
              const i = EventStore.interval(r);
              return i.start < end && (i.end > start || (i.end === i.start && i.start >= start));
            })
            .sort((a, b) => a.start.instant - b.start.instant || a.seq - b.seq);
          const max = Number(attr(calendarView, 'MaxEntriesReturned') ?? FIND_COUNT_LIMIT);
          const limit = Math.min(Number.isFinite(max) && max > 0 ? max : FIND_COUNT_LIMIT, FIND_COUNT_LIMIT);
          page = records.slice(0, limit);
          attrs = `TotalItemsInView="${records.length}" IncludesLastItemInRange="${page.length === records.length}"`;
        } else {
          if (restriction) {
            const expression = firstElement(restriction);
            records = records.filter((r) => this.matches(expression, (path) => valueOf(r, path), p));
          }
          records = this.sort(records, sortOrder);
          const total = records.length;
          // IndexedPageItemView paging (https://learn.microsoft.com/exchange/client-developer/web-service-reference/indexedpageitemview).
          const offset = Math.max(0, Number(attr(indexed, 'Offset') ?? 0) || 0);
          const fromEnd = attr(indexed, 'BasePoint') === 'End';
          const max = Number(attr(indexed, 'MaxEntriesReturned') ?? FIND_COUNT_LIMIT);
          const cap = restriction && this.behaviour.serverVersion !== 'Exchange2010_SP2' ? RESTRICTED_FIND_COUNT_LIMIT_2013 : FIND_COUNT_LIMIT;
          const limit = Math.min(Number.isFinite(max) && max > 0 ? max : cap, cap);
          const from = fromEnd ? Math.max(0, total - offset - limit) : offset;
          const to = fromEnd ? Math.max(0, total - offset) : Math.min(total, offset + limit);
          page = records.slice(from, to);
          const includesLast = fromEnd ? from === 0 : to >= total;
          const nextOffset = fromEnd ? offset + page.length : to;
          attrs = `IndexedPagingOffset="${nextOffset}" TotalItemsInView="${total}" IncludesLastItemInRange="${includesLast}"`;
        }
        handled += page.length;
        const folderId = calendarFolderId(mailbox.address);
        const itemsXml = page.map((r) => renderCalendarItem(r, shape, { folderId })).join('');
        return `<m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder ${attrs}><t:Items>${itemsXml}</t:Items></m:RootFolder></m:FindItemResponseMessage>`;
      } catch (error) {
        return this.errorMessage('FindItemResponseMessage', error);
      }
    });
    return { xml: this.response('FindItem', messages), handled: Math.max(handled, folders.length) };
  }

  private sort(records: EventRecord[], sortOrder: XmlElement | undefined): EventRecord[] {
    const orders = elements(sortOrder, NS.t, 'FieldOrder').map((fo) => ({ path: parsePath(pathElements(fo)[0]!), descending: attr(fo, 'Order') === 'Descending' }));
    const sorted = [...records].sort((a, b) => a.seq - b.seq);
    if (orders.length === 0) return sorted;
    return sorted.sort((a, b) => {
      for (const o of orders) {
        const va = valueOf(a, o.path);
        const vb = valueOf(b, o.path);
        const key = (v: ReturnType<typeof valueOf>) => (v === undefined ? '' : v.kind === 'string' ? v.values[0]!.toLowerCase() : v.kind === 'bool' ? Number(v.value) : v.value);
        const ka = key(va);
        const kb = key(vb);
        const c = ka < kb ? -1 : ka > kb ? 1 : 0;
        if (c !== 0) return o.descending ? -c : c;
      }
      return 0;
    });
  }

  /** Search expressions (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/how-to-use-search-filters-with-ews-in-exchange). */
  private matches(expression: XmlElement | undefined, valueAt: (path: FieldPath) => PathValue, p: Principal): boolean {
    if (!expression) return true;
    const name = expression.localName;
    switch (name) {
      case 'And':
        return elements(expression, NS.t).every((e) => this.matches(e, valueAt, p));
      case 'Or':
        return elements(expression, NS.t).some((e) => this.matches(e, valueAt, p));
      case 'Not':
        return !this.matches(firstElement(expression), valueAt, p);
      case 'Exists': {
        const path = parsePath(pathElements(expression)[0]!);
        return valueAt(path) !== undefined;
      }
      case 'Contains': {
        const path = parsePath(pathElements(expression)[0]!);
        const constant = attr(element(expression, NS.t, 'Constant'), 'Value') ?? '';
        const value = valueAt(path);
        if (!value || value.kind !== 'string') return false;
        const mode = attr(expression, 'ContainmentMode') ?? 'Substring';
        const ignoreCase = (attr(expression, 'ContainmentComparison') ?? 'Exact').includes('IgnoreCase') || (attr(expression, 'ContainmentComparison') ?? '').startsWith('Loose');
        const norm = (s: string) => (ignoreCase ? s.toLowerCase() : s);
        return value.values.some((v) => {
          const a = norm(v);
          const c = norm(constant);
          return mode === 'FullString' ? a === c : mode === 'Prefixed' ? a.startsWith(c) : a.includes(c);
        });
      }
      case 'IsEqualTo':
      case 'IsNotEqualTo':
      case 'IsGreaterThan':
      case 'IsGreaterThanOrEqualTo':
      case 'IsLessThan':
      case 'IsLessThanOrEqualTo': {
        const path = parsePath(pathElements(expression)[0]!);
        const constantEl = element(element(expression, NS.t, 'FieldURIOrConstant'), NS.t, 'Constant');
        if (!constantEl) throw itemError('ErrorUnsupportedPathForQuery', 'The sandbox compares properties with constants only.');
        const value = valueAt(path);
        if (value === undefined) return name === 'IsNotEqualTo';
        const c = compareWith(value, attr(constantEl, 'Value') ?? '', p.zone);
        if (c === undefined) return false;
        switch (name) {
          case 'IsEqualTo':
            return c === 0;
          case 'IsNotEqualTo':
            return c !== 0;
          case 'IsGreaterThan':
            return c > 0;
          case 'IsGreaterThanOrEqualTo':
            return c >= 0;
          case 'IsLessThan':
            return c < 0;
          default:
            return c <= 0;
        }
      }
      default:
        throw itemError('ErrorInvalidRestriction', `The restriction '${name}' is not supported by the sandbox.`);
    }
  }

  /**
   * FindItem in an inbox: its meeting messages, newest first (DateTimeReceived descending, as Outlook lists a
   * folder), paged like the calendar; a Restriction may test item:ItemClass (how the AcceptItemType page finds
   * meeting requests: "restrict the result set by the ItemClass property"), item:Subject, item:DateTimeReceived,
   * message:IsRead and calendar:UID.
   */
  private findMessages(mailbox: Mailbox, shape: Shape, restriction: XmlElement | undefined, indexed: XmlElement | undefined, p: Principal): { xml: string; count: number } {
    let list = this.graph.messages.list(mailbox.address);
    if (restriction) list = list.filter((m) => this.matches(firstElement(restriction), (path) => messageValue(m, path), p));
    const total = list.length;
    const offset = Math.max(0, Number(attr(indexed, 'Offset') ?? 0) || 0);
    const max = Number(attr(indexed, 'MaxEntriesReturned') ?? FIND_COUNT_LIMIT);
    const limit = Math.min(Number.isFinite(max) && max > 0 ? max : FIND_COUNT_LIMIT, restriction && this.behaviour.serverVersion !== 'Exchange2010_SP2' ? RESTRICTED_FIND_COUNT_LIMIT_2013 : FIND_COUNT_LIMIT);
    const page = list.slice(offset, offset + limit);
    const attrs = `IndexedPagingOffset="${offset + page.length}" TotalItemsInView="${total}" IncludesLastItemInRange="${offset + page.length >= total}"`;
    const items = page.map((m) => this.renderMessageItem(m, shape)).join('');
    return { xml: `<m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder ${attrs}><t:Items>${items}</t:Items></m:RootFolder></m:FindItemResponseMessage>`, count: page.length };
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/getfolder-operation
  private getFolder(request: XmlElement, p: Principal): { xml: string; handled: number } {
    const folders = elements(element(request, NS.m, 'FolderIds'), NS.t);
    const messages = folders.map((folder) => {
      try {
        const target = this.folderOf(folder, p);
        if (target.folder === 'inbox') {
          const count = this.graph.messages.list(target.mailbox.address).length;
          const unread = this.graph.messages.list(target.mailbox.address).filter((m) => !m.isRead).length;
          return `<m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:Folder><t:FolderId Id="${esc(inboxFolderId(target.mailbox.address))}" ChangeKey="AQAAAA=="/>${tEl('FolderClass', 'IPF.Note')}${tEl('DisplayName', 'Inbox')}${tEl('TotalCount', count)}${tEl('ChildFolderCount', 0)}${tEl('UnreadCount', unread)}</t:Folder></m:Folders></m:GetFolderResponseMessage>`;
        }
        const mailbox = target.mailbox;
        const id = calendarFolderId(mailbox.address);
        const count = this.store.list(mailbox.address).length;
        return `<m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:CalendarFolder><t:FolderId Id="${esc(id)}" ChangeKey="AgAAAA=="/>${tEl('FolderClass', 'IPF.Appointment')}${tEl('DisplayName', 'Calendar')}${tEl('TotalCount', count)}${tEl('ChildFolderCount', 0)}</t:CalendarFolder></m:Folders></m:GetFolderResponseMessage>`;
      } catch (error) {
        return this.errorMessage('GetFolderResponseMessage', error);
      }
    });
    return { xml: this.response('GetFolder', messages), handled: folders.length };
  }

  /** A meeting response object in CreateItem (ews/meetings.ts), answered as the accept example: `<m:Items/>`. */
  private responseObject(item: XmlElement, disposition: string | undefined, p: Principal): string {
    const meetings = this.graph.meetings;
    respondToItem(item, disposition, {
      resolve: (idEl) => this.referenced(idEl, p),
      respond: (mailbox, target, answer, options) => meetings.respond(mailbox, target, answer, options),
      removeCancelled: (mailbox, message) => meetings.removeCancelled(mailbox, message),
      cancel: (record, comment) => {
        meetings.cancelled(record, comment, 'all');
        this.store.delete(record.mailbox, record.id);
      },
    });
    return `<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items/></m:CreateItemResponseMessage>`;
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/syncfolderitems-operation (ews/sync.ts)
  private syncFolderItems(request: XmlElement, p: Principal): { xml: string; handled: number } {
    let handled = 1;
    let message: string;
    try {
      const target = this.folderOf(firstElement(element(request, NS.m, 'SyncFolderId')), p);
      const shape = this.shape(element(request, NS.m, 'ItemShape'), true);
      const address = target.mailbox.address;
      const changes = this.graph.changes;
      const watermark = readSyncState(element(request, NS.m, 'SyncState') ? textOf(element(request, NS.m, 'SyncState')) : undefined, changes, address, target.folder);
      const max = Number(textOf(element(request, NS.m, 'MaxChangesReturned')).trim());
      const render = (id: string, itemShape: Shape) => {
        if (target.folder === 'inbox') {
          const m = this.graph.messages.get(address, id);
          return m ? this.renderMessageItem(m, itemShape) : undefined;
        }
        const record = this.store.get(address, id);
        return record ? renderCalendarItem(record, itemShape, { folderId: calendarFolderId(address) }) : undefined;
      };
      const result = syncFolderItems(changes, address, target.folder, watermark, max, shape, render);
      handled = result.handled;
      message = result.xml;
    } catch (error) {
      message = this.errorMessage('SyncFolderItemsResponseMessage', error);
    }
    return { xml: this.response('SyncFolderItems', [message]), handled };
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/subscribe-operation (streaming.ts):
  // one mailbox per subscription, its folders checked like any other request's.
  private subscribe(request: XmlElement, p: Principal): { xml: string; handled: number } {
    let message: string;
    try {
      const streaming = element(request, NS.m, 'StreamingSubscriptionRequest');
      if (!streaming) throw itemError('ErrorInvalidSubscriptionRequest', 'The sandbox takes streaming subscriptions only.');
      const folders = elements(element(streaming, NS.t, 'FolderIds')).map((folder) => this.folderOf(folder, p));
      const mailboxes = new Set(folders.map((f) => f.mailbox.address));
      if (folders.length === 0 || mailboxes.size !== 1) throw itemError('ErrorInvalidSubscriptionRequest', 'A subscription is for the folders of one mailbox.');
      message = this.streaming.subscribe(p.account.name, [...mailboxes][0]!, folders.map((f) => f.folder));
    } catch (error) {
      message = this.errorMessage('SubscribeResponseMessage', error);
    }
    return { xml: this.response('Subscribe', [message]), handled: 1 };
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/getstreamingevents-operation (streaming.ts)
  private getStreamingEvents(request: XmlElement, account: EwsAccount): { stream: (res: RequestContext['res']) => void } {
    const ids = elements(element(request, NS.m, 'SubscriptionIds')).map((id) => textOf(id).trim());
    const minutes = Number(textOf(element(request, NS.m, 'ConnectionTimeout')).trim());
    return { stream: (res) => this.streaming.stream(res, account.name, ids, minutes) };
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/getroomlists-operation
  private getRoomLists(): { xml: string; handled: number } {
    const lists = this.roomLists
      .map((l) => `<t:Address>${tEl('Name', l.displayName)}${tEl('EmailAddress', l.address)}${tEl('RoutingType', 'SMTP')}${tEl('MailboxType', 'PublicDL')}</t:Address>`)
      .join('');
    return { xml: `<m:GetRoomListsResponse ResponseClass="Success" xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:ResponseCode>NoError</m:ResponseCode><m:RoomLists>${lists}</m:RoomLists></m:GetRoomListsResponse>`, handled: 1 };
  }

  /**
   * https://learn.microsoft.com/exchange/client-developer/web-service-reference/expanddl-operation: one level of a
   * public distribution group — users as MailboxType Mailbox, nested groups as PublicDL (the client expands those in
   * turn). A name that resolves to no group: ErrorNameResolutionNoResults.
   */
  private expandDl(request: XmlElement): { xml: string; handled: number } {
    const address = textOf(element(element(request, NS.m, 'Mailbox'), NS.t, 'EmailAddress')).trim().toLowerCase();
    const group = this.groups.find((g) => g.address.toLowerCase() === address);
    const body = group
      ? `<m:ExpandDLResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:DLExpansion TotalItemsInView="${group.members.length}" IncludesLastItemInRange="true">${group.members.map((member) => this.dlMember(member)).join('')}</m:DLExpansion></m:ExpandDLResponseMessage>`
      : `<m:ExpandDLResponseMessage ResponseClass="Error"><m:MessageText>No results were found.</m:MessageText><m:ResponseCode>ErrorNameResolutionNoResults</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:ExpandDLResponseMessage>`;
    return { xml: this.response('ExpandDL', [body]), handled: 1 };
  }

  private dlMember(member: string): string {
    const inner = this.groups.find((g) => g.address.toLowerCase() === member.toLowerCase());
    const name = inner?.displayName ?? this.graph.mailbox(member)?.displayName ?? member;
    return `<t:Mailbox>${tEl('Name', name)}${tEl('EmailAddress', member)}${tEl('RoutingType', 'SMTP')}${tEl('MailboxType', inner ? 'PublicDL' : 'Mailbox')}</t:Mailbox>`;
  }

  // https://learn.microsoft.com/exchange/client-developer/web-service-reference/getrooms-operation
  private getRooms(request: XmlElement): { xml: string; handled: number } {
    const address = textOf(element(element(request, NS.m, 'RoomList'), NS.t, 'EmailAddress')).trim().toLowerCase();
    const list = this.roomLists.find((l) => l.address.toLowerCase() === address);
    if (!list) {
      // [VERIFY] code for an unknown room list.
      return {
        xml: `<m:GetRoomsResponse ResponseClass="Error" xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:MessageText>No results were found.</m:MessageText><m:ResponseCode>ErrorNameResolutionNoResults</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey></m:GetRoomsResponse>`,
        handled: 1,
      };
    }
    const rooms = list.members
      .map((member) => {
        const m = this.graph.mailbox(member);
        return `<t:Room><t:Id>${tEl('Name', m?.displayName ?? member)}${tEl('EmailAddress', member)}${tEl('RoutingType', 'SMTP')}${tEl('MailboxType', 'Mailbox')}</t:Id></t:Room>`;
      })
      .join('');
    return { xml: `<m:GetRoomsResponse ResponseClass="Success" xmlns:m="${NS.m}" xmlns:t="${NS.t}"><m:ResponseCode>NoError</m:ResponseCode><m:Rooms>${rooms}</m:Rooms></m:GetRoomsResponse>`, handled: 1 };
  }
}

/** Values of a meeting message for FindItem restrictions. */
function messageValue(m: MessageRecord, path: FieldPath): PathValue {
  if (path.kind !== 'field') return undefined;
  switch (path.uri) {
    case 'item:ItemClass':
      return { kind: 'string', values: [itemClassOf(m)] };
    case 'item:Subject':
      return { kind: 'string', values: [m.subject] };
    case 'item:DateTimeReceived':
      return { kind: 'date', value: m.createdMs };
    case 'message:IsRead':
      return { kind: 'bool', value: m.isRead };
    case 'calendar:UID':
    case 'meeting:UID':
      return { kind: 'string', values: [m.meeting.iCalUId] };
    default:
      return undefined;
  }
}
