// Reading Graph's JSON answers as untrusted input: a body that is not a JSON object, a `value` that is not a list, or
// a link that is not a string is a TargetError `UnreadableAnswer` naming what was read — never a TypeError thrown
// out of the desk (non-negotiable 5: hostile input gets a clear error). Entries of `value` that are not objects are
// skipped. The shape follows OData's JSON format: a collection is `{ "value": [ … ] }` with its next page under
// `@odata.nextLink` (https://learn.microsoft.com/graph/paging).
import { TargetError } from '../target.ts';

export type JsonObject = Record<string, unknown>;

export const UNREADABLE_ANSWER = 'UnreadableAnswer';

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The answer's JSON object; `what` names the answer in the error ("the calendarView delta page of …"). */
export function answerObject(body: string, what: string): JsonObject {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new TargetError('transient', UNREADABLE_ANSWER, `${what} is not JSON`, { cause: error });
  }
  if (!isJsonObject(parsed)) throw new TargetError('transient', UNREADABLE_ANSWER, `${what} is not a JSON object`);
  return parsed;
}

/** The collection's entries that are objects (none when `value` is absent). */
export function collection(answer: JsonObject, what: string): JsonObject[] {
  const value = answer['value'] ?? [];
  if (!Array.isArray(value)) throw new TargetError('transient', UNREADABLE_ANSWER, `${what}: "value" is not a list`);
  return value.filter(isJsonObject);
}

/** An `@odata.…Link` of the answer: a string, or absent. */
export function link(answer: JsonObject, name: '@odata.nextLink' | '@odata.deltaLink', what: string): string | undefined {
  const value = answer[name];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw new TargetError('transient', UNREADABLE_ANSWER, `${what}: "${name}" is not a string`);
  return value;
}

/** A field that should be a string: itself, or undefined when it is anything else. */
export function text(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}
