// A recurring meeting is one request: what the agent decides and answers is the series, not each occurrence.
//
// Graph's calendarView (and its delta) gives a series as its occurrences and exceptions — `type` occurrence /
// exception with `seriesMasterId`, `recurrence` null — never the series master
// (https://learn.microsoft.com/graph/api/resources/event, https://learn.microsoft.com/graph/api/event-delta). So the
// occurrences sharing a master are resolved to it: read once per pass (`MeetingDesk.seriesMaster`: its recurrence, for
// the `recurring` and `occurrences` rules, and its response), its occurrences read (`MeetingDesk.occurrences`, bounded)
// for the conflict rule, answered once on the master (answering a master answers the series), and remembered for the
// pass; later rounds see the master answered (its responseStatus) and leave its occurrences alone.
//
// An exception — an occurrence the organiser moved or changed on its own — is sent to the attendees as a request of
// its own (https://learn.microsoft.com/graph/api/resources/event: a changed occurrence becomes an `exception`): while
// its series is still pending it is part of the series' decision (the master's /instances gives it at its own time);
// once the series is answered, a pending exception is decided on its own — its own time, as a single meeting — and
// answered by its own id, so a moved occurrence that clashes is declined while the rest of the series stands.
//
// EWS: a recurring MeetingRequest is itself the series (`series.kind` master); its Recurrence and zone are read once
// (`seriesMaster`: GetItem), for the `recurring` and `occurrences` rules. EWS has no /instances of a request that is
// not on the calendar yet, so its occurrences are expanded here from that Recurrence (model/recurrence.ts), within
// the agent's window and bounded as Graph's are: at most MAX_CHECKED_OCCURRENCES checked for conflicts, beyond them
// the answer is tentative. The series' exceptions are read with it (ModifiedOccurrences, DeletedOccurrences) and
// applied as Graph's /instances gives them: a moved occurrence is checked at its new time, a deleted one not at all
// (nor counted by the `occurrences` rule); exceptions that cannot be read make the answer tentative, with the reason.
import { occurrencesWithin } from '../model/recurrence.ts';
import type { MeetingDesk, MeetingRequest, OccurrencePage } from '../targets/meetings.ts';

/** Occurrences the conflict rule checks per series: past it the answer is tentative (a person confirms). */
export const MAX_CHECKED_OCCURRENCES = 50;
/** Pages of a series' occurrences read (Graph: 50 a page). */
const MAX_OCCURRENCE_PAGES = 10;

/** A request resolved to what is decided: the series (with the occurrences the conflict rule checks) or itself. */
export interface Resolved {
  request: MeetingRequest;
  /** A series' occurrences still to come (end after now), at most MAX_CHECKED_OCCURRENCES; null: not a series read so. */
  occurrences: Array<{ start: number; end: number }> | null;
  /** False when the series has more occurrences than were read or checked: no conflict among them is no proof. */
  complete: boolean;
  /** Why the check is incomplete when it is not for the number of occurrences (an EWS series' unreadable exceptions). */
  incomplete?: string;
}

/** Nothing to decide: the reason, for the `unchanged` outcome. */
export interface Settled {
  settled: string;
}

/** One request through the scheduler, in the agent mailbox's lane (MailboxPass.send). */
export type Send = <T>(work: () => Promise<T>, priority: number) => Promise<T>;

/** The series of one mailbox's pass: each master read once, each series answered once. */
export class SeriesResolver {
  private readonly desk: MeetingDesk;
  private readonly mailbox: string;
  private readonly send: Send;
  private readonly masters = new Map<string, Promise<MeetingRequest | null>>();
  private readonly answered = new Set<string>();

  constructor(desk: MeetingDesk, mailbox: string, send: Send) {
    this.desk = desk;
    this.mailbox = mailbox;
    this.send = send;
  }

  /** What `request` stands for: itself (not a series), its series to decide, or nothing to decide. */
  async resolve(request: MeetingRequest, window: { start: number; end: number }): Promise<Resolved | Settled> {
    const series = request.series;
    if (!series || !this.desk.seriesMaster) return { request, occurrences: null, complete: true };
    if (this.answered.has(series.masterId)) return { settled: 'its series was answered in this pass' };
    const master = await this.master(request);
    if (!master) return { settled: 'its series is no longer in the calendar' };
    if (series.kind === 'master') return { request: master, ...expanded(master, window) };
    if (master.state === 'cancelled') return { request: { ...master, state: 'cancelled' }, occurrences: null, complete: true };
    if (request.state === 'cancelled') return { settled: 'one occurrence was cancelled; the series stands' };
    if (master.state === 'answered') {
      // A moved occurrence of an answered series is a request of its own (the comment above).
      if (series.kind === 'exception' && request.state === 'pending') return { request: withoutSeries(request), occurrences: null, complete: true };
      return { settled: 'its series is answered already' };
    }
    return { request: master, ...(await this.occurrencesOf(master, window)) };
  }

  /** The series `request` stood for was answered: its other occurrences in this pass are left alone. */
  answer(request: MeetingRequest): void {
    if (request.series) this.answered.add(request.series.masterId);
  }

  private master(request: MeetingRequest): Promise<MeetingRequest | null> {
    const masterId = request.series!.masterId;
    let read = this.masters.get(masterId);
    if (!read) {
      read = this.send(() => this.desk.seriesMaster!(this.mailbox, request), request.start).then((master) => (master && request.series!.kind !== 'master' ? { ...master, series: request.series! } : master));
      this.masters.set(masterId, read);
    }
    return read;
  }

  /** The occurrences still to come, page after page up to the bounds (each page through the scheduler). */
  private async occurrencesOf(master: MeetingRequest, window: { start: number; end: number }): Promise<Omit<Resolved, 'request'>> {
    if (!this.desk.occurrences) return { occurrences: null, complete: true };
    const occurrences: Array<{ start: number; end: number }> = [];
    let next: string | null = null;
    for (let page = 0; page < MAX_OCCURRENCE_PAGES; page++) {
      const from: string | null = next;
      const answer: OccurrencePage = await this.send(() => this.desk.occurrences!(this.mailbox, master, window.start, window.end, from), master.start);
      occurrences.push(...answer.occurrences.filter((o) => Number.isFinite(o.start) && Number.isFinite(o.end) && o.end > window.start));
      next = answer.next;
      if (!next || occurrences.length > MAX_CHECKED_OCCURRENCES) break;
    }
    return { occurrences: occurrences.slice(0, MAX_CHECKED_OCCURRENCES), complete: !next && occurrences.length <= MAX_CHECKED_OCCURRENCES };
  }
}

/**
 * A series' occurrences from its own Recurrence (EWS), in its zone, within the window, with the organiser's moved and
 * deleted occurrences applied; null when it could not be read. Exceptions that could not be read leave the pattern's
 * occurrences checked and the check incomplete: a moved one may clash where none was looked for.
 */
function expanded(master: MeetingRequest, window: { start: number; end: number }): Omit<Resolved, 'request'> {
  const recurrence = master.recurrence;
  const rule = recurrence?.rule;
  if (!rule || !Number.isFinite(master.start) || !Number.isFinite(master.end)) return { occurrences: null, complete: true };
  const within = occurrencesWithin(rule, master, recurrence?.zone ?? 'UTC', window, MAX_CHECKED_OCCURRENCES, recurrence?.exceptions);
  return recurrence?.exceptionsUnreadable ? { ...within, complete: false, incomplete: recurrence.exceptionsUnreadable } : within;
}

function withoutSeries(request: MeetingRequest): MeetingRequest {
  const { series: _series, ...single } = request;
  return { ...single, recurrence: null };
}
