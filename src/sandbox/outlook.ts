// Acting as the person who owns a mailbox, as Outlook does on their behalf: the control API tests use to make the
// changes people make (move or delete a pushed lecture, book a room, answer an invitation) without a Graph token.
// The changes take the same path as Graph's (validated against the v1.0 CSDL, through the same store and meeting
// engine), so delta, SyncFolderItems and change notifications see them like any other.
import { GraphHttpError } from './graph/errors.ts';
import { validateGraphBody } from './graph/schema/validate.ts';
import type { GraphService } from './graph/service.ts';
import type { EventRecord } from './graph/store.ts';
import { occurrenceById, occurrenceDate } from './graph/occurrences.ts';
import { MeetingError } from './meetings.ts';
import type { GraphStoredEvent, OutlookUser } from './types.ts';

const ANSWERS = { accept: 'accepted', tentativelyAccept: 'tentativelyAccepted', decline: 'declined' } as const;

export function outlookUser(service: GraphService, address: string): OutlookUser {
  const mailbox = service.mailbox(address);
  if (!mailbox || mailbox.state === 'noMailbox') throw new Error(`sandbox: no mailbox '${address}' in the tenant`);
  // An occurrence's id names that occurrence (graph/occurrences.ts), as in Outlook's "this occurrence".
  const event = (id: string): EventRecord => {
    const record = service.store.get(mailbox.address, id) ?? occurrenceById(id, (masterId) => service.store.get(mailbox.address, masterId));
    if (!record) throw new Error(`sandbox: ${mailbox.address} has no event '${id}'`);
    return record;
  };
  const checked = (body: Record<string, unknown>, mode: 'create' | 'update') => {
    const problem = validateGraphBody('event', body, mode);
    if (problem) throw new Error(`sandbox: Outlook would not save this event: ${problem.message}`);
    return body;
  };
  const storeError = (action: () => void) => {
    try {
      action();
    } catch (error) {
      if (error instanceof GraphHttpError || error instanceof MeetingError) throw new Error(`sandbox: ${error.message}`);
      throw error;
    }
  };
  return {
    createEvent(body) {
      let record: EventRecord | undefined;
      storeError(() => {
        record = service.store.create(mailbox.address, mailbox.displayName, checked(body, 'create'));
        service.meetings.created(record, 'all');
      });
      return service.store.snapshot(record!) as GraphStoredEvent;
    },
    updateEvent(id, changes) {
      const record = event(id);
      if (record.occurrenceOf) {
        let moved: EventRecord | undefined;
        storeError(() => (moved = service.moveOccurrence(record, checked(changes, 'update'))));
        return service.store.snapshot(moved!) as GraphStoredEvent;
      }
      storeError(() => service.patchEvent(record, checked(changes, 'update')));
      return service.store.snapshot(record) as GraphStoredEvent;
    },
    deleteEvent(id) {
      const record = event(id);
      if (record.occurrenceOf) return service.meetings.occurrenceChanged(event(record.occurrenceOf.id), occurrenceDate(id)!.date, 'cancelled');
      service.deleteEvent(record);
    },
    respond(eventId, answer, options = {}) {
      const record = event(eventId);
      storeError(() => service.meetings.respond(mailbox.address, { event: record }, ANSWERS[answer], { sendResponse: options.sendResponse !== false, ...(options.comment !== undefined ? { comment: options.comment } : {}) }));
    },
    cancel(eventId, comment) {
      const record = event(eventId);
      if (!record.meeting?.isOrganizer) throw new Error(`sandbox: ${mailbox.address} is not the organizer of '${eventId}'`);
      if (record.occurrenceOf) return service.meetings.occurrenceChanged(event(record.occurrenceOf.id), occurrenceDate(eventId)!.date, 'cancelled');
      service.meetings.cancelled(record, comment, 'all');
      service.store.delete(mailbox.address, eventId);
    },
  };
}
