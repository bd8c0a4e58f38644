// One pass of the resource agent over its mailboxes: read what changed since the stored cursor, decide each request
// by the mailbox's policy (policy.ts), answer it, for a VMR mailbox give it its joining instructions, and record the
// answer and the cursor (store/agent.ts). Every request goes through the scheduler (engine/scheduler.ts) — the
// agent mailbox's lane for its own requests, the organiser's for the full mode's — which owns every wait and retry.
//
// Answered twice? No: an answer is recorded as it is sent, the cursor after each page; a restart reads the page
// again, where the answered copies are no longer pending (and an EWS request already answered is gone from the inbox).
// Two workers on one store? A pass over a mailbox holds its lease (engine/lease.ts) under the agent's own owner id,
// so a mailbox is read and answered by one pass at a time, however many `calpush serve` workers run the agent.
import { systemClock, type Clock } from '../model/clock.ts';
import { CalpushError } from '../model/errors.ts';
import { claimMailbox, DEFAULT_LEASE_MS, LeaseKeeper } from '../engine/lease.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import type { MailboxLeases } from '../store/store.ts';
import type { AgentAnswer, AgentMeetingRow, AgentStore, InstructionsPlace } from '../store/agent.ts';
import type { Booking, BookingPage, MeetingDesk, MeetingRequest, OrganizerMeeting, Reply } from '../targets/meetings.ts';
import { SYNC_STATE_NOT_FOUND } from '../targets/meetings.ts';
import { GROUP_NOT_FOUND } from '../targets/groups.ts';
import { TargetError } from '../targets/target.ts';
import type { AgentMailboxConfig, VmrConfig } from './config.ts';
import { fill, findBlock, render, withInstructions, withoutInstructions, type Body } from './instructions.ts';
import { decide, type AgentPolicy, type Decision } from './policy.ts';
import { SeriesResolver, type Resolved } from './series.ts';

export interface AgentMailbox {
  address: string;
  config: AgentMailboxConfig;
  policy: AgentPolicy;
}

export interface AgentPassOptions {
  instance: string;
  desk: MeetingDesk;
  scheduler: Scheduler;
  store: AgentStore;
  mailboxes: AgentMailbox[];
  /** Reads the members of the groups a policy allows (organizers.groups); absent: no group has members. */
  groups?: { members(group: string): Promise<ReadonlySet<string>> };
  /** How far back the first round looks (days). */
  lookBackDays?: number;
  clock?: Clock;
  /** Told of each outcome as it happens (the command's log). */
  onOutcome?: (outcome: AgentOutcome) => void;
  /** The mailbox leases a pass over a mailbox holds (absent: a pass alone on its store, as in the tests). */
  leases?: AgentLeases;
}

export interface AgentLeases {
  store: MailboxLeases;
  /**
   * The agent's owner id, `${workerId}/agent` (agentLeaseOwner): not the worker's own, so that the agent's pass
   * excludes delivery and the watch of the same mailbox as well as another worker's agent.
   */
  owner: string;
  leaseMs?: number;
}

/** The owner id the agent of worker `workerId` holds its mailboxes' leases under. */
export function agentLeaseOwner(workerId: string): string {
  return `${workerId}/agent`;
}

export type OutcomeKind = 'accepted' | 'tentative' | 'declined' | 'cancelled' | 'unchanged' | 'failed';

export interface AgentOutcome {
  mailbox: string;
  uid: string;
  subject: string;
  organizer: string;
  outcome: OutcomeKind;
  reason: string;
  rule?: string;
  alias?: string;
  instructions?: InstructionsPlace;
  error?: { code: string; message: string; remedy?: string };
}

export interface AgentMailboxSummary {
  mailbox: string;
  counts: Record<OutcomeKind, number>;
  /** Why the mailbox could not be read or answered (the others went on). */
  error?: { code: string; message: string; remedy?: string };
  /** Another worker (or delivery) held the mailbox's lease: this pass left it alone; the next pass tries again. */
  busy?: true;
}

export interface AgentSummary {
  mailboxes: AgentMailboxSummary[];
  outcomes: AgentOutcome[];
}

const DAY_MS = 86_400_000;
/** Pages of one pass per mailbox: a bound, so a service that keeps handing out pages cannot hold the pass forever. */
const MAX_PAGES = 1_000;
/** Pages of one conflict lookup (Graph: 50 bookings a page, EWS: 500 a view): past it the answer is tentative. */
const MAX_BOOKING_PAGES = 10;

export async function runAgentPass(options: AgentPassOptions): Promise<AgentSummary> {
  const summary: AgentSummary = { mailboxes: [], outcomes: [] };
  const keeper = options.leases ? new LeaseKeeper(options.leases.store, options.leases.leaseMs ?? DEFAULT_LEASE_MS) : null;
  // The mailboxes side by side (each has its own lane); within a mailbox one request after the other, so that a
  // booking just accepted is a conflict for the next request. Every mailbox's pass finishes before the pass does
  // (passOver never rejects): a pass left running would answer its requests again under the next pass.
  await Promise.allSettled(
    options.mailboxes.map((mailbox) => {
      const counts: Record<OutcomeKind, number> = { accepted: 0, tentative: 0, declined: 0, cancelled: 0, unchanged: 0, failed: 0 };
      const entry: AgentMailboxSummary = { mailbox: mailbox.address, counts };
      summary.mailboxes.push(entry);
      const note = (outcome: AgentOutcome) => {
        counts[outcome.outcome]++;
        summary.outcomes.push(outcome);
        options.onOutcome?.(outcome);
      };
      return passOver(options, mailbox, entry, note, keeper);
    }),
  );
  summary.mailboxes.sort((a, b) => a.mailbox.localeCompare(b.mailbox));
  return summary;
}

/** One mailbox's pass under its lease; whatever fails is the mailbox's error, never the whole pass's. */
async function passOver(options: AgentPassOptions, mailbox: AgentMailbox, entry: AgentMailboxSummary, note: (outcome: AgentOutcome) => void, keeper: LeaseKeeper | null): Promise<void> {
  const leases = options.leases;
  let lease = null;
  let lost = false;
  try {
    if (leases && keeper) {
      lease = await claimMailbox(leases.store, mailbox.address, leases.owner, keeper.leaseMs);
      if (!lease) {
        entry.busy = true;
        return;
      }
      keeper.hold(lease, () => (lost = true));
    }
    const pass = new MailboxPass(options, mailbox, note, () => lost);
    // A group the service does not know has no members to allow: the mailbox's pass says so by the group's name,
    // and its requests are still decided by addresses and domains (and the groups that were read).
    const unknown = await pass.readGroups();
    if (unknown) entry.error = errorOf(unknown);
    await pass.run();
  } catch (error) {
    entry.error = errorOf(error);
  } finally {
    if (lease && leases && keeper) {
      keeper.drop(lease.calendar);
      await leases.store.releaseMailbox(lease.calendar, lease.owner).catch(() => undefined);
    }
  }
}

/** A CalpushError as it is; anything else is a bug, reported as the mailbox's InternalError. */
function errorOf(error: unknown): NonNullable<AgentMailboxSummary['error']> {
  if (error instanceof CalpushError) return { code: error.code, message: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) };
  const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return { code: 'InternalError', message: `the agent failed unexpectedly over this mailbox: ${message}`, remedy: 'This is a bug in calpush: please report it with this message.' };
}

/** The pass stops where its lease was lost: another worker has the mailbox now and answers it. */
class LeaseLostError extends CalpushError {
  constructor(mailbox: string) {
    super('LeaseLost', `the lease on ${mailbox} was lost during the agent's pass; the worker holding it now answers the rest`);
  }
}

class MailboxPass {
  private readonly options: AgentPassOptions;
  /** The members of the policy's allowed groups, read before any request is decided (the policy is pure). */
  private groupMembers: ReadonlySet<string> = new Set();
  private readonly mailbox: AgentMailbox;
  private readonly note: (outcome: AgentOutcome) => void;
  private readonly clock: Clock;
  private readonly leaseLost: () => boolean;
  /** The series of this pass (series.ts): a recurring meeting is decided and answered once, on its master. */
  private readonly series: SeriesResolver;

  constructor(options: AgentPassOptions, mailbox: AgentMailbox, note: (outcome: AgentOutcome) => void, leaseLost: () => boolean) {
    this.options = options;
    this.mailbox = mailbox;
    this.note = note;
    this.clock = options.clock ?? systemClock;
    this.leaseLost = leaseLost;
    this.series = new SeriesResolver(options.desk, mailbox.address, (work, priority) => this.send(mailbox.address, work, priority));
  }

  private checkLease(): void {
    if (this.leaseLost()) throw new LeaseLostError(this.address);
  }

  private get address(): string {
    return this.mailbox.address;
  }

  /** One request through the scheduler, in `mailbox`'s lanes. */
  private send<T>(mailbox: string, work: () => Promise<T>, priority = 0, cost = 1): Promise<T> {
    return this.options.scheduler.submit(mailbox, work, { priority, cost, lane: this.options.desk.laneFor?.(mailbox) ?? null });
  }

  /**
   * The members of the policy's groups, all in one set. A group the service does not know is returned (the first
   * one) to be reported; any other failure (no permission, throttled past the retries, too large) fails the mailbox's
   * pass before a request is read, so nobody is declined for a group that could not be read.
   */
  async readGroups(): Promise<TargetError | null> {
    const groups = this.mailbox.policy.organizers?.groups ?? [];
    if (groups.length === 0) return null;
    const members = new Set<string>();
    let unknown: TargetError | null = null;
    for (const group of groups) {
      if (!this.options.groups) throw new TargetError('mailbox', 'GroupsUnsupported', `group ${group}: the agent's target cannot read groups`);
      try {
        for (const member of await this.options.groups.members(group)) members.add(member);
      } catch (error) {
        if (!(error instanceof TargetError) || error.code !== GROUP_NOT_FOUND) throw error;
        unknown ??= error;
      }
    }
    this.groupMembers = members;
    return unknown;
  }

  async run(): Promise<void> {
    const { store, desk } = this.options;
    let cursor = await store.agentCursor(this.address);
    let restarted = false;
    for (let page = 0; page < MAX_PAGES; page++) {
      this.checkLease();
      const now = this.clock.now();
      const window = { start: now - (this.options.lookBackDays ?? 1) * DAY_MS, end: now + windowDays(this.mailbox.policy) * DAY_MS };
      let changes;
      try {
        changes = await this.send(this.address, () => desk.changes(this.address, cursor, window));
      } catch (error) {
        // The service forgot the cursor: one new round from the start (what was answered is recorded).
        if (error instanceof TargetError && error.code === SYNC_STATE_NOT_FOUND && cursor !== null && !restarted) {
          restarted = true;
          cursor = null;
          await store.saveAgentCursor(this.address, null);
          continue;
        }
        throw error;
      }
      for (const request of changes.requests) {
        this.checkLease();
        await this.handle(request);
      }
      cursor = changes.cursor;
      await store.saveAgentCursor(this.address, cursor);
      if (!changes.more) return;
    }
  }

  private async handle(delivered: MeetingRequest): Promise<void> {
    let request = delivered;
    try {
      const now = this.clock.now();
      const resolved = await this.series.resolve(delivered, { start: now, end: now + windowDays(this.mailbox.policy) * DAY_MS });
      if ('settled' in resolved) return this.unchanged(delivered, null, resolved.settled);
      request = resolved.request;
      await this.handleResolved(resolved);
      this.series.answer(request);
    } catch (error) {
      if (!(error instanceof TargetError) || error.scope === 'mailbox' || error.scope === 'fatal') throw error;
      this.note({ ...this.about(request), outcome: 'failed', reason: error.message, error: { code: error.code, message: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) } });
    }
  }

  /** A request (or the series it stands for) by its state: cancelled, answered already, an informational update, or to answer. */
  private async handleResolved(resolved: Resolved): Promise<void> {
    const request = resolved.request;
    const recorded = await this.options.store.agentMeeting(this.address, request.uid);
    if (request.state === 'cancelled') return await this.cancelled(request, recorded);
    if (request.state === 'answered') return this.unchanged(request, recorded, 'answered already');
    if (request.informational && recorded && (recorded.answer === 'accepted' || recorded.answer === 'tentative') && recorded.startMs === request.start && recorded.endMs === request.end) {
      // An update of the text only (our own instructions coming back, among others): the answer stands; said
      // again without a message to the organiser, so the request leaves the inbox.
      await this.send(this.address, () => this.options.desk.respond(this.address, request, recorded.answer === 'accepted' ? 'accept' : 'tentative', '', false), request.start);
      return this.unchanged(request, recorded, 'an informational update: the answer stands');
    }
    await this.answer(request, recorded, resolved);
  }

  private about(request: MeetingRequest): Pick<AgentOutcome, 'mailbox' | 'uid' | 'subject' | 'organizer'> {
    return { mailbox: this.address, uid: request.uid, subject: request.subject, organizer: request.organizer };
  }

  private unchanged(request: MeetingRequest, recorded: AgentMeetingRow | null, reason: string): void {
    this.note({ ...this.about(request), outcome: 'unchanged', reason, ...(recorded?.alias ? { alias: recorded.alias } : {}) });
  }

  private async decision(request: MeetingRequest, series: Resolved | null): Promise<Decision> {
    if (!Number.isFinite(request.start) || !Number.isFinite(request.end) || request.end < request.start) {
      return { answer: 'tentative', rule: 'past', reason: 'The meeting’s time could not be read; a person will look at it.' };
    }
    const policy = this.mailbox.policy;
    const occurrences = series?.occurrences ?? null;
    if (occurrences?.length === 0 && series?.complete) return { answer: 'decline', rule: 'past', reason: 'Every occurrence of the series is in the past.' };
    // A series read with its occurrences is decided at its next one (the master's own time is its first, maybe past).
    const next = occurrences?.[0] ?? request;
    const { busy, complete } = policy.conflicts === 'decline' ? await this.busyAt(occurrences ?? [request], request.start) : { busy: [], complete: true };
    const people = request.attendees.filter((a) => a.type !== 'resource' && a.address !== this.address).length;
    const seriesFields = occurrences ? { occurrences, ...(request.series ? { seriesMasterId: request.series.masterId } : {}) } : {};
    const decision = decide({ uid: request.uid, organizer: request.organizer, start: next.start, end: next.end, isAllDay: request.isAllDay, recurrence: request.recurrence, attendeeCount: people, ...seriesFields }, policy, { now: this.clock.now(), busy }, this.groupMembers);
    // Not every booking read: no conflict among those read is no proof there is none.
    if (decision.answer === 'accept' && !complete) return { answer: 'tentative', rule: 'conflict', reason: 'The resource has more bookings at this time than calpush reads; a person will confirm the booking.' };
    // Not every occurrence checked (MAX_CHECKED_OCCURRENCES, series.ts): likewise.
    if (decision.answer === 'accept' && policy.conflicts === 'decline' && series && !series.complete) return { answer: 'tentative', rule: 'conflict', reason: 'The series has more occurrences than calpush checks for conflicts; a person will confirm the booking.' };
    return decision;
  }

  /** The bookings at each of `times` (a series' occurrences, or the request's own time), each lookup bounded. */
  private async busyAt(times: ReadonlyArray<{ start: number; end: number }>, priority: number): Promise<{ busy: Booking[]; complete: boolean }> {
    const busy: Booking[] = [];
    let complete = true;
    for (const time of times) {
      const read = await this.bookings(time, priority);
      busy.push(...read.busy);
      complete &&= read.complete;
    }
    return { busy, complete };
  }

  /** The mailbox's bookings at the request's time, page after page up to MAX_BOOKING_PAGES (each through the scheduler). */
  private async bookings(request: { start: number; end: number }, priority: number): Promise<{ busy: Booking[]; complete: boolean }> {
    const busy: Booking[] = [];
    let next: string | null = null;
    for (let page = 0; page < MAX_BOOKING_PAGES; page++) {
      const from: string | null = next;
      const answer: BookingPage = await this.send(this.address, () => this.options.desk.bookings(this.address, request.start, request.end, from), priority);
      busy.push(...answer.bookings);
      if (!answer.next) return { busy, complete: true };
      next = answer.next;
    }
    return { busy, complete: false };
  }

  private async answer(request: MeetingRequest, recorded: AgentMeetingRow | null, series: Resolved | null = null): Promise<void> {
    const decision = await this.decision(request, series);
    const vmr = this.mailbox.config.vmr;
    const reply: Reply = decision.answer;
    let alias: string | null = null;
    let instructions: { html: string; text: string } | null = null;
    if (vmr && reply !== 'decline') {
      alias = await this.aliasFor(vmr, request);
      if (alias === null) return this.refuse(request, recorded, { answer: 'decline', rule: 'capacity', reason: 'Every virtual meeting room of this service is in use.' });
      instructions = this.instructions(vmr, alias, request);
    }
    if (reply === 'decline') return this.refuse(request, recorded, decision);
    const comment = vmr?.mode === 'limited' && instructions ? `${decision.reason}\n\n${instructions.text}` : decision.reason;
    await this.send(this.address, () => this.options.desk.respond(this.address, request, reply, comment, true), request.start);
    let place: InstructionsPlace = 'none';
    if (vmr && instructions) place = vmr.mode === 'limited' ? 'comment' : await this.intoOrganizerMeeting(request, (body) => withInstructions(body, this.options.instance, instructions!));
    const answer: AgentAnswer = reply === 'accept' ? 'accepted' : 'tentative';
    await this.record(request, answer, decision, alias, place);
    this.note({ ...this.about(request), outcome: answer, reason: decision.reason, ...(decision.answer !== 'accept' ? { rule: decision.rule } : {}), ...(alias ? { alias } : {}), instructions: place });
  }

  private async refuse(request: MeetingRequest, recorded: AgentMeetingRow | null, decision: Decision): Promise<void> {
    await this.send(this.address, () => this.options.desk.respond(this.address, request, 'decline', decision.reason, true), request.start);
    await this.options.store.releaseAlias(this.address, request.uid);
    // A meeting we had given instructions in the organiser's body loses them: it has no virtual room any more.
    if (this.mailbox.config.vmr?.mode === 'full' && recorded?.instructions === 'body') await this.intoOrganizerMeeting(request, (body) => withoutInstructions(body, this.options.instance));
    await this.record(request, 'declined', decision, null, 'none');
    this.note({ ...this.about(request), outcome: 'declined', reason: decision.reason, ...(decision.answer !== 'accept' ? { rule: decision.rule } : {}) });
  }

  private async cancelled(request: MeetingRequest, recorded: AgentMeetingRow | null): Promise<void> {
    if (recorded?.answer === 'cancelled') return this.unchanged(request, recorded, 'cancelled already');
    const desk = this.options.desk;
    // Only a meeting this agent put on the calendar (accepted or tentatively accepted) is taken off it: the agent
    // changes only what it added.
    const ours = recorded?.answer === 'accepted' || recorded?.answer === 'tentative';
    if (desk.removeCancelled && ours) await this.send(this.address, () => desk.removeCancelled!(this.address, request), request.start);
    // The organiser's meeting is gone with its body (cancelled or deleted): nothing of ours is left to remove.
    await this.options.store.releaseAlias(this.address, request.uid);
    await this.record(request, 'cancelled', { answer: 'accept', reason: 'The organiser cancelled the meeting.' }, null, 'none');
    this.note({ ...this.about(request), outcome: 'cancelled', reason: 'The organiser cancelled the meeting.' });
  }

  private async record(request: MeetingRequest, answer: AgentAnswer, decision: Decision, alias: string | null, instructions: InstructionsPlace): Promise<void> {
    await this.options.store.saveAgentMeeting({
      mailbox: this.address,
      uid: request.uid,
      answer,
      reason: decision.reason,
      rule: decision.answer === 'accept' ? null : decision.rule,
      subject: request.subject,
      organizer: request.organizer,
      startMs: Number.isFinite(request.start) ? request.start : 0,
      endMs: Number.isFinite(request.end) ? request.end : 0,
      alias,
      instructions,
    });
  }

  private async aliasFor(vmr: VmrConfig, request: MeetingRequest): Promise<string | null> {
    if ('fixed' in vmr.alias) return vmr.alias.fixed;
    const number = await this.options.store.allocateAlias(this.address, request.uid, vmr.alias.range, heldUntil(request));
    return number === null ? null : `${vmr.alias.prefix}${number}`;
  }

  private instructions(vmr: VmrConfig, alias: string, request: MeetingRequest): { html: string; text: string } {
    const number = 'range' in vmr.alias ? alias.slice(vmr.alias.prefix.length) : alias;
    const facts = { alias, number, dialIn: vmr.dialIn, webLink: '', subject: request.subject, organizer: request.organizer };
    facts.webLink = fill(vmr.webLink, facts, false);
    return render(vmr.template, facts);
  }

  /**
   * Full mode: the organiser's meeting body changed by `change` — only ever our block (instructions.ts). A body changed
   * since it was read (412 on If-Match) is read again and changed once more.
   */
  private async intoOrganizerMeeting(request: MeetingRequest, change: (body: Body) => ReturnType<typeof withInstructions>): Promise<InstructionsPlace> {
    const { desk } = this.options;
    const organizer = request.organizer;
    for (let attempt = 1; ; attempt++) {
      const meeting: OrganizerMeeting | null = await this.send(organizer, () => desk.organizerMeeting(organizer, request.uid), request.start, desk.organizerMeetingCost ?? 1);
      if (!meeting) return 'none';
      const changed = change(meeting.body);
      if (!changed.changed) return changed.why === 'edited' ? 'edited' : changed.why === 'same' ? 'body' : 'none';
      try {
        await this.send(organizer, () => desk.updateOrganizerBody(organizer, meeting, changed.body), request.start);
        return findsOurs(changed.body, this.options.instance) ? 'body' : 'none';
      } catch (error) {
        if (attempt < 3 && error instanceof TargetError && error.status === 412) continue;
        throw error;
      }
    }
  }
}

/**
 * Until when a meeting holds its alias number: a single meeting until its end; a series until the end of its last
 * occurrence where the service says it (recurrence.until), else until it is cancelled or declined (the number is
 * never handed to another while the series may still meet).
 */
function heldUntil(request: MeetingRequest): number | null {
  if (request.recurrence) {
    const until = request.recurrence.until;
    if (until === undefined || until === null) return null;
    return Number.isFinite(request.end - request.start) ? until + Math.max(0, request.end - request.start) : null;
  }
  return Number.isFinite(request.end) ? request.end : null;
}

function findsOurs(body: Body, instance: string): boolean {
  return findBlock(body, instance).state === 'ours';
}

/**
 * How far ahead the first round reads: past Exchange's longest booking window (1080 days), so that a request beyond
 * the mailbox's own window is seen — and declined — rather than left unanswered.
 */
function windowDays(_policy: AgentPolicy): number {
  return 1100;
}
