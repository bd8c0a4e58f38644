// One pass of the resource agent over its mailboxes: read what changed since the stored cursor, decide each request
// by the mailbox's policy (policy.ts), answer it, for a VMR mailbox give it its joining instructions, and record the
// answer and the cursor (store/agent.ts). Every request goes through the scheduler (engine/scheduler.ts) — the
// agent mailbox's lane for its own requests, the organiser's for the full mode's — which owns every wait and retry.
//
// Answered twice? No: a decision is recorded before its answer is sent and settled once it is carried out, the
// cursor after each page; a restart reads the page again, where the answered copies are no longer pending (and an
// EWS request already answered is gone from the inbox), and first completes any decision left unsettled (settle).
// Two workers on one store? A pass over a mailbox holds its lease (engine/lease.ts) under the agent's own owner id,
// so a mailbox is read and answered by one pass at a time, however many `calpush serve` workers run the agent.
import { systemClock, type Clock } from '../model/clock.ts';
import { CalpushError } from '../model/errors.ts';
import { claimMailbox, DEFAULT_LEASE_MS, LeaseKeeper } from '../engine/lease.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import type { Lease, MailboxLeases } from '../store/store.ts';
import type { AgentAnswer, AgentMeetingRow, AgentStore, InstructionsPlace } from '../store/agent.ts';
import type { Booking, BookingPage, MeetingDesk, MeetingRequest, OrganizerMeeting, Reply } from '../targets/meetings.ts';
import { CURSOR_REFUSED, SYNC_STATE_NOT_FOUND } from '../targets/meetings.ts';
import { GROUP_NOT_FOUND } from '../targets/groups.ts';
import { mayHaveActed } from '../targets/http.ts';
import { TargetError } from '../targets/target.ts';
import type { AgentMailboxConfig, VmrConfig } from './config.ts';
import { fill, findBlock, render, withInstructions, withoutInstructions, type Body } from './instructions.ts';
import { decide, type AgentPolicy, type Decision } from './policy.ts';
import { PassLedger, type AgentLedger } from './ledger.ts';
import type { ConferenceProvider, ProviderEvent, ProviderNotice } from './provider.ts';
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
  /** The conference providers of the VMR mailboxes that have one (vmr.provider), by mailbox address (lower case). */
  providers?: ReadonlyMap<string, Pick<ConferenceProvider, 'instructions' | 'notify' | 'where'>>;
  /** The store's request ledger, where every request is charged to its mailbox (ledger.ts; absent: not counted across workers). */
  ledger?: AgentLedger;
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
  /** Where a VMR meeting's joining instructions came from: the conference provider, or the mailbox's template. */
  instructionsFrom?: 'provider' | 'template';
  /** What went wrong with the conference provider (the answer fell back on vmr.provider.fallback); never the secret. */
  providerProblem?: string;
  error?: { code: string; message: string; remedy?: string };
}

export interface AgentMailboxSummary {
  mailbox: string;
  counts: Record<OutcomeKind, number>;
  /** Why the mailbox could not be read or answered (the others went on). */
  error?: { code: string; message: string; remedy?: string };
  /** Another worker (or delivery) held the mailbox's lease: this pass left it alone; the next pass tries again. */
  busy?: true;
  /**
   * The stored cursor could not be used (forgotten by the service, refused, garbled): this pass started a new
   * round, at most once — a fresh round refused too is the mailbox's `error`, never a loop.
   */
  newRound?: { code: string; message: string };
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
    const pass = new MailboxPass(options, mailbox, note, () => lost, lease ?? undefined, (newRound) => (entry.newRound = newRound));
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
  /**
   * The lease every write to the store is fenced by: a pass that lost it (paused past its expiry, another worker
   * took the mailbox over) has its writes refused with LeaseLost — the checks before each page and request cannot
   * see a pause that falls between the check and the write.
   */
  private readonly fence: Lease | undefined;
  /** The series of this pass (series.ts): a recurring meeting is decided and answered once, on its master. */
  private readonly series: SeriesResolver;
  private readonly ledger: PassLedger;

  private readonly onNewRound: (why: { code: string; message: string }) => void;
  /**
   * An answer of this page failed in a way that may have landed (sendAnswer): the page's cursor is not saved, so that
   * the next pass reads the page again and finds the request answered (its decision completed) or still pending
   * (answered again, with the same alias).
   */
  private uncertain = false;
  /** The meetings this pass decided (recorded): an interrupted decision of one of them is not completed (settle). */
  private readonly decided = new Set<string>();

  constructor(options: AgentPassOptions, mailbox: AgentMailbox, note: (outcome: AgentOutcome) => void, leaseLost: () => boolean, fence: Lease | undefined, onNewRound: (why: { code: string; message: string }) => void = () => {}) {
    this.onNewRound = onNewRound;
    this.options = options;
    this.mailbox = mailbox;
    this.note = note;
    this.clock = options.clock ?? systemClock;
    this.leaseLost = leaseLost;
    this.fence = fence;
    this.ledger = new PassLedger(options.ledger, options.scheduler);
    this.series = new SeriesResolver(options.desk, mailbox.address, (work, priority) => this.send(mailbox.address, work, priority));
  }

  private checkLease(): void {
    if (this.leaseLost()) throw new LeaseLostError(this.address);
  }

  private get address(): string {
    return this.mailbox.address;
  }

  /**
   * One request through the scheduler, in `mailbox`'s lanes, charged to the mailbox in the request ledger as it
   * leaves; what other workers spent on the mailbox is counted first (once per pass).
   */
  private async send<T>(mailbox: string, work: () => Promise<T>, priority = 0, cost = 1): Promise<T> {
    await this.ledger.spentElsewhere(mailbox);
    const charged = async () => {
      await this.ledger.charge(mailbox, cost);
      return work();
    };
    return this.options.scheduler.submit(mailbox, charged, { priority, cost, lane: this.options.desk.laneFor?.(mailbox) ?? null });
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
    const interrupted = await store.unsettledAgentMeetings(this.address);
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
        // The service forgot the cursor, or it cannot be used: one new round from the start (what was answered is
        // recorded). Once per pass: a target that refuses the fresh round too fails the mailbox below.
        if (error instanceof TargetError && (error.code === SYNC_STATE_NOT_FOUND || error.code === CURSOR_REFUSED) && cursor !== null && !restarted) {
          restarted = true;
          cursor = null;
          this.onNewRound({ code: error.code, message: error.message });
          await store.saveAgentCursor(this.address, null, this.fence);
          continue;
        }
        throw error;
      }
      for (const request of changes.requests) {
        this.checkLease();
        await this.handle(request);
      }
      for (const item of changes.unreadable ?? []) this.note({ mailbox: this.address, uid: item.uid, subject: item.subject, organizer: item.organizer, outcome: 'failed', reason: item.message, error: { code: 'UnreadableAnswer', message: item.message } });
      if (this.uncertain) return;
      cursor = changes.cursor;
      await store.saveAgentCursor(this.address, cursor, this.fence);
      if (!changes.more) return await this.settle(interrupted);
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
      this.failed(request, error);
    }
  }

  /** A service error about one meeting is that meeting's outcome; anything else stops the mailbox's pass. */
  private failed(request: Pick<MeetingRequest, 'uid' | 'subject' | 'organizer'>, error: unknown): void {
    if (!(error instanceof TargetError) || error.scope === 'mailbox' || error.scope === 'fatal') throw error;
    this.note({ ...this.about(request), outcome: 'failed', reason: error.message, error: { code: error.code, message: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) } });
  }

  /**
   * Completes the decisions an earlier pass recorded but did not carry out to the end (the process died, or lost its
   * lease, between the record and the last step; or the answer failed in a way that may have landed): after this
   * pass has read every page, where a request still pending was answered again (the cursor moves on only after a
   * page's requests were handled, so the page was read again) — what is left was answered, so what follows the answer
   * is done now, idempotently, as instructions.ts changes only our own block and finds it there already when it is.
   * Not done when the pass did not read to the end: a request not read yet may still be pending.
   */
  private async settle(interrupted: AgentMeetingRow[]): Promise<void> {
    for (const row of interrupted) {
      if (this.decided.has(row.uid)) continue;
      this.checkLease();
      try {
        await this.complete(row);
      } catch (error) {
        this.failed(row, error);
      }
    }
  }

  private async complete(row: AgentMeetingRow): Promise<void> {
    const vmr = this.mailbox.config.vmr;
    const meeting = { uid: row.uid, organizer: row.organizer, subject: row.subject, start: row.startMs };
    let place = row.instructions;
    let alias = row.alias;
    let joining: Joining | null = null;
    if (row.answer === 'declined' || row.answer === 'cancelled') {
      await this.options.store.releaseAlias(this.address, row.uid, this.fence);
      if (vmr?.mode === 'full' && row.instructions === 'body') await this.intoOrganizerMeeting(meeting, (body) => withoutInstructions(body, this.options.instance));
      place = 'none';
    } else if (vmr?.mode === 'full' && row.instructions === 'body' && row.alias) {
      // The instructions the answer came with: the provider's, asked again about the meeting as recorded (by the
      // same rules as a new answer: its fallback), else the template's.
      joining = await this.joining(vmr, row.alias, recordedRequest(row), null, row.answer === 'tentative' ? 'tentative' : 'accept');
      if (!joining.instructions) return this.providerNotReady(row, joining);
      const instructions = joining.instructions;
      alias = joining.alias;
      place = await this.intoOrganizerMeeting(meeting, (body) => withInstructions(body, this.options.instance, instructions));
    }
    await this.options.store.saveAgentMeeting({ ...row, alias, instructions: place, settled: true }, this.fence);
    this.note({
      ...this.about(row),
      outcome: 'unchanged',
      reason: 'completed what an interrupted pass left after deciding',
      ...(alias ? { alias } : {}),
      instructions: place,
      ...(joining?.from ? { instructionsFrom: joining.from } : {}),
      ...(joining?.problem ? { providerProblem: joining.problem } : {}),
    });
  }

  /**
   * The provider failed and the mailbox would rather wait than send the template's (fallback "tentative"): the answer
   * is out already, so the decision stays unsettled and the next pass asks the provider again — until the meeting has
   * ended, when there is nothing left to join and the decision is settled without instructions.
   */
  private async providerNotReady(row: AgentMeetingRow, joining: Joining): Promise<void> {
    const ended = row.endMs > 0 && row.endMs <= this.clock.now();
    if (ended) await this.options.store.saveAgentMeeting({ ...row, instructions: 'none', settled: true }, this.fence);
    const reason = ended ? 'the meeting has ended without the conference provider’s instructions' : 'the joining instructions wait for the conference provider: asked again at the next pass';
    this.note({ ...this.about(row), outcome: 'unchanged', reason, ...(row.alias ? { alias: row.alias } : {}), instructions: 'none', ...(joining.problem ? { providerProblem: joining.problem } : {}) });
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

  private about(request: Pick<MeetingRequest, 'uid' | 'subject' | 'organizer'>): Pick<AgentOutcome, 'mailbox' | 'uid' | 'subject' | 'organizer'> {
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
    if (decision.answer === 'accept' && policy.conflicts === 'decline' && series && !series.complete) return { answer: 'tentative', rule: 'conflict', reason: series.incomplete ? `${series.incomplete} A person will confirm the booking.` : 'The series has more occurrences than calpush checks for conflicts; a person will confirm the booking.' };
    return decision;
  }

  /** The bookings at each of `times` (a series' occurrences, or the request's own time), each lookup bounded. */
  private async busyAt(times: ReadonlyArray<{ start: number; end: number }>, priority: number): Promise<{ busy: Booking[]; complete: boolean }> {
    // EWS: one CalendarView over the series' span (500 bookings a view, bounded pages) costs fewer requests than one
    // per occurrence; the conflict rule matches each occurrence against the bookings read (policy.ts).
    if (this.options.desk.kind === 'ews' && times.length > 1) return this.bookings({ start: Math.min(...times.map((t) => t.start)), end: Math.max(...times.map((t) => t.end)) }, priority);
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
    let decision = await this.decision(request, series);
    const vmr = this.mailbox.config.vmr;
    if (decision.answer === 'decline') return this.refuse(request, recorded, decision);
    let joining: Joining | null = null;
    if (vmr) {
      const allocated = await this.aliasFor(vmr, request);
      if (allocated === null) return this.refuse(request, recorded, { answer: 'decline', rule: 'capacity', reason: 'Every virtual meeting room of this service is in use.' });
      joining = await this.joining(vmr, allocated, request, recorded, decision.answer);
      // The provider failed and the mailbox would rather have a person look than send the template's instructions.
      if (!joining.instructions) decision = { answer: 'tentative', rule: 'provider', reason: 'The joining instructions are not ready yet; a person will confirm the booking and send them.' };
    }
    const reply: Reply = decision.answer === 'accept' ? 'accept' : 'tentative';
    const instructions = joining?.instructions ?? null;
    const comment = vmr?.mode === 'limited' && instructions ? `${decision.reason}\n\n${instructions.text}` : decision.reason;
    const answer: AgentAnswer = reply === 'accept' ? 'accepted' : 'tentative';
    const alias = joining?.alias ?? null;
    const planned: InstructionsPlace = vmr && instructions ? (vmr.mode === 'limited' ? 'comment' : 'body') : 'none';
    // Recorded before it is sent, settled after: a crash in between is completed by the next pass (settle).
    await this.record(request, answer, decision, alias, planned, false);
    await this.sendAnswer(request, recorded, reply, comment);
    let place: InstructionsPlace = planned;
    if (planned === 'body') place = await this.intoOrganizerMeeting(request, (body) => withInstructions(body, this.options.instance, instructions!));
    await this.record(request, answer, decision, alias, place);
    this.note({
      ...this.about(request),
      outcome: answer,
      reason: decision.reason,
      ...(decision.answer !== 'accept' ? { rule: decision.rule } : {}),
      ...(alias ? { alias } : {}),
      instructions: place,
      ...(joining?.from ? { instructionsFrom: joining.from } : {}),
      ...(joining?.problem ? { providerProblem: joining.problem } : {}),
    });
  }

  /**
   * The meeting's joining instructions: the conference provider's when the mailbox has one and it answers, else the
   * template's — or none, when the provider failed and vmr.provider.fallback says "tentative".
   */
  private async joining(vmr: VmrConfig, alias: string, request: MeetingFacts, recorded: AgentMeetingRow | null, answer: 'accept' | 'tentative'): Promise<Joining> {
    const template = this.instructions(vmr, alias, request);
    const provider = this.options.providers?.get(this.address);
    if (!provider || !vmr.provider) return { instructions: template, from: 'template', alias };
    const event: ProviderEvent = recorded?.answer === 'accepted' || recorded?.answer === 'tentative' ? 'updated' : 'accepted';
    const result = await provider.instructions(this.notice(event, request, alias, answer));
    if (result.ok) return { instructions: { html: result.answer.html, text: result.answer.text }, from: 'provider', alias: result.answer.alias ?? alias };
    const problem = `the conference provider ${provider.where}: ${result.problem}`;
    return vmr.provider.fallback === 'template' ? { instructions: template, from: 'template', alias, problem } : { instructions: null, alias, problem };
  }

  /** A meeting the agent had accepted is cancelled or declined: the provider may free what it allocated (best effort). */
  private async tellProviderCancelled(request: MeetingRequest, recorded: AgentMeetingRow | null): Promise<string | null> {
    const provider = this.options.providers?.get(this.address);
    if (!provider || !this.mailbox.config.vmr?.provider) return null;
    const interrupted = recorded?.answer === 'cancelled' && !recorded.settled;
    if (recorded?.answer !== 'accepted' && recorded?.answer !== 'tentative' && !interrupted) return null;
    const problem = await provider.notify(this.notice('cancelled', request, recorded.alias, null));
    return problem === null ? null : `the conference provider ${provider.where}: ${problem}`;
  }

  private notice(event: ProviderEvent, request: MeetingFacts, alias: string | null, answer: 'accept' | 'tentative' | null): ProviderNotice {
    const iso = (ms: number) => (Number.isFinite(ms) ? new Date(ms).toISOString() : null);
    return {
      event,
      ...(answer ? { answer } : {}),
      instance: this.options.instance,
      mailbox: this.address,
      meeting: { uid: request.uid, subject: request.subject, organizer: request.organizer, start: iso(request.start), end: iso(request.end), isAllDay: request.isAllDay, recurring: request.recurrence !== null && request.recurrence !== undefined },
      alias,
    };
  }

  private async refuse(request: MeetingRequest, recorded: AgentMeetingRow | null, decision: Decision): Promise<void> {
    // A meeting we had given instructions in the organiser's body loses them: it has no virtual room any more. Until
    // they are out, the record says they are there (settle takes them out after a crash).
    const ours: InstructionsPlace = this.mailbox.config.vmr?.mode === 'full' && recorded?.instructions === 'body' ? 'body' : 'none';
    await this.record(request, 'declined', decision, null, ours, false);
    await this.sendAnswer(request, recorded, 'decline', decision.reason);
    await this.options.store.releaseAlias(this.address, request.uid, this.fence);
    if (ours === 'body') await this.intoOrganizerMeeting(request, (body) => withoutInstructions(body, this.options.instance));
    await this.record(request, 'declined', decision, null, 'none');
    const problem = await this.tellProviderCancelled(request, recorded);
    this.note({ ...this.about(request), outcome: 'declined', reason: decision.reason, ...(decision.answer !== 'accept' ? { rule: decision.rule } : {}), ...(problem ? { providerProblem: problem } : {}) });
  }

  private async cancelled(request: MeetingRequest, recorded: AgentMeetingRow | null): Promise<void> {
    if (recorded?.answer === 'cancelled' && recorded.settled) return this.unchanged(request, recorded, 'cancelled already');
    const desk = this.options.desk;
    const cancellation: Decision = { answer: 'accept', reason: 'The organiser cancelled the meeting.' };
    // Only a meeting this agent put on the calendar (accepted or tentatively accepted) is taken off it: the agent
    // changes only what it added. An unsettled cancellation is one of those whose removal was interrupted.
    const ours = recorded?.answer === 'accepted' || recorded?.answer === 'tentative' || recorded?.answer === 'cancelled';
    if (desk.removeCancelled && ours) {
      // Recorded before the meeting is taken off, settled after: a crash in between is completed by the next pass
      // (settle), or — the cancellation still in the inbox — the removal is made again when it is read again.
      await this.record(request, 'cancelled', cancellation, recorded.alias, 'none', false);
      await this.send(this.address, () => desk.removeCancelled!(this.address, request), request.start);
    }
    // The organiser's meeting is gone with its body (cancelled or deleted): nothing of ours is left to remove.
    await this.options.store.releaseAlias(this.address, request.uid, this.fence);
    await this.record(request, 'cancelled', cancellation, null, 'none');
    const problem = await this.tellProviderCancelled(request, recorded);
    this.note({ ...this.about(request), outcome: 'cancelled', reason: 'The organiser cancelled the meeting.', ...(problem ? { providerProblem: problem } : {}) });
  }

  /**
   * The answer sent. Refused by the service (a 4xx or an Exchange ResponseCode error: the service did not act), the
   * decision recorded for it gives way to what was recorded before — or to no record — so that no pass completes an
   * answer that was not given. Failed in a way that may have landed (a timeout, a reset, a 5xx: mayHaveActed) — on
   * any attempt the scheduler made, as a retry of an answer that landed is refused as a request no longer there —
   * the decision stays unsettled and the page is read again next pass (`uncertain`).
   */
  private async sendAnswer(request: MeetingRequest, recorded: AgentMeetingRow | null, reply: Reply, comment: string): Promise<void> {
    let mayHaveLanded = false;
    const respond = async () => {
      try {
        await this.options.desk.respond(this.address, request, reply, comment, true);
      } catch (error) {
        mayHaveLanded ||= mayHaveActed(error);
        throw error;
      }
    };
    try {
      await this.send(this.address, respond, request.start);
    } catch (error) {
      // Anything but the service's error (a bug, the process going down) leaves the decision to be completed.
      if (!(error instanceof TargetError)) throw error;
      if (mayHaveLanded) {
        this.uncertain = true;
        throw new TargetError('item', 'AnswerUncertain', `the answer may have reached the organiser although it failed (${error.code}: ${error.message}); the next pass reads the request again and completes the answer or gives it again`, { cause: error });
      }
      if (recorded) await this.options.store.saveAgentMeeting(recorded, this.fence);
      else await this.options.store.forgetAgentMeeting(this.address, request.uid, this.fence);
      throw error;
    }
  }

  private async record(request: MeetingRequest, answer: AgentAnswer, decision: Decision, alias: string | null, instructions: InstructionsPlace, settled = true): Promise<void> {
    this.decided.add(request.uid);
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
      settled,
    }, this.fence);
  }

  private async aliasFor(vmr: VmrConfig, request: MeetingRequest): Promise<string | null> {
    if ('fixed' in vmr.alias) return vmr.alias.fixed;
    const number = await this.options.store.allocateAlias(this.address, request.uid, vmr.alias.range, heldUntil(request), this.fence);
    return number === null ? null : `${vmr.alias.prefix}${number}`;
  }

  private instructions(vmr: VmrConfig, alias: string, request: Pick<MeetingRequest, 'subject' | 'organizer'>): { html: string; text: string } {
    const number = 'range' in vmr.alias ? alias.slice(vmr.alias.prefix.length) : alias;
    const facts = { alias, number, dialIn: vmr.dialIn, webLink: '', subject: request.subject, organizer: request.organizer };
    facts.webLink = fill(vmr.webLink, facts, false);
    return render(vmr.template, facts);
  }

  /**
   * Full mode: the organiser's meeting body changed by `change` — only ever our block (instructions.ts). A body changed
   * since it was read (412 on If-Match) is read again and changed once more.
   */
  private async intoOrganizerMeeting(request: Pick<MeetingRequest, 'uid' | 'organizer' | 'start'>, change: (body: Body) => ReturnType<typeof withInstructions>): Promise<InstructionsPlace> {
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

/** A VMR meeting's alias and instructions (null: none to give, the answer is tentative), and where they came from. */
interface Joining {
  alias: string;
  instructions: { html: string; text: string } | null;
  from?: 'provider' | 'template';
  problem?: string;
}

/**
 * The meeting as recorded, for the conference provider when a decision is completed after a crash (the request itself
 * is not at hand then): its time, subject and organiser; a recurrence and all-day are not recorded.
 */
function recordedRequest(row: AgentMeetingRow): MeetingFacts {
  return { uid: row.uid, subject: row.subject, organizer: row.organizer, start: row.startMs, end: row.endMs, isAllDay: false, recurrence: null };
}

/** What the conference provider is told of a meeting (ProviderNotice.meeting). */
type MeetingFacts = Pick<MeetingRequest, 'uid' | 'subject' | 'organizer' | 'start' | 'end' | 'isAllDay' | 'recurrence'>;

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
