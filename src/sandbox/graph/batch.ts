// JSON batching: POST /v1.0/$batch (https://learn.microsoft.com/graph/json-batching).
// - up to 20 requests, each with a unique id, a method and a URL relative to the version root;
// - headers with Content-Type are required when a body is present;
// - dependsOn orders requests; when a request fails, requests depending on it fail with 424 Failed Dependency;
// - every request is evaluated individually against the throttling limits and can fail with its own 429 and
//   Retry-After header ("Throttling and batching", https://learn.microsoft.com/graph/throttling);
// - for Outlook resources "the service executes up to 4 requests in parallel at any point, irrespective of the
//   target mailbox" (https://learn.microsoft.com/graph/throttling-limits#outlook-service-limits);
// - the batch answers 200 with { responses: [{ id, status, headers, body }] } in any order.
import type { AppRecord } from '../identity.ts';
import { GraphHttpError, type GraphResult, type RequestIds } from './errors.ts';
import { newRequestIds, type GraphOperation, type GraphService } from './service.ts';

export const MAX_BATCH_REQUESTS = 20;
const BATCH_PARALLELISM = 4;
const METHODS = new Set(['GET', 'POST', 'PATCH', 'PUT', 'DELETE']);

interface BatchItem {
  id: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  body: unknown;
  dependsOn: string[];
}

function invalid(message: string): GraphHttpError {
  return new GraphHttpError(400, 'BadRequest', message);
}

/** Validates the batch payload; throws GraphHttpError (the whole batch fails with 400). */
export function parseBatch(payload: unknown): BatchItem[] {
  const requests = payload && typeof payload === 'object' && !Array.isArray(payload) ? (payload as { requests?: unknown }).requests : undefined;
  // [VERIFY] wording for a malformed payload.
  if (!Array.isArray(requests) || requests.length === 0) throw invalid('Invalid batch payload format.');
  if (requests.length > MAX_BATCH_REQUESTS) {
    // Observed answer for more than 20 requests: https://github.com/microsoftgraph/microsoftgraph-postman-collections/issues/9
    throw invalid('Number of requests inside batch exceeds the limit.');
  }
  const items: BatchItem[] = [];
  const ids = new Set<string>();
  for (const raw of requests) {
    if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw invalid('Invalid batch payload format.');
    const r = raw as Record<string, unknown>;
    const id = typeof r['id'] === 'string' ? r['id'] : typeof r['id'] === 'number' ? String(r['id']) : '';
    if (id === '') throw invalid('Batch request id is required.');
    // "The id … must be unique within the batch" (json-batching); [VERIFY] wording.
    if (ids.has(id)) throw invalid(`Batch request contains duplicate request id '${id}'.`);
    const method = typeof r['method'] === 'string' ? r['method'].toUpperCase() : '';
    if (!METHODS.has(method)) throw invalid(`Invalid method '${String(r['method'] ?? '')}' for batch request id '${id}'.`);
    const url = typeof r['url'] === 'string' ? r['url'] : '';
    if (url === '' || /^[a-z][a-z0-9+.-]*:/i.test(url)) {
      // "url: relative resource URL" (json-batching); absolute URLs are rejected. [VERIFY] wording.
      throw invalid(`Invalid request URL '${url}' for batch request id '${id}'; it must be relative to the version root, e.g. '/users'.`);
    }
    const headers: Record<string, string> = {};
    if (r['headers'] !== undefined) {
      if (!r['headers'] || typeof r['headers'] !== 'object' || Array.isArray(r['headers'])) throw invalid(`Invalid headers for batch request id '${id}'.`);
      for (const [name, value] of Object.entries(r['headers'] as Record<string, unknown>)) headers[name.toLowerCase()] = String(value);
    }
    const hasBody = r['body'] !== undefined && r['body'] !== null;
    if ((method === 'POST' || method === 'PATCH' || method === 'PUT') && (!hasBody || !headers['content-type'])) {
      // Observed: "Write request id : <id> does not contain Content-Type header or body."
      // (https://github.com/microsoftgraph/msgraph-sdk-dotnet/issues/2628).
      throw invalid(`Write request id : ${id} does not contain Content-Type header or body.`);
    }
    if (hasBody && !headers['content-type']) throw invalid(`Write request id : ${id} does not contain Content-Type header or body.`);
    let dependsOn: string[] = [];
    if (r['dependsOn'] !== undefined) {
      if (!Array.isArray(r['dependsOn'])) throw invalid(`Invalid dependsOn for batch request id '${id}'.`);
      dependsOn = r['dependsOn'].map(String);
      for (const dep of dependsOn) {
        // Requests can depend only on requests earlier in the same batch ([VERIFY] wording).
        if (!ids.has(dep)) throw invalid(`Batch request id '${id}' depends on request id '${dep}', which is not an earlier request in the batch.`);
      }
    }
    ids.add(id);
    items.push({ id, method, url, headers, body: hasBody ? r['body'] : undefined, dependsOn });
  }
  return items;
}

export interface BatchResponseItem {
  id: string;
  status: number;
  headers: Record<string, string>;
  body?: unknown;
}

/** Runs a parsed batch through the service, at most 4 items at a time, honouring dependsOn. */
export async function runBatch(service: GraphService, items: BatchItem[], app: AppRecord, outer: RequestIds): Promise<{ responses: BatchResponseItem[]; drop: boolean }> {
  const responses: BatchResponseItem[] = [];
  const status = new Map<string, number>();
  const pending = [...items];
  const running = new Map<string, Promise<void>>();
  let drop = false;

  const start = (item: BatchItem) => {
    const q = item.url.indexOf('?');
    const pathPart = q === -1 ? item.url : item.url.slice(0, q);
    const queryPart = q === -1 ? '' : item.url.slice(q + 1);
    const op: GraphOperation = {
      method: item.method,
      path: pathPart.startsWith('/') ? pathPart : `/${pathPart}`,
      query: new URLSearchParams(queryPart),
      headers: item.headers,
      body: item.body,
      app,
      ids: newRequestIds(item.headers['client-request-id'] ?? outer.clientRequestId),
    };
    const promise = service.execute(op).then((result: GraphResult) => {
      if (result.drop) drop = true;
      status.set(item.id, result.status);
      const entry: BatchResponseItem = { id: item.id, status: result.status, headers: result.headers };
      if (result.body !== undefined) entry.body = result.body;
      responses.push(entry);
      running.delete(item.id);
    });
    running.set(item.id, promise);
  };

  while (pending.length > 0 || running.size > 0) {
    let progressed = false;
    for (let i = 0; i < pending.length && running.size < BATCH_PARALLELISM; ) {
      const item = pending[i]!;
      const deps = item.dependsOn.map((d) => status.get(d));
      if (deps.some((s) => s === undefined)) {
        i++;
        continue;
      }
      pending.splice(i, 1);
      progressed = true;
      if (deps.some((s) => s! >= 400)) {
        // 424 Failed Dependency for requests whose dependency failed (json-batching). [VERIFY] body wording.
        status.set(item.id, 424);
        responses.push({
          id: item.id,
          status: 424,
          headers: { 'content-type': 'application/json' },
          body: { error: { code: 'FailedDependency', message: 'The request could not be executed because a request it depends on failed.' } },
        });
        continue;
      }
      start(item);
    }
    if (running.size > 0) await Promise.race(running.values());
    else if (!progressed && pending.length > 0) {
      // Unreachable with earlier-only dependencies; guard against a stall.
      for (const item of pending.splice(0)) responses.push({ id: item.id, status: 424, headers: {}, body: { error: { code: 'FailedDependency', message: 'Unresolvable dependency.' } } });
    }
  }
  return { responses, drop };
}
