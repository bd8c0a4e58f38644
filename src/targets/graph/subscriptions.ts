// Change notifications of a mailbox's calendar through Graph webhooks (docs/drift.md, "Change notifications"):
// `POST /subscriptions` for `users/{id}/events` with created,updated,deleted, a lifecycleNotificationUrl and the
// deployment's clientState; `PATCH /subscriptions/{id}` with a new expirationDateTime to renew; `GET /subscriptions`
// for the app's own (https://learn.microsoft.com/graph/api/subscription-post-subscriptions,
// https://learn.microsoft.com/graph/api/subscription-update, https://learn.microsoft.com/graph/api/subscription-list,
// https://learn.microsoft.com/graph/outlook-change-notifications-overview).
// - Outlook events without resource data: at most 10,080 minutes ahead (the subscription resource's table).
// - Graph validates both URLs while the POST is in flight: the endpoint must answer the validation token "within
//   10 seconds", so the request's own timeout is the target's (60 s by default), far above that.
// Application permissions only: a delegated target has no such subscriptions here.
import type { HttpResponse } from '../http.ts';
import { TargetError, type SubscriptionCapability, type SubscriptionInfo, type SubscriptionRequest } from '../target.ts';
import type { GraphConnection } from './meetings.ts';

/** The most a subscription of Outlook events may live (minutes). */
export const MAX_EVENT_SUBSCRIPTION_MINUTES = 10_080;
/** Pages of GET /subscriptions read at most: the app's subscriptions are a few per mailbox. */
const MAX_LIST_PAGES = 1_000;

interface GraphSubscription {
  id?: unknown;
  resource?: unknown;
  notificationUrl?: unknown;
  expirationDateTime?: unknown;
  clientState?: unknown;
}

const iso = (ms: number) => new Date(ms).toISOString();

/** The mailbox a resource names: `users/{id}/events` (or `/users/...`, `Users/...`), %-decoded; else null. */
export function calendarOfResource(resource: unknown): string | null {
  if (typeof resource !== 'string') return null;
  const match = /^\/?users\/([^/]+)\/events$/i.exec(resource);
  if (!match) return null;
  try {
    return decodeURIComponent(match[1]!).toLowerCase();
  } catch {
    return null;
  }
}

function parse(response: HttpResponse, what: string): GraphSubscription & { value?: unknown; '@odata.nextLink'?: unknown } {
  try {
    const body = JSON.parse(response.body) as unknown;
    if (body && typeof body === 'object') return body as GraphSubscription;
  } catch (error) {
    throw new TargetError('transient', 'UnreadableAnswer', `the answer to ${what} is not JSON`, { cause: error });
  }
  throw new TargetError('transient', 'UnreadableAnswer', `the answer to ${what} is not a JSON object`);
}

function infoOf(entry: GraphSubscription): SubscriptionInfo | null {
  if (typeof entry.id !== 'string' || !entry.id || typeof entry.notificationUrl !== 'string') return null;
  const expiresAt = Date.parse(String(entry.expirationDateTime));
  return {
    id: entry.id,
    calendar: calendarOfResource(entry.resource),
    notificationUrl: entry.notificationUrl,
    expiresAt: Number.isFinite(expiresAt) ? expiresAt : 0,
    clientState: typeof entry.clientState === 'string' ? entry.clientState : null,
  };
}

export class GraphSubscriptions implements SubscriptionCapability {
  private readonly graph: GraphConnection;
  constructor(graph: GraphConnection) {
    this.graph = graph;
  }

  async list(calendar: string): Promise<SubscriptionInfo[]> {
    const found: SubscriptionInfo[] = [];
    let url: string | undefined = `${this.graph.base}/subscriptions`;
    for (let pages = 0; url && pages < MAX_LIST_PAGES; pages++) {
      const page = parse(await this.graph.send(calendar, 'GET', url, undefined, 'item', {}), 'GET /subscriptions');
      for (const entry of Array.isArray(page.value) ? (page.value as GraphSubscription[]) : []) {
        const info = entry && typeof entry === 'object' ? infoOf(entry) : null;
        if (info) found.push(info);
      }
      url = typeof page['@odata.nextLink'] === 'string' ? page['@odata.nextLink'] : undefined;
    }
    return found;
  }

  async create(calendar: string, request: SubscriptionRequest): Promise<SubscriptionInfo> {
    const body = {
      changeType: 'created,updated,deleted',
      resource: `${this.graph.mailboxPath(calendar).replace(/^\/+/, '')}/events`,
      notificationUrl: request.notificationUrl,
      lifecycleNotificationUrl: request.lifecycleNotificationUrl,
      clientState: request.clientState,
      expirationDateTime: iso(request.expiresAt),
    };
    const info = infoOf(parse(await this.graph.send(calendar, 'POST', `${this.graph.base}/subscriptions`, body, 'mailbox', {}), 'POST /subscriptions'));
    if (!info) throw new TargetError('transient', 'UnreadableAnswer', 'the created subscription carries no id');
    return { ...info, calendar };
  }

  async renew(calendar: string, id: string, expiresAt: number): Promise<SubscriptionInfo> {
    const url = `${this.graph.base}/subscriptions/${encodeURIComponent(id)}`;
    const info = infoOf(parse(await this.graph.send(calendar, 'PATCH', url, { expirationDateTime: iso(expiresAt) }, 'item', {}), 'PATCH /subscriptions/{id}'));
    if (!info) throw new TargetError('transient', 'UnreadableAnswer', 'the renewed subscription carries no id');
    return { ...info, calendar };
  }

  async remove(calendar: string, id: string): Promise<void> {
    try {
      await this.graph.send(calendar, 'DELETE', `${this.graph.base}/subscriptions/${encodeURIComponent(id)}`, undefined, 'item', {});
    } catch (error) {
      // Already gone (expired, removed by Graph): what removing wanted.
      if (error instanceof TargetError && error.status === 404) return;
      throw error;
    }
  }
}
