// The endpoints Microsoft Graph posts change notifications and lifecycle notifications to (docs/drift.md, "Change
// notifications"), under server.publicUrl, without an API key: what authenticates a notification is its clientState.
// - Validation: "Microsoft Graph encodes a validation token and includes it in a POST request to the notification
//   URL"; the endpoint answers "within 10 seconds" with 200, Content-Type text/plain and the token, URL-decoded
//   (https://learn.microsoft.com/graph/change-notifications-delivery-webhooks#notificationurl-validation). The token
//   is answered only as text/plain and only when it is short, so the endpoint cannot be made to echo a page.
// - Notifications: "respond with a 202 Accepted status code" at once and process them after; each one's clientState
//   is compared with the deployment's (under every listed store key) in constant time, and one with another is ignored ("verify that
//   the clientState ... matches"), logged without the value. The answer is 202 either way, so a stranger learns
//   nothing from it.
// - Lifecycle notifications (https://learn.microsoft.com/graph/change-notifications-lifecycle-events) likewise.
// Bodies are bounded (a notification batch is small), and so is the number of notifications read from one.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { LIFECYCLE_PATH, NOTIFICATION_PATH, type LifecycleEvent } from '../engine/notifications.ts';

/** What the endpoints hand notifications to (engine/notifications.ts MailboxSubscriptions). */
export interface NotificationReceiver {
  /** Whether the clientState is calpush's under any listed store key (id: the notification's subscription). */
  acceptsClientState(value: unknown, subscriptionId?: string): boolean;
  notified(subscriptionId: string): boolean;
  lifecycle(subscriptionId: string, event: LifecycleEvent): boolean;
  /** Counts the body's notifications, accepted or rejected (the status, the metrics). */
  tally?(results: Array<{ subscriptionId: string; accepted: boolean }>): void;
}

/** A body of notifications: Graph batches a few; 1 MiB and 1,000 entries are far above that and bound the work. */
const BODY_LIMIT_BYTES = 1024 * 1024;
const MAX_ENTRIES = 1_000;
/** Graph's tokens are about a hundred characters; a longer one is not Graph's. */
const MAX_TOKEN_CHARS = 1_024;
const LIFECYCLE_EVENTS = new Set<string>(['reauthorizationRequired', 'subscriptionRemoved', 'missed']);

interface Entry {
  subscriptionId?: unknown;
  clientState?: unknown;
  lifecycleEvent?: unknown;
}

export async function registerNotifications(parent: FastifyInstance, receiver: NotificationReceiver): Promise<void> {
  await parent.register(async (app) => {
    // Graph's validation request is text/plain (with an empty body), which the API's routes refuse: taken here only.
    app.addContentTypeParser('text/plain', { parseAs: 'string', bodyLimit: MAX_TOKEN_CHARS }, (_request, body, done) => done(null, body));
    routes(app, receiver);
  });
}

function routes(app: FastifyInstance, receiver: NotificationReceiver): void {
  const log = app.log;
  const route = (url: string, handle: (entry: Entry, subscriptionId: string) => boolean) =>
    app.route({
      method: 'POST',
      url,
      bodyLimit: BODY_LIMIT_BYTES,
      config: { auth: 'none' },
      handler: async (request: FastifyRequest, reply: FastifyReply) => {
        const token = (request.query as Record<string, unknown> | undefined)?.['validationToken'];
        if (token !== undefined) return validation(reply, token);
        const entries = entriesOf(request.body);
        let ignored = 0;
        const results: Array<{ subscriptionId: string; accepted: boolean }> = [];
        for (const entry of entries.slice(0, MAX_ENTRIES)) {
          const id = typeof entry.subscriptionId === 'string' ? entry.subscriptionId : '';
          const accepted = receiver.acceptsClientState(entry.clientState, id);
          results.push({ subscriptionId: id, accepted });
          if (!accepted) ignored++;
          else if (!handle(entry, id)) log.debug({ url }, 'a notification of a subscription this process does not hold: ignored');
        }
        if (results.length) receiver.tally?.(results);
        // The count only: never the value that did not match.
        if (ignored) log.warn({ url, ignored }, 'notifications with a clientState that is not calpush’s were ignored');
        return reply.code(202).send();
      },
    });
  route(NOTIFICATION_PATH, (_entry, id) => receiver.notified(id));
  route(LIFECYCLE_PATH, (entry, id) => typeof entry.lifecycleEvent === 'string' && LIFECYCLE_EVENTS.has(entry.lifecycleEvent) && receiver.lifecycle(id, entry.lifecycleEvent as LifecycleEvent));
}

function validation(reply: FastifyReply, token: unknown): FastifyReply {
  if (typeof token !== 'string' || !token || token.length > MAX_TOKEN_CHARS) return reply.code(400).type('text/plain; charset=utf-8').send('not a validation token');
  return reply.code(200).type('text/plain; charset=utf-8').send(token);
}

function entriesOf(body: unknown): Entry[] {
  const value = body && typeof body === 'object' ? (body as { value?: unknown }).value : undefined;
  return Array.isArray(value) ? value.filter((e): e is Entry => Boolean(e) && typeof e === 'object') : [];
}
