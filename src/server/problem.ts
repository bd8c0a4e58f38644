// RFC 9457 problem details: every error of the push API is one of these, as application/problem+json.
import type { FieldProblem } from '../model/event.ts';
import { CalpushError } from '../model/errors.ts';

export interface FieldError {
  /** The field as the request names it: "start", "body.contentType", "calendar" (path parameter), … */
  field: string;
  /** JSON Pointer (RFC 6901) into the request body, when the field is in the body. */
  pointer?: string;
  message: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  [extension: string]: unknown;
}

/** The kinds of problem; `type` is a link to their description on the docs page. */
export const PROBLEM_TYPES = {
  'invalid-request': { status: 400, title: 'The request is invalid', description: 'A field, parameter or the body is not acceptable; `errors` names each one.' },
  'invalid-json': { status: 400, title: 'The body is not valid JSON', description: 'The body could not be parsed as JSON (or one NDJSON line could not).' },
  unauthorized: { status: 401, title: 'An API key is needed', description: 'Send `Authorization: Bearer <key>` with a key made by `calpush apikey create`.' },
  forbidden: { status: 403, title: 'The API key may not do this', description: 'The key is read-only, or limited to calendars that do not include this one.' },
  'not-found': { status: 404, title: 'Not found', description: 'No such route, calendar or event. A calendar is known when it is in the config’s `mailboxes` (when given) or in the store.' },
  'method-not-allowed': { status: 405, title: 'Method not allowed', description: 'The route exists, but not with this method.' },
  conflict: { status: 409, title: 'Conflict', description: 'The calendar is fed by an iCalendar feed (its feed is its only source), or a replacement would remove every event without `allowEmpty=true`.' },
  'uri-too-long': { status: 414, title: 'A path parameter is too long', description: 'A calendar or event id in the path is longer than 2048 characters (after authentication; the URL is not repeated in the answer).' },
  'too-many-requests': {
    status: 429,
    title: 'Too many failed authentications',
    description: 'This client address failed to authenticate too often (server.authFailureLimit within server.authFailureWindowSeconds). Wait for Retry-After; a request with a valid key is served meanwhile.',
  },
  'header-too-large': { status: 431, title: 'The request head is too large', description: 'The request line and headers together exceed 16 KB; the connection is closed before the request is read.' },
  'request-timeout': { status: 408, title: 'The request took too long', description: 'The request head or body did not arrive in time; the connection is closed.' },
  'payload-too-large': { status: 413, title: 'The body is too large', description: 'The body, or the number of items in it, is over the server’s limit (server.bodyLimitBytes, bulkBodyLimitBytes, batchMaxItems, replaceMaxEvents).' },
  'unsupported-media-type': { status: 415, title: 'Unsupported media type', description: 'Send application/json (or application/x-ndjson where a route says so).' },
  'internal-error': { status: 500, title: 'Internal error', description: 'Something went wrong in calpush; the log has the details. Nothing was partly applied.' },
  unavailable: { status: 503, title: 'Shutting down', description: 'The server is stopping; try again shortly.' },
} as const;

export type ProblemKind = keyof typeof PROBLEM_TYPES;

export function problemType(kind: ProblemKind): string {
  return `/docs#problem-${kind}`;
}

export function problem(kind: ProblemKind, detail?: string, extra: Partial<Problem> = {}): Problem {
  const { status, title } = PROBLEM_TYPES[kind];
  return { type: problemType(kind), title, status, ...(detail ? { detail } : {}), ...extra };
}

/** A request the API answers with a problem document (RFC 9457); its code is the problem's kind. */
export class ProblemError extends CalpushError {
  readonly problem: Problem;
  constructor(problem: Problem) {
    super(problem.type.replace(/^.*#problem-/, ''), problem.detail ?? problem.title);
    this.problem = problem;
  }
}

export function invalid(detail: string, errors: FieldError[]): ProblemError {
  return new ProblemError(problem('invalid-request', detail, { errors }));
}

/** Field problems of the event model, with JSON pointers into the body (path parameters have none). */
export function fieldErrors(problems: FieldProblem[], pathFields: string[] = []): FieldError[] {
  return problems.map(({ field, message }) =>
    pathFields.includes(field) || field === '(record)' ? { field, message } : { field, pointer: `/${field.split('.').map((p) => p.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`, message },
  );
}
