// The contract suite (contract.ts) against the in-memory target (test/support/memory-target.ts): the engine tests'
// stand-in for a server keeps the contract the real targets keep.
import { contractSuite, type StoredView } from './contract.ts';
import { MemoryCalendars, MemoryTarget, type MemoryItem } from '../support/memory-target.ts';
import { zonedToUtcMs } from '../../src/model/time.ts';

function view(item: MemoryItem): StoredView {
  const { event } = item;
  const utc = (local: string, zone: string) => `${new Date(zonedToUtcMs(local, zone)).toISOString().slice(0, 19)}Z`;
  const timing = event.timing;
  return {
    subject: event.subject,
    start: timing.allDay ? timing.startDate : utc(timing.start, timing.timeZone),
    end: timing.allDay ? timing.endDate : utc(timing.end, timing.timeZone),
    allDay: timing.allDay,
    location: event.location ?? '',
    body: event.body?.content ?? '',
    categories: event.categories,
    recurring: false,
  };
}

contractSuite('in-memory', { batch: true, repeatedCreate: true, forbiddenMailbox: true, missingMailbox: true }, async () => {
  const calendars = new MemoryCalendars();
  let next = 0;
  return {
    target({ instance, pageSize }) {
      const target = new MemoryTarget({ instance, calendars, ...(pageSize ? { pageSize } : {}) }).enableBatch();
      target.forbidden.add('forbidden@example.edu');
      target.missing.add('nobody@example.edu');
      return target;
    },
    calendar: async () => `user${++next}@example.edu`,
    forbiddenMailbox: 'forbidden@example.edu',
    missingMailbox: 'nobody@example.edu',
    async putForeign(calendar, foreign) {
      calendars.calendar(calendar).set(`foreign-${foreign.subject}`, {
        itemId: `foreign-${foreign.subject}`,
        changeKey: calendars.nextChangeKey(),
        tag: null,
        transactionId: null,
        event: {
          calendar,
          id: foreign.subject,
          subject: foreign.subject,
          body: null,
          timing: { allDay: false, start: foreign.start.slice(0, 19), end: foreign.end.slice(0, 19), timeZone: 'UTC' },
          location: null,
          categories: [],
          showAs: 'busy',
          sensitivity: 'private',
          reminderMinutes: null,
        },
      });
    },
    foreignSnapshot: async (calendar) => JSON.stringify([...calendars.calendar(calendar).values()].filter((item) => item.tag === null)),
    async read(calendar, itemId) {
      const item = calendars.calendar(calendar).get(itemId);
      return item ? view(item) : null;
    },
    editOutside: async (calendar, itemId) => calendars.edit(calendar, itemId, { subject: 'Edited by a person' }),
    deleteOutside: async (calendar, itemId) => void calendars.calendar(calendar).delete(itemId),
    loseNextCreateAnswer: (calendar) => calendars.loseNextCreateAnswer(calendar),
    close: async () => {},
  };
});
