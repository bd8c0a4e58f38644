// POST /users/{id}/events/{id}/accept | tentativelyAccept | decline | cancel (also below /calendar/events):
// https://learn.microsoft.com/graph/api/event-accept, …/event-tentativelyaccept, …/event-decline, …/event-cancel.
// Each answers 202 Accepted with no body; the meeting engine (../meetings.ts) does the rest.
import { MeetingError, type Answer } from '../meetings.ts';
import { badRequest, GraphHttpError, type GraphResult } from './errors.ts';
import { parseGraphDateTime } from './timezones.ts';
import { occurrenceById, occurrenceDate } from './occurrences.ts';
import type { GraphOperation, GraphService, Mailbox, UserResourceHandler } from './service.ts';

const ACTIONS: Record<string, Answer | 'cancel'> = { accept: 'accepted', tentativelyaccept: 'tentativelyAccepted', decline: 'declined', cancel: 'cancel' };
const PARAMETERS: Record<string, Record<string, 'string' | 'boolean' | 'timeSlot'>> = {
  accept: { comment: 'string', sendResponse: 'boolean' },
  tentativelyaccept: { comment: 'string', sendResponse: 'boolean', proposedNewTime: 'timeSlot' },
  decline: { comment: 'string', sendResponse: 'boolean', proposedNewTime: 'timeSlot' },
  cancel: { comment: 'string' },
};

/** events/{id}/{action} or calendar/events/{id}/{action} */
function actionOf(lower: string[]): string | undefined {
  const path = lower[0] === 'calendar' ? lower.slice(1) : lower;
  return path.length === 3 && path[0] === 'events' && path[2]! in ACTIONS ? path[2] : undefined;
}

export function meetingActions(service: GraphService): UserResourceHandler {
  return {
    matches: (lower) => actionOf(lower) !== undefined,
    methods: ['POST'],
    roles: () => ['Calendars.ReadWrite'],
    handle: (op, mailbox, rest) => act(service, op, mailbox, rest),
  };
}

function act(service: GraphService, op: GraphOperation, mailbox: Mailbox, rest: string[]): GraphResult {
  const path = rest[0]!.toLowerCase() === 'calendar' ? rest.slice(1) : rest;
  const action = path[2]!.toLowerCase();
  const parameters = readParameters(op.body, action);
  // An occurrence's id answers (or, for the organiser, cancels) that occurrence only (occurrences.ts).
  const record = service.store.get(mailbox.address, path[1]!) ?? occurrenceById(path[1]!, (id) => service.store.get(mailbox.address, id));
  // 404 ErrorItemNotFound, as for any event id the mailbox does not hold.
  if (!record) throw new GraphHttpError(404, 'ErrorItemNotFound', 'The specified object was not found in the store.');
  try {
    if (action === 'cancel') {
      // "An attendee calling this action gets an error (HTTP 400 Bad Request), with the following error message:
      // 'Your request can't be completed. You need to be an organizer to cancel a meeting.'" (event-cancel)
      if (!record.meeting?.isOrganizer) throw badRequest("Your request can't be completed. You need to be an organizer to cancel a meeting.", 'ErrorInvalidRequest');
      if (record.occurrenceOf) {
        service.meetings.occurrenceChanged(service.store.get(mailbox.address, record.occurrenceOf.id)!, occurrenceDate(record.id)!.date, 'cancelled');
        return { status: 202, headers: {} };
      }
      service.meetings.cancelled(record, parameters['comment'] as string | undefined, 'all');
      // "The action moves the event to the Deleted Items folder."
      service.store.delete(mailbox.address, record.id);
      return { status: 202, headers: {} };
    }
    if (parameters['proposedNewTime'] !== undefined) checkProposal(record.fields['allowNewTimeProposals'] !== false, parameters['sendResponse'] !== false);
    service.meetings.respond(mailbox.address, { event: record }, ACTIONS[action] as Answer, {
      sendResponse: parameters['sendResponse'] !== false,
      ...(typeof parameters['comment'] === 'string' ? { comment: parameters['comment'] } : {}),
    });
    return { status: 202, headers: {} };
  } catch (error) {
    if (error instanceof MeetingError) throw refusal(error);
    throw error;
  }
}

/**
 * The action's parameters: only those the action declares, of their declared type (ODataLib rejects an unknown
 * parameter and a value of the wrong kind like a wrong property; the texts follow validate.ts's). Defaults:
 * sendResponse "Optional. Default is true."
 */
function readParameters(body: unknown, action: string): Record<string, unknown> {
  if (body === undefined) return {};
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The parameter payload must be a JSON object.', 'RequestBodyRead');
  const declared = PARAMETERS[action]!;
  const out: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(body as Record<string, unknown>)) {
    // The docs' own example sends "Comment" to cancel; parameter names are matched case-insensitively here.
    const key = Object.keys(declared).find((k) => k.toLowerCase() === name.toLowerCase());
    if (!key) throw badRequest(`The parameter '${name}' in the request payload is not a valid parameter for the operation '${action}'.`, 'RequestBodyRead');
    const kind = declared[key]!;
    if (value === null) continue;
    if (kind === 'string' && typeof value !== 'string') throw badRequest(`Cannot convert the literal '${String(value)}' to the expected type 'Edm.String'.`, 'RequestBodyRead');
    if (kind === 'boolean' && typeof value !== 'boolean') throw badRequest(`Cannot convert the literal '${String(value)}' to the expected type 'Edm.Boolean'.`, 'RequestBodyRead');
    if (kind === 'timeSlot' && !isTimeSlot(value)) throw badRequest('The parameter proposedNewTime must be a timeSlot with start and end.', 'RequestBodyRead');
    out[key] = value;
  }
  return out;
}

function isTimeSlot(value: unknown): boolean {
  const slot = value as { start?: { dateTime?: unknown }; end?: { dateTime?: unknown } } | null;
  return typeof slot?.start?.dateTime === 'string' && typeof slot?.end?.dateTime === 'string' && parseGraphDateTime(slot.start.dateTime) !== undefined && parseGraphDateTime(slot.end.dateTime) !== undefined;
}

/**
 * "This action returns HTTP 400 if … the proposedNewTime parameter is included but the allowNewTimeProposals
 * property of the event is false … [or] the sendResponse parameter is set to false." (event-decline; the codes and
 * texts are the sandbox's [VERIFY]). The proposal itself is not carried to the organiser.
 */
function checkProposal(allowed: boolean, sendResponse: boolean): void {
  if (!allowed) throw badRequest('The organizer does not allow new time proposals for this meeting.', 'ErrorInvalidRequest');
  if (!sendResponse) throw badRequest('A new time can only be proposed with sendResponse set to true.', 'ErrorInvalidRequest');
}

/** The meeting engine's refusals as Graph errors ([VERIFY] the codes and texts: not documented for Graph). */
function refusal(error: MeetingError): GraphHttpError {
  switch (error.reason) {
    case 'isOrganizer':
      return badRequest("Your request can't be completed. You can't respond to a meeting you organized.", 'ErrorInvalidRequest');
    case 'cancelled':
      return badRequest("Your request can't be completed. The meeting has been cancelled.", 'ErrorInvalidRequest');
    default:
      return badRequest(`Your request can't be completed. ${error.message}`, 'ErrorInvalidRequest');
  }
}
