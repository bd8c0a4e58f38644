// The sandbox as the server of the contract suite (contract.ts) for the Graph and EWS targets: both write the one
// event store of the sandbox, which is read and changed from the outside through its Graph endpoint.
import { defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { graphIdFromEws } from '../../src/sandbox/ews/items.ts';
import { foreignSnapshot, usableStudents } from '../e2e/harness.ts';
import { GraphClient, users } from '../sandbox/helpers.ts';
import type { CalendarTarget } from '../../src/targets/target.ts';
import type { StoredView, TargetUnderTest } from './contract.ts';

export const FORBIDDEN_MAILBOX = 'outofscope@contoso.edu';
export const MISSING_MAILBOX = 'nomailbox@contoso.edu';

/** Graph's answer for one event, with the body as text (Prefer: outlook.body-content-type). */
interface GraphEvent {
  subject: string;
  start: { dateTime: string };
  end: { dateTime: string };
  isAllDay: boolean;
  location?: { displayName?: string };
  body?: { content?: string };
  categories?: string[];
  type?: string;
  recurrence?: unknown;
}

function view(event: GraphEvent): StoredView {
  // Events come back in UTC; all-day events midnight to midnight, whatever the zone.
  const point = (dateTime: string) => (event.isAllDay ? dateTime.slice(0, 10) : `${dateTime.slice(0, 19)}Z`);
  return {
    subject: event.subject,
    start: point(event.start.dateTime),
    end: point(event.end.dateTime),
    allDay: event.isAllDay,
    location: event.location?.displayName ?? '',
    body: event.body?.content ?? '',
    categories: event.categories ?? [],
    recurring: event.type === 'seriesMaster' || Boolean(event.recurrence),
  };
}

/**
 * A sandbox and the server side of the contract. `toGraphId` turns the target's item id into the Graph id (EWS ids
 * are the same ids in EWS spelling).
 */
export async function sandboxServer(makeTarget: (sandbox: SandboxInternals, options: { instance: string; pageSize?: number }) => CalendarTarget, toGraphId: (itemId: string) => string = (id) => id): Promise<TargetUnderTest> {
  const seed = defaultTenantSeed();
  const sandbox = await startSandbox({ tenant: seed });
  const graph = await GraphClient.demo(sandbox);
  const free = usableStudents(seed);
  const eventPath = (calendar: string, itemId: string) => `${users(calendar)}/events/${encodeURIComponent(toGraphId(itemId))}`;
  return {
    target: (options) => makeTarget(sandbox, options),
    async calendar() {
      const calendar = free.pop();
      if (!calendar) throw new Error('the sandbox has no unused mailbox left');
      return calendar;
    },
    forbiddenMailbox: FORBIDDEN_MAILBOX,
    missingMailbox: MISSING_MAILBOX,
    async putForeign(calendar, foreign) {
      const at = (utc: string) => ({ dateTime: utc.replace(/Z$/, ''), timeZone: 'UTC' });
      sandbox.addEvent(calendar, { subject: foreign.subject, start: at(foreign.start), end: at(foreign.end), sensitivity: 'private' });
    },
    foreignSnapshot: async (calendar) => foreignSnapshot(sandbox, calendar),
    async read(calendar, itemId) {
      const answer = await graph.get(eventPath(calendar, itemId), { prefer: 'outlook.body-content-type="text"' });
      if (answer.status === 404) return null;
      if (answer.status !== 200) throw new Error(`GET the event answered ${answer.status}: ${JSON.stringify(answer.json)}`);
      return view(answer.json as GraphEvent);
    },
    async editOutside(calendar, itemId) {
      const answer = await graph.patch(eventPath(calendar, itemId), { subject: 'Edited by a person' });
      if (answer.status !== 200) throw new Error(`PATCH the event answered ${answer.status}`);
    },
    async deleteOutside(calendar, itemId) {
      const answer = await graph.delete(eventPath(calendar, itemId));
      if (answer.status !== 204) throw new Error(`DELETE the event answered ${answer.status}`);
    },
    loseNextCreateAnswer: (calendar) => sandbox.faults.dropResponseAfterCreate(1, calendar),
    close: () => sandbox.close(),
  };
}

export { graphIdFromEws };
