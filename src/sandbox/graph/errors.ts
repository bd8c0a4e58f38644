// Graph error answers. Shape per https://learn.microsoft.com/graph/errors :
// { "error": { "code", "message", "innerError": { "date", "request-id", "client-request-id" } } } with the
// request-id / client-request-id response headers.

export interface GraphResult {
  status: number;
  headers: Record<string, string>;
  body?: unknown;
  /** destroy the connection instead of answering (fault injection: the response "never arrived") */
  drop?: boolean;
}

export interface RequestIds {
  requestId: string;
  clientRequestId: string;
}

/** Graph's innerError date: ISO 8601 without fractional seconds, e.g. "2024-08-19T01:08:18". */
export function innerErrorDate(now = new Date()): string {
  return now.toISOString().replace(/\.\d{3}Z$/, '');
}

export function graphError(status: number, code: string, message: string, ids: RequestIds, headers: Record<string, string> = {}): GraphResult {
  return {
    status,
    headers: { 'content-type': 'application/json', ...headers },
    body: { error: { code, message, innerError: { date: innerErrorDate(), 'request-id': ids.requestId, 'client-request-id': ids.clientRequestId } } },
  };
}

/** Thrown inside the Graph handlers to answer with an error; caught by the dispatcher. */
export class GraphHttpError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export const badRequest = (message: string, code = 'BadRequest') => new GraphHttpError(400, code, message);
