// Change notifications through webhooks: POST/GET /subscriptions, GET/PATCH/DELETE /subscriptions/{id} for a
// mailbox's events or inbox messages (https://learn.microsoft.com/graph/api/resources/subscription,
// https://learn.microsoft.com/graph/change-notifications-delivery-webhooks,
// https://learn.microsoft.com/graph/outlook-change-notifications-overview).
// - Creating one validates the notificationUrl (and the lifecycleNotificationUrl): "Microsoft Graph encodes a
//   validation token and includes it in a POST request to the notification URL" (`?validationToken=…`,
//   Content-Type text/plain); the endpoint must answer "within 10 seconds" with "HTTP 200 OK", "a content type of
//   text/plain" and the token; otherwise "Microsoft Graph doesn't create the subscription".
// - Both URLs "must make use of the HTTPS protocol". The sandbox's webhook client trusts the sandbox's own TLS
//   certificate and SandboxOptions.webhooks.ca.
// - At most 1000 active subscriptions per mailbox, for all applications (outlook-change-notifications-overview).
// - Expiration: at most 10,080 minutes ahead for Outlook events and messages (protocol notes A7, the subscription
//   resource's table); renewal is a PATCH of expirationDateTime; an expired subscription is gone.
// - Notifications: a POST of {"value": [changeNotification]} per change, with clientState, sent with a 3-second
//   timeout ("Notifications are published using an HTTP client with a 3-second timeout"); Graph's retries for up to
//   4 hours are not modelled (a failed delivery is counted and dropped).
// - Lifecycle notifications (reauthorizationRequired, subscriptionRemoved, missed) are sent when a test asks
//   (SandboxSubscriptions.lifecycle): https://learn.microsoft.com/graph/change-notifications-lifecycle-events.
import { randomUUID } from 'node:crypto';
import { request } from 'node:https';
import type { Change } from '../changes.ts';
import { badRequest, GraphHttpError, type GraphResult } from './errors.ts';
import { validateGraphBody } from './schema/validate.ts';
import type { GraphOperation, GraphService, Mailbox, RootHandler } from './service.ts';
import { formatInstantUtc } from './timezones.ts';

/** 10,080 minutes: Outlook message, event and contact subscriptions without resource data. */
export const MAX_OUTLOOK_SUBSCRIPTION_MINUTES = 10_080;
/** "There is a maximum limit of 1000 active subscriptions for Outlook resources per mailbox for all applications." (outlook-change-notifications-overview) */
export const MAX_SUBSCRIPTIONS_PER_MAILBOX = 1000;
const VALIDATION_TIMEOUT_MS = 10_000;
const NOTIFICATION_TIMEOUT_MS = 3_000;
const CHANGE_TYPES = new Set(['created', 'updated', 'deleted']);

export type LifecycleEvent = 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed';

export interface SubscriptionRecord {
  id: string;
  appId: string;
  resource: string;
  mailbox: Mailbox;
  folder: 'calendar' | 'inbox';
  changeTypes: Set<string>;
  changeType: string;
  notificationUrl: string;
  lifecycleNotificationUrl: string | undefined;
  clientState: string | undefined;
  expirationMs: number;
}

export interface WebhookStats {
  validations: number;
  validationFailures: number;
  notificationsSent: number;
  notificationsFailed: number;
  lifecycleSent: number;
}

export class Subscriptions {
  private readonly service: GraphService;
  private readonly now: () => number;
  private readonly tenantId: string;
  private readonly ca: string[];
  private readonly records = new Map<string, SubscriptionRecord>();
  private readonly pending = new Set<Promise<void>>();
  stats: WebhookStats = { validations: 0, validationFailures: 0, notificationsSent: 0, notificationsFailed: 0, lifecycleSent: 0 };

  constructor(options: { service: GraphService; now: () => number; tenantId: string; ca: string[] }) {
    this.service = options.service;
    this.now = options.now;
    this.tenantId = options.tenantId;
    this.ca = options.ca;
    options.service.changes.subscribe((change) => this.notify(change));
  }

  root(): RootHandler {
    return (op, segments) => {
      this.expire();
      const id = segments[0];
      if (segments.length > 1) throw badRequest(`Resource not found for the segment '${segments[segments.length - 1]}'.`);
      if (id === undefined) {
        if (op.method === 'POST') return this.create(op);
        if (op.method === 'GET') return this.service.ok(200, { '@odata.context': `${this.service.baseUrl()}/v1.0/$metadata#subscriptions`, value: this.ofApp(op).map((s) => this.render(s)) });
        throw new GraphHttpError(405, 'BadRequest', 'Specified HTTP method is not allowed for the request target.', { allow: 'GET, POST' });
      }
      const record = this.records.get(id);
      // [VERIFY] the code and text for an unknown (or expired, or another app's) subscription.
      if (!record || record.appId !== op.app.clientId.toLowerCase()) throw new GraphHttpError(404, 'ResourceNotFound', 'The object was not found.');
      if (op.method === 'GET') return this.entity(record);
      if (op.method === 'DELETE') {
        this.records.delete(id);
        return { status: 204, headers: {} };
      }
      if (op.method === 'PATCH') return this.renew(op, record);
      throw new GraphHttpError(405, 'BadRequest', 'Specified HTTP method is not allowed for the request target.', { allow: 'GET, PATCH, DELETE' });
    };
  }

  /** Subscriptions that have passed their expiration are deleted: "If you don't renew a subscription in time, Microsoft Graph deletes the subscription". */
  private expire(): void {
    const now = this.now();
    for (const [id, record] of this.records) if (record.expirationMs <= now) this.records.delete(id);
  }

  private ofApp(op: GraphOperation): SubscriptionRecord[] {
    return [...this.records.values()].filter((s) => s.appId === op.app.clientId.toLowerCase());
  }

  list(): SubscriptionRecord[] {
    this.expire();
    return [...this.records.values()];
  }

  private async create(op: GraphOperation): Promise<GraphResult> {
    const problem = validateGraphBody('subscription', op.body, 'create');
    if (problem) throw new GraphHttpError(problem.status, problem.code, problem.message);
    const body = op.body as Record<string, unknown>;
    for (const required of ['changeType', 'notificationUrl', 'resource', 'expirationDateTime']) {
      // "expirationDateTime is a required property for subscription creation" (microsoft-graph-docs-contrib issue #7399); the others likewise [VERIFY].
      if (typeof body[required] !== 'string' || body[required] === '') throw new GraphHttpError(400, 'ExtensionError', `${required} is a required property for subscription creation.`);
    }
    const changeTypes = String(body['changeType']).split(',').map((c) => c.trim());
    if (changeTypes.some((c) => !CHANGE_TYPES.has(c))) throw new GraphHttpError(400, 'ExtensionError', `'${body['changeType']}' is not a valid changeType: use created, updated and deleted, separated by commas.`);
    const clientState = body['clientState'] as string | undefined;
    // "The maximum length is 128 characters."
    if (clientState !== undefined && clientState !== null && clientState.length > 128) throw new GraphHttpError(400, 'ExtensionError', 'The clientState can be at most 128 characters long.');
    if (body['includeResourceData'] === true) throw new GraphHttpError(400, 'ExtensionError', 'The sandbox does not model change notifications with resource data (includeResourceData).');
    const { mailbox, folder } = this.target(op, String(body['resource']));
    if ([...this.records.values()].filter((s) => s.mailbox.address === mailbox.address).length >= MAX_SUBSCRIPTIONS_PER_MAILBOX) {
      // [VERIFY] Graph's status, code and text when the mailbox's quota is used up.
      throw new GraphHttpError(403, 'ExtensionError', `The mailbox already has the maximum of ${MAX_SUBSCRIPTIONS_PER_MAILBOX} active subscriptions.`);
    }
    const expirationMs = this.expiration(body['expirationDateTime']);
    const notificationUrl = httpsUrl(String(body['notificationUrl']), 'notificationUrl');
    const lifecycleNotificationUrl = typeof body['lifecycleNotificationUrl'] === 'string' ? httpsUrl(body['lifecycleNotificationUrl'], 'lifecycleNotificationUrl') : undefined;
    await this.validate(notificationUrl);
    if (lifecycleNotificationUrl !== undefined) await this.validate(lifecycleNotificationUrl);
    const record: SubscriptionRecord = {
      id: randomUUID(),
      appId: op.app.clientId.toLowerCase(),
      resource: String(body['resource']),
      mailbox,
      folder,
      changeTypes: new Set(changeTypes),
      changeType: changeTypes.join(','),
      notificationUrl,
      lifecycleNotificationUrl,
      clientState: clientState ?? undefined,
      expirationMs,
    };
    this.records.set(record.id, record);
    return this.service.ok(201, { '@odata.context': `${this.service.baseUrl()}/v1.0/$metadata#subscriptions/$entity`, ...this.render(record) });
  }

  /**
   * The resource: a mailbox's events or its inbox messages ("users/{id}/events", "users/{id}/calendar/events",
   * "users/{id}/messages", "users/{id}/mailFolders('inbox')/messages"), with the permission each needs and the mailbox
   * in the app's scope, as for the resource itself (graph/service.ts).
   */
  private target(op: GraphOperation, resource: string): { mailbox: Mailbox; folder: 'calendar' | 'inbox' } {
    const path = resource.replace(/^\/+/, '').split('/');
    if (path[0]?.toLowerCase() === 'me') {
      // Subscriptions are modelled for application tokens only: a delegated token has none of the roles they need.
      if (op.app.delegatedUser) throw new GraphHttpError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
      throw badRequest('/me request is only valid with delegated authentication flow.');
    }
    const rest = path.slice(2).join('/').toLowerCase();
    const folder = rest === 'events' || rest === 'calendar/events' ? 'calendar' : rest === 'messages' || rest === "mailfolders('inbox')/messages" || rest === 'mailfolders/inbox/messages' ? 'inbox' : undefined;
    if (path[0]?.toLowerCase() !== 'users' || path[1] === undefined || folder === undefined) {
      throw new GraphHttpError(400, 'ExtensionError', `The resource '${resource}' is not supported by the sandbox: use users/{id}/events or users/{id}/mailFolders('inbox')/messages.`);
    }
    const roles = folder === 'calendar' ? ['Calendars.Read', 'Calendars.ReadWrite'] : ['Mail.Read', 'Mail.ReadWrite'];
    if (!op.app.roles.some((r) => roles.includes(r))) throw new GraphHttpError(403, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    const mailbox = this.service.mailbox(decodedSegment(path[1]));
    if (!mailbox || mailbox.state === 'noMailbox') throw new GraphHttpError(404, 'ErrorInvalidUser', `The requested user '${path[1]}' is invalid.`);
    if (op.app.scopeSet !== null && !op.app.scopeSet.has(mailbox.address)) throw new GraphHttpError(403, 'ErrorAccessDenied', 'Access to OData is disabled.');
    if (mailbox.state === 'restDisabled') throw new GraphHttpError(404, 'MailboxNotEnabledForRESTAPI', 'REST API is not yet supported for this mailbox.');
    // An on-premises mailbox of a hybrid organisation is not in Exchange Online, as for its events (graph/service.ts).
    if (mailbox.home === 'onPremises') throw new GraphHttpError(404, 'MailboxNotEnabledForRESTAPI', 'The mailbox is either inactive, soft-deleted, or is hosted on-premise.');
    return { mailbox, folder };
  }

  /** "Subscription expiration can only be 4230 minutes in the future." (microsoft-graph-docs issue #2988, when the limit was 4230) with today's limit [VERIFY]. */
  private expiration(value: unknown): number {
    const ms = Date.parse(String(value));
    if (Number.isNaN(ms)) throw new GraphHttpError(400, 'ExtensionError', `The expirationDateTime '${String(value)}' is not a valid date and time.`);
    if (ms <= this.now()) throw new GraphHttpError(400, 'ExtensionError', 'Subscription expiration must be in the future.');
    if (ms > this.now() + MAX_OUTLOOK_SUBSCRIPTION_MINUTES * 60_000) throw new GraphHttpError(400, 'ExtensionError', `Subscription expiration can only be ${MAX_OUTLOOK_SUBSCRIPTION_MINUTES} minutes in the future.`);
    return ms;
  }

  private renew(op: GraphOperation, record: SubscriptionRecord): GraphResult {
    const body = op.body as Record<string, unknown> | undefined;
    const problem = validateGraphBody('subscription', body, 'update');
    if (problem) throw new GraphHttpError(problem.status, problem.code, problem.message);
    const keys = Object.keys(body!).filter((k) => !k.includes('@'));
    // Renewal changes expirationDateTime ("To renew the subscription, the expirationDateTime property is required").
    if (!keys.includes('expirationDateTime') || keys.some((k) => k !== 'expirationDateTime')) throw new GraphHttpError(400, 'ExtensionError', 'Only expirationDateTime can be updated on a subscription in the sandbox.');
    record.expirationMs = this.expiration(body!['expirationDateTime']);
    return this.entity(record);
  }

  private entity(record: SubscriptionRecord): GraphResult {
    return this.service.ok(200, { '@odata.context': `${this.service.baseUrl()}/v1.0/$metadata#subscriptions/$entity`, ...this.render(record) });
  }

  render(record: SubscriptionRecord): Record<string, unknown> {
    return {
      id: record.id,
      resource: record.resource,
      applicationId: record.appId,
      changeType: record.changeType,
      clientState: record.clientState ?? null,
      notificationUrl: record.notificationUrl,
      notificationQueryOptions: null,
      lifecycleNotificationUrl: record.lifecycleNotificationUrl ?? null,
      expirationDateTime: formatInstantUtc(record.expirationMs),
      creatorId: record.appId,
      includeResourceData: null,
      latestSupportedTlsVersion: 'v1_2',
      encryptionCertificate: null,
      encryptionCertificateId: null,
      notificationUrlAppId: null,
    };
  }

  /** The validation handshake; a failure refuses the subscription ([VERIFY] Graph's code for it). */
  private async validate(url: string): Promise<void> {
    this.stats.validations++;
    const token = `Validation: Testing client application reachability for subscription Request-Id: ${randomUUID()}`;
    const target = new URL(url);
    target.searchParams.append('validationToken', token);
    const answer = await this.post(target, '', 'text/plain; charset=utf-8', VALIDATION_TIMEOUT_MS);
    const ok = answer !== undefined && answer.status === 200 && /^text\/plain\b/i.test(answer.contentType) && answer.body === token;
    if (!ok) {
      this.stats.validationFailures++;
      throw new GraphHttpError(400, 'InvalidRequest', 'Subscription validation request failed. Notification endpoint must respond with 200 OK to validation request.');
    }
  }

  private notify(change: Change): void {
    const now = this.now();
    for (const record of this.records.values()) {
      if (record.expirationMs <= now || record.mailbox.address !== change.mailbox || record.folder !== change.folder || !record.changeTypes.has(change.kind)) continue;
      const entity = change.folder === 'calendar' ? 'Events' : 'Messages';
      const resource = `Users/${record.mailbox.objectId}/${entity}/${change.id}`;
      const changeKey = change.kind === 'deleted' ? undefined : change.folder === 'calendar' ? this.service.store.get(change.mailbox, change.id)?.changeKey : this.service.messages.get(change.mailbox, change.id)?.changeKey;
      const notification = {
        id: randomUUID(),
        subscriptionId: record.id,
        subscriptionExpirationDateTime: formatInstantUtc(record.expirationMs),
        changeType: change.kind,
        resource,
        resourceData: { '@odata.type': change.folder === 'calendar' ? '#Microsoft.Graph.Event' : '#Microsoft.Graph.Message', '@odata.id': resource, ...(changeKey ? { '@odata.etag': `W/"${changeKey}"` } : {}), id: change.id },
        ...(record.clientState !== undefined ? { clientState: record.clientState } : {}),
        tenantId: this.tenantId,
      };
      this.deliver(new URL(record.notificationUrl), { value: [notification] }, 'notification');
    }
  }

  /** A lifecycle notification to the subscription's lifecycleNotificationUrl; subscriptionRemoved also removes it. */
  lifecycle(id: string, event: LifecycleEvent): void {
    const record = this.records.get(id);
    if (!record) throw new Error(`sandbox: no subscription '${id}'`);
    if (event === 'subscriptionRemoved') this.records.delete(id);
    if (!record.lifecycleNotificationUrl) return;
    const value = [{ subscriptionId: record.id, subscriptionExpirationDateTime: formatInstantUtc(record.expirationMs), tenantId: this.tenantId, ...(record.clientState !== undefined ? { clientState: record.clientState } : {}), lifecycleEvent: event }];
    this.deliver(new URL(record.lifecycleNotificationUrl), { value }, 'lifecycle');
  }

  /** Waits until every notification sent so far has been answered (or failed). */
  async flush(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }

  private deliver(url: URL, payload: unknown, kind: 'notification' | 'lifecycle'): void {
    const sent = this.post(url, JSON.stringify(payload), 'application/json; charset=utf-8', NOTIFICATION_TIMEOUT_MS).then((answer) => {
      // "send a 2xx class code back to Microsoft Graph"
      const ok = answer !== undefined && answer.status >= 200 && answer.status < 300;
      if (!ok) this.stats.notificationsFailed++;
      else if (kind === 'lifecycle') this.stats.lifecycleSent++;
      else this.stats.notificationsSent++;
    });
    this.pending.add(sent);
    void sent.finally(() => this.pending.delete(sent));
  }

  private post(url: URL, body: string, contentType: string, timeoutMs: number): Promise<{ status: number; contentType: string; body: string } | undefined> {
    return new Promise((resolve) => {
      const req = request(url, { method: 'POST', ca: this.ca, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) }, timeout: timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          // The answer is read only to compare a validation token: a few kilobytes are plenty.
          size += chunk.length;
          if (size <= 64 * 1024) chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', () => resolve(undefined));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', () => resolve(undefined));
      req.end(body);
    });
  }
}

/** A path segment of the resource, %-decoded as a URL's would be; a malformed escape stays as written (and names nobody). */
function decodedSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

function httpsUrl(value: string, name: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new GraphHttpError(400, 'ExtensionError', `The ${name} '${value}' is not a valid URL.`);
  }
  // "This URL must make use of the HTTPS protocol." ([VERIFY] Graph's code and text when it does not.)
  if (url.protocol !== 'https:') throw new GraphHttpError(400, 'ExtensionError', `Subscription validation request failed. The ${name} must use the HTTPS protocol.`);
  return url.toString();
}
