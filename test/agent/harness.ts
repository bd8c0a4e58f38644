// The resource agent against the sandbox, over Graph or EWS: organisers book as people do (sandbox.outlook), the
// agent runs a pass, the tests look at what the organiser and the attendees see.
import { fixedClock } from '../../src/model/clock.ts';
import { agentConfigSchema, policyOf, type AgentConfig } from '../../src/agent/config.ts';
import { runAgentPass, type AgentPassOptions, type AgentSummary } from '../../src/agent/run.ts';
import { GroupResolver } from '../../src/engine/groups.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { AGENT_CLIENT_ID, AGENT_CLIENT_SECRET, EQUIPMENT_MAILBOX, EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import type { MeetingDesk } from '../../src/targets/meetings.ts';
import { sandboxGraphOptions } from '../support/sandbox-graph.ts';

export type Protocol = 'graph' | 'ews';
export const VMR = EQUIPMENT_MAILBOX;
export const ROOM = 'room-lib-103@contoso.edu';
export const NOW = '2026-09-01T08:00:00Z';

export const TEMPLATE = {
  html: '<p>Join the video meeting <b>{subject}</b>: <a href="{webLink}">{webLink}</a>, or dial {dialIn} and enter {number}.</p>',
  text: 'Join the video meeting {subject}: {webLink} — or dial {dialIn} and enter {number}.',
};

export function agentConfig(mode: 'full' | 'limited' = 'full', room: Record<string, unknown> = {}): AgentConfig {
  return agentConfigSchema.parse({
    mailboxes: {
      [VMR]: {
        kind: 'vmr',
        organizers: { addresses: [], domains: ['contoso.edu'] },
        vmr: { mode, alias: { range: { from: 1001, to: 1099 }, prefix: 'vmr' }, dialIn: '+31 20 555 0100', webLink: 'https://vmr.contoso.edu/{alias}', template: TEMPLATE },
      },
      [ROOM]: {
        kind: 'room',
        bookingWindowDays: 60,
        maximumDurationMinutes: 240,
        workingHours: { timeZone: 'Europe/Amsterdam', days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '08:00', end: '18:00' },
        recurring: { allowed: true, maxOccurrences: 5 },
        organizers: { addresses: ['t0001@contoso.edu', 't0002@contoso.edu', 't0003@contoso.edu'], domains: [] },
        capacity: { seats: 3, over: 'decline' },
        ...room,
      },
    },
  });
}

export interface AgentWorld {
  protocol: Protocol;
  sandbox: SandboxInternals;
  store: SqliteStore;
  desk: MeetingDesk;
  clock: ReturnType<typeof fixedClock>;
  config: AgentConfig;
  pass(): Promise<AgentSummary>;
  close(): Promise<void>;
}

/**
 * Over Graph the agent mailboxes run the Calendar Attendant (AutomateProcessing AutoUpdate: the request is placed
 * tentatively for calpush to answer); over EWS they keep Pexip's AutomateProcessing None (EWS answers the request
 * message itself).
 */
export async function startWorld(protocol: Protocol, config = agentConfig(), options: { sandbox?: SandboxInternals; providers?: AgentPassOptions['providers'] } = {}): Promise<AgentWorld> {
  const clock = fixedClock(NOW);
  const sandbox = options.sandbox ?? (await startSandbox({ clock }));
  for (const mailbox of [VMR, ROOM]) sandbox.meetings.setProcessing(mailbox, { automateProcessing: protocol === 'graph' ? 'AutoUpdate' : 'None' });
  const store = new SqliteStore(':memory:', { clock });
  const target =
    protocol === 'graph'
      ? new GraphTarget({ ...sandboxGraphOptions(sandbox, 'agent-test'), clientId: AGENT_CLIENT_ID, credential: { kind: 'secret', secret: AGENT_CLIENT_SECRET } })
      : new EwsTarget({
          instance: 'agent-test',
          url: sandbox.ewsUrl,
          caPem: sandbox.caPem,
          access: 'impersonation',
          auth: 'basic',
          accounts: [{ username: EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD }],
          serverVersion: 'Exchange2013_SP1',
          allDayTimeZone: 'Europe/Amsterdam',
        });
  const desk = (target as GraphTarget | EwsTarget).meetings();
  const scheduler = new Scheduler({ clock, baseBackoffMs: 1, maxBackoffMs: 5 });
  const groups = new GroupResolver({ directory: (target as GraphTarget | EwsTarget).groups(), scheduler, clock });
  const mailboxes = Object.entries(config.mailboxes).map(([address, mailbox]) => ({ address, config: mailbox, policy: policyOf(mailbox) }));
  return {
    protocol,
    sandbox,
    store,
    desk,
    clock,
    config,
    pass: () => runAgentPass({ instance: 'agent-test', desk, scheduler, store, mailboxes, groups, clock, ...(options.providers ? { providers: options.providers } : {}) }),
    async close() {
      await target.close();
      await store.close();
      if (!options.sandbox) await sandbox.close();
    },
  };
}

let slot = 0;
/** A meeting on its own weekday hour (Amsterdam, CEST: UTC+2), so that tests never clash by accident. */
export function meeting(subject: string, attendees: Array<[string, 'required' | 'optional' | 'resource']>, extra: Record<string, unknown> = {}): Record<string, unknown> {
  slot++;
  const day = new Date(Date.parse('2026-09-07T00:00:00Z') + Math.floor(slot / 8) * 86_400_000);
  while (day.getUTCDay() === 0 || day.getUTCDay() === 6) day.setUTCDate(day.getUTCDate() + 1);
  const date = day.toISOString().slice(0, 10);
  const hour = String(8 + (slot % 8)).padStart(2, '0');
  return {
    subject,
    body: { contentType: 'html', content: `<html><body><p>${subject}: agenda</p></body></html>` },
    start: { dateTime: `${date}T${hour}:00:00`, timeZone: 'UTC' },
    end: { dateTime: `${date}T${hour}:45:00`, timeZone: 'UTC' },
    location: { displayName: 'Online' },
    attendees: attendees.map(([address, type]) => ({ emailAddress: { address, name: address.split('@')[0] }, type })),
    ...extra,
  };
}

/** The organiser's own copy of a meeting, and what it tracks of `attendee`'s answer. */
export function organizerView(world: AgentWorld, organizer: string, iCalUId: string, attendee: string) {
  const event = world.sandbox.listEvents(organizer).find((e) => e.iCalUId === iCalUId);
  const attendees = (event?.['attendees'] as Array<{ emailAddress: { address: string }; status?: { response?: string } }> | undefined) ?? [];
  return { event, response: attendees.find((a) => a.emailAddress.address.toLowerCase() === attendee)?.status?.response ?? 'none' };
}

export function copyOf(world: AgentWorld, mailbox: string, iCalUId: string) {
  return world.sandbox.listEvents(mailbox).find((e) => e.iCalUId === iCalUId);
}

/** The responses the organiser received for a subject ("Accepted: …", "Declined: …"). */
export function responses(world: AgentWorld, organizer: string, subject: string) {
  return world.sandbox.listMessages(organizer).filter((m) => m.subject.endsWith(`: ${subject}`) && m.type !== 'meetingRequest' && m.type !== 'meetingCancelled');
}
