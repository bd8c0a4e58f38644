// The Microsoft Graph target: app-only access to /users/{mailbox}/events.
import type { DesiredEvent } from '../../model/event.ts';
import { HttpClient, NetworkError, type HttpRequest, type HttpResponse } from '../http.ts';
import { TargetError, type BatchCapability, type BatchOp, type BatchOutcome, type CalendarTarget, type ItemRef, type OwnedItem, type OwnedPage } from '../target.ts';
import { GraphTokenProvider, type GraphCredential } from './auth.ts';
import { classifyGraphError } from './errors.ts';
import { graphEventBody, parseTagValue, TAG_PROPERTY_ID } from './mapping.ts';

export interface GraphTargetOptions {
  instance: string;
  tenantId: string;
  clientId: string;
  credential: GraphCredential;
  authorityHost: string;
  /** e.g. https://graph.microsoft.com/v1.0 */
  graphBaseUrl: string;
  scope: string;
  caPem?: string;
  allDayTimeZone: string;
  /** The whole exchange of one request (src/targets/http.ts). */
  requestTimeoutMs?: number;
  /** Largest answer body (DEFAULT_MAX_RESPONSE_BYTES). */
  maxResponseBytes?: number;
  /** Page size when listing our events (Graph allows up to 1000 for events with $top). */
  pageSize?: number;
  /**
   * JSON $batch (https://learn.microsoft.com/graph/json-batching): "chain" links the requests with dependsOn so
   * the mailbox sees one at a time; "parallel" lets Outlook run up to 4 at once; "auto" (the default) lets delivery
   * choose per batch; "off" sends one request each.
   */
  batch?: 'auto' | 'chain' | 'parallel' | 'off';
}

/** Graph's limit of requests in one JSON batch (https://learn.microsoft.com/graph/json-batching). */
export const GRAPH_BATCH_MAX = 20;

/**
 * Immutable ids survive moves between folders; asked for on every request as Microsoft recommends
 * (https://learn.microsoft.com/graph/outlook-immutable-id).
 */
const PREFER_IMMUTABLE_ID = 'IdType="ImmutableId"';

export class GraphTarget implements CalendarTarget {
  readonly kind = 'graph' as const;
  readonly batch?: BatchCapability;
  private readonly http: HttpClient;
  private readonly tokens: GraphTokenProvider;
  private readonly base: string;
  private readonly options: GraphTargetOptions;
  /** Graph has answered at least one request (see request()). */
  private answered = false;

  constructor(options: GraphTargetOptions) {
    this.options = options;
    this.http = new HttpClient({
      caPem: options.caPem,
      timeoutMs: options.requestTimeoutMs ?? 60_000,
      ...(options.maxResponseBytes ? { maxResponseBytes: options.maxResponseBytes } : {}),
    });
    this.tokens = new GraphTokenProvider(options, this.http);
    this.base = options.graphBaseUrl.replace(/\/+$/, '');
    const mode = options.batch ?? 'auto';
    if (mode !== 'off') {
      // Outlook runs at most 4 requests of a batch at once for a mailbox (throttling-limits, "Outlook service limits").
      this.batch = { maxOps: GRAPH_BATCH_MAX, mode, parallelism: 4, run: (calendar, ops, chosen) => this.runBatch(calendar, ops, mode === 'auto' ? (chosen ?? 'chain') : mode) };
    }
  }

  /** Path of a request inside a batch: relative to the version root. */
  private relativeEventsPath(calendar: string): string {
    return `/users/${encodeURIComponent(calendar)}/events`;
  }

  private async runBatch(calendar: string, ops: BatchOp[], mode: 'chain' | 'parallel'): Promise<BatchOutcome[]> {
    const headers = { 'content-type': 'application/json', prefer: PREFER_IMMUTABLE_ID };
    const requests = ops.map((op, index) => {
      const id = String(index + 1);
      const dependsOn = mode === 'chain' && index > 0 ? { dependsOn: [String(index)] } : {};
      const events = this.relativeEventsPath(calendar);
      if (op.kind === 'create') {
        return { id, method: 'POST', url: events, headers, body: { ...graphEventBody(op.desired, this.options), transactionId: op.transactionId }, ...dependsOn };
      }
      if (op.kind === 'update') {
        return { id, method: 'PATCH', url: `${events}/${encodeURIComponent(op.item.itemId)}`, headers, body: graphEventBody(op.desired, this.options), ...dependsOn };
      }
      return { id, method: 'DELETE', url: `${events}/${encodeURIComponent(op.item.itemId)}`, headers: { prefer: PREFER_IMMUTABLE_ID }, ...dependsOn };
    });
    const response = await this.send('POST', `${this.base}/$batch`, { requests }, 'mailbox');
    const answers = new Map<string, { status: number; headers?: Record<string, string>; body?: unknown }>();
    for (const answer of (JSON.parse(response.body) as { responses?: Array<{ id: string; status: number; headers?: Record<string, string>; body?: unknown }> }).responses ?? []) {
      answers.set(String(answer.id), answer);
    }
    return ops.map((op, index): BatchOutcome => {
      const answer = answers.get(String(index + 1));
      if (!answer) return { ok: false, error: new TargetError('transient', 'MissingBatchResponse', `the batch answer has no response for request ${index + 1}`) };
      const itemHeaders: Record<string, string> = {};
      for (const [name, value] of Object.entries(answer.headers ?? {})) itemHeaders[name.toLowerCase()] = String(value);
      if (answer.status === 424) {
        // Failed Dependency: an earlier request in the chain failed; this one was never run.
        return { ok: false, error: new TargetError('transient', 'FailedDependency', 'not run: an earlier request in the batch failed', { status: 424 }) };
      }
      if (answer.status >= 400) {
        const error = classifyGraphError({ status: answer.status, headers: itemHeaders, body: JSON.stringify(answer.body ?? {}) }, op.kind === 'create' ? 'mailbox' : 'item');
        if (op.kind === 'delete' && error.scope === 'gone') return { ok: true };
        return { ok: false, error };
      }
      if (op.kind === 'delete') return { ok: true };
      const body = (answer.body ?? {}) as { id?: string; changeKey?: string };
      const itemId = body.id ?? (op.kind === 'update' ? op.item.itemId : undefined);
      if (!itemId) return { ok: false, error: new TargetError('transient', 'MissingItemId', 'the batch answer for a create carries no event id') };
      return { ok: true, item: { itemId, changeKey: body.changeKey ?? null } };
    });
  }

  private eventsUrl(calendar: string): string {
    return `${this.base}/users/${encodeURIComponent(calendar)}/events`;
  }

  /**
   * One Graph request with a bearer token. A 401 means Graph refused the token — expired before its time or revoked
   * (InvalidAuthenticationToken, https://learn.microsoft.com/graph/errors): it is dropped, a fresh one is fetched and
   * the request sent once more. Only a second 401 in a row is the credentials' fault (fatal). Graph did not act on
   * a request it answered 401, so sending it again duplicates nothing.
   */
  private async send(method: string, url: string, body?: unknown, context: 'mailbox' | 'item' = 'item'): Promise<HttpResponse> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    for (let attempt = 1; ; attempt++) {
      const token = await this.tokens.token();
      const headers: Record<string, string> = {
        authorization: `Bearer ${token}`,
        accept: 'application/json',
        prefer: PREFER_IMMUTABLE_ID,
      };
      if (payload !== undefined) headers['content-type'] = 'application/json';
      const response = await this.request({ method, url, headers, body: payload });
      if (response.status === 401 && attempt === 1) {
        this.tokens.invalidate(token);
        continue;
      }
      if (response.status >= 400) throw classifyGraphError(response, context);
      return response;
    }
  }

  /**
   * Until Graph has answered once, a refused or unroutable connection means graphBaseUrl is wrong (or the endpoint
   * is down) for every mailbox alike: the run stops with that, instead of every request being retried and failed.
   */
  private async request(request: HttpRequest): Promise<HttpResponse> {
    try {
      const response = await this.http.request(request);
      this.answered = true;
      return response;
    } catch (error) {
      if (!this.answered && error instanceof NetworkError && (error.reason === 'refused' || error.reason === 'unreachable')) {
        throw new TargetError('fatal', error.code, `could not reach Microsoft Graph: ${error.message}`, {
          remedy: `check target.graphBaseUrl (${this.options.graphBaseUrl}): ${error.remedy ?? 'is the endpoint running?'}`,
          cause: error,
        });
      }
      throw error;
    }
  }

  async listOwned(calendar: string, cursor?: string): Promise<OwnedPage> {
    let url: string;
    if (cursor) {
      // Follow nextLink only back to the same Graph endpoint: our bearer token must never go anywhere else.
      if (new URL(cursor).origin !== new URL(this.base).origin) {
        throw new TargetError('fatal', 'UnexpectedNextLink', `Graph returned a nextLink to another host (${new URL(cursor).host})`);
      }
      url = cursor;
    } else {
      // https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get: filter on the property id,
      // expand it to read its value.
      const tag = `'${TAG_PROPERTY_ID}'`;
      const query = new URLSearchParams({
        $filter: `singleValueExtendedProperties/Any(ep: ep/id eq ${tag})`,
        $expand: `singleValueExtendedProperties($filter=id eq ${tag})`,
        $select: 'id,changeKey,transactionId',
        $top: String(this.options.pageSize ?? 250),
      });
      url = `${this.eventsUrl(calendar)}?${query.toString().replace(/\+/g, '%20')}`;
    }
    const response = await this.send('GET', url, undefined, 'mailbox');
    const page = JSON.parse(response.body) as {
      value?: Array<{ id: string; changeKey?: string; transactionId?: string | null; singleValueExtendedProperties?: Array<{ id: string; value: string }> }>;
      '@odata.nextLink'?: string;
    };
    const items: OwnedItem[] = [];
    for (const event of page.value ?? []) {
      const property = event.singleValueExtendedProperties?.find((p) => p.id.toLowerCase() === TAG_PROPERTY_ID.toLowerCase());
      const tag = property ? parseTagValue(property.value) : null;
      // Tagged by another calpush instance, or a tag we cannot read: not ours to touch.
      if (!tag || tag.instance !== this.options.instance) continue;
      items.push({ key: tag.key, itemId: event.id, changeKey: event.changeKey ?? null, contentHash: tag.contentHash, transactionId: event.transactionId ?? null });
    }
    return page['@odata.nextLink'] ? { items, next: page['@odata.nextLink'] } : { items };
  }

  async create(desired: DesiredEvent, transactionId: string): Promise<ItemRef> {
    const body = { ...graphEventBody(desired, this.options), transactionId };
    const response = await this.send('POST', this.eventsUrl(desired.event.calendar), body, 'mailbox');
    const created = JSON.parse(response.body) as { id: string; changeKey?: string };
    return { itemId: created.id, changeKey: created.changeKey ?? null };
  }

  async update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
    const url = `${this.eventsUrl(desired.event.calendar)}/${encodeURIComponent(item.itemId)}`;
    const response = await this.send('PATCH', url, graphEventBody(desired, this.options));
    const updated = JSON.parse(response.body) as { id?: string; changeKey?: string };
    return { itemId: updated.id ?? item.itemId, changeKey: updated.changeKey ?? null };
  }

  async remove(calendar: string, item: ItemRef): Promise<void> {
    try {
      await this.send('DELETE', `${this.eventsUrl(calendar)}/${encodeURIComponent(item.itemId)}`);
    } catch (error) {
      if (error instanceof TargetError && error.scope === 'gone') return;
      throw error;
    }
  }

  async close(): Promise<void> {
    this.http.close();
  }
}
