// Shared helpers of the EWS tests.
import { validateEvent, type DesiredEvent, type EventInput } from '../../src/model/event.ts';

/** A valid desired event; `input` overrides the defaults (a 09:00–10:45 lecture in Amsterdam). */
export function desired(input: Partial<EventInput> & Record<string, unknown> = {}): DesiredEvent {
  const result = validateEvent({
    calendar: 's0001@contoso.edu',
    id: 'MATH101',
    subject: 'Calculus',
    start: '2026-09-01T09:00',
    end: '2026-09-01T10:45',
    timeZone: 'Europe/Amsterdam',
    ...input,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  return result.desired;
}
