// What the overview says about traffic and progress, measured rather than guessed: requests per second and the
// share of throttling answers over the last minute (from the scheduler's counters), and the progress of the
// current drain — the mailboxes with delivery work ahead since the backlog last was empty — with an ETA at the
// rate they have been completed so far.
//
// Rates and the ETA are elapsed time on the monotonic clock (performance.now()), which a wall-clock step cannot
// stretch; when the drain began is said in the injected Clock's time. Samples are taken every `sampleMs` on an
// unref'd timer (one store query and a copy of the scheduler's counters), whether or not anyone looks, so that the
// numbers do not depend on when the page was opened.
import { performance } from 'node:perf_hooks';
import { systemClock, type Clock } from '../../model/clock.ts';
import type { SchedulerStats } from '../../engine/scheduler.ts';

export interface TrafficRates {
  /** Requests started per second over the window; null before two samples exist. */
  requestsPerSecond: number | null;
  /** Throttling answers per request started over the window (0…1); null when no request was started. */
  throttledShare: number | null;
  /** The window the rates are over, in seconds (up to a minute, less just after the start). */
  windowSeconds: number;
  /** Since the server started. */
  requests: number;
  throttled: number;
}

export interface DrainProgress {
  /** Mailboxes that had work during this drain, and of those, the ones done (no work left, or failed). */
  total: number;
  done: number;
  remaining: number;
  /** When the drain began (ISO 8601, the Clock's time); null when there is no drain. */
  startedAt: string | null;
  /** Seconds until the remaining mailboxes are done at the rate so far; null until one is done. */
  etaSeconds: number | null;
  /** The drain before this one, once it ended. */
  last: { mailboxes: number; seconds: number; endedAt: string } | null;
}

const WINDOW_MS = 60_000;

export class DeliveryMonitor {
  private readonly stats: (() => SchedulerStats) | null;
  private readonly work: () => Promise<string[]>;
  private readonly clock: Clock;
  private readonly samples: Array<{ at: number; started: number; throttled: number }> = [];
  private drain: { startedAt: number; startedMono: number; seen: Set<string>; remaining: number } | null = null;
  private lastDrain: DrainProgress['last'] = null;
  private timer: NodeJS.Timeout | null = null;
  private sampling: Promise<void> | null = null;

  constructor(options: { stats?: () => SchedulerStats; work: () => Promise<string[]>; clock?: Clock }) {
    this.stats = options.stats ?? null;
    this.work = options.work;
    this.clock = options.clock ?? systemClock;
  }

  start(sampleMs: number): void {
    if (this.timer) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), sampleMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.sampling;
  }

  /** Takes a sample now (the timer does this; a test may too). A failing store leaves the last numbers as they were. */
  sample(): Promise<void> {
    this.sampling ??= this.takeSample().finally(() => {
      this.sampling = null;
    });
    return this.sampling;
  }

  rates(): TrafficRates {
    const last = this.samples.at(-1);
    const first = this.samples[0];
    if (!last || !first || last === first) {
      return { requestsPerSecond: null, throttledShare: null, windowSeconds: 0, requests: last?.started ?? 0, throttled: last?.throttled ?? 0 };
    }
    const seconds = (last.at - first.at) / 1000;
    const started = last.started - first.started;
    const throttled = last.throttled - first.throttled;
    return {
      requestsPerSecond: started / seconds,
      throttledShare: started > 0 ? Math.min(1, throttled / started) : null,
      windowSeconds: Math.round(seconds),
      requests: last.started,
      throttled: last.throttled,
    };
  }

  progress(): DrainProgress {
    const drain = this.drain;
    if (!drain) return { total: 0, done: 0, remaining: 0, startedAt: null, etaSeconds: null, last: this.lastDrain };
    const total = drain.seen.size;
    const done = total - drain.remaining;
    const elapsed = (performance.now() - drain.startedMono) / 1000;
    const etaSeconds = done > 0 ? Math.ceil((drain.remaining * elapsed) / done) : null;
    return { total, done, remaining: drain.remaining, startedAt: new Date(drain.startedAt).toISOString(), etaSeconds, last: this.lastDrain };
  }

  private async takeSample(): Promise<void> {
    const at = performance.now();
    if (this.stats) {
      const { started, throttled } = this.stats();
      this.samples.push({ at, started, throttled });
      // Keep one sample at or before the window's start, so the rate covers the whole window.
      while (this.samples.length > 2 && this.samples[1]!.at <= at - WINDOW_MS) this.samples.shift();
    }
    let outstanding: string[];
    try {
      outstanding = await this.work();
    } catch {
      return;
    }
    this.track(outstanding, at);
  }

  private track(outstanding: string[], at: number): void {
    if (!outstanding.length) {
      if (this.drain) {
        this.lastDrain = {
          mailboxes: this.drain.seen.size,
          seconds: Math.round((at - this.drain.startedMono) / 1000),
          endedAt: new Date(this.clock.now()).toISOString(),
        };
      }
      this.drain = null;
      return;
    }
    this.drain ??= { startedAt: this.clock.now(), startedMono: at, seen: new Set(), remaining: 0 };
    for (const calendar of outstanding) this.drain.seen.add(calendar);
    this.drain.remaining = outstanding.length;
  }
}
