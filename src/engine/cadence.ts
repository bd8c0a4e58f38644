// A pass on a cadence: the resource agent (`calpush agent --watch`, `calpush serve` with an `agent` section) and
// serve's re-reading of the room lists the config's `mailboxes` names. A pass every `intervalMs` (from the start of
// one pass to the start of the next; a pass longer than that is followed at once), one pass at a time. The cadence is
// when to look, not a wait on a request: every request of a pass goes through the scheduler, which owns every wait
// and retry (Retry-After, budgets), as in serve's delivery loop (engine/loop.ts).
//
// stop() ends the wait at once and lets a running pass finish for `graceMs`; past that it returns anyway, and the
// caller closes the targets, which ends the requests in flight. Nothing is lost by cutting an agent pass short: each
// answer is recorded as it is sent, and a request not answered yet is still pending at the next pass (agent/run.ts).
//
// soon(keys) asks for a pass of those keys only (the agent: the mailboxes a streaming notification named) before the
// next full pass is due: the notifications that arrive before it starts are gathered into one pass (debounced), the
// full pass stays on the interval (counted from the start of the last full pass) as the backstop.
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock, type Clock } from '../model/clock.ts';

export interface CadenceOptions<R> {
  /** One pass: `only` null is a full pass; else the keys soon() was asked for (a pass of those only). */
  pass: (only: ReadonlySet<string> | null) => Promise<R>;
  intervalMs: number;
  clock?: Clock;
  /** Waits `ms` or until `signal` aborts (resolves either way); tests pass one that moves their clock. */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
  onPass?: (result: R, only: ReadonlySet<string> | null) => void;
  /** A pass that threw (the store, a bug): reported, and the next pass comes at its time. */
  onError?: (error: unknown) => void;
}

export interface CadenceStatus {
  state: 'idle' | 'running' | 'stopping' | 'stopped';
  passes: number;
  lastPassStartedAt: number | null;
  lastError: string | null;
}

async function timerWait(ms: number, signal: AbortSignal): Promise<void> {
  await sleep(ms, undefined, { signal }).catch(() => {});
}

export class Cadence<R> {
  private readonly options: CadenceOptions<R>;
  private readonly clock: Clock;
  private readonly wait: (ms: number, signal: AbortSignal) => Promise<void>;
  private readonly abort = new AbortController();
  /** soon(): the wait before the next pass ends now (a streaming notification, engine/ews-streaming.ts). */
  private nudge = new AbortController();
  /** What soon() asked for since the last pass started: some keys, or everything (a full pass). */
  private pending: Set<string> | 'all' | null = null;
  /** The start of the last full pass: the next full pass is due an interval after it. */
  private lastFullAt: number | null = null;
  private running: Promise<void> | null = null;
  private readonly current: CadenceStatus = { state: 'idle', passes: 0, lastPassStartedAt: null, lastError: null };

  constructor(options: CadenceOptions<R>) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.wait = options.wait ?? timerWait;
  }

  status(): CadenceStatus {
    return { ...this.current };
  }

  /** Starts the passes; the promise of the loop itself is what done() returns. */
  start(): void {
    if (this.running || this.abort.signal.aborted) return;
    this.current.state = 'running';
    this.running = this.run();
  }

  /** Resolves when the loop has ended (after stop()). */
  done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /**
   * A pass now, or right after the one running: of `keys` only (a full pass when none are given). Many calls before
   * it starts make one pass, of every key they named.
   */
  soon(keys?: Iterable<string>): void {
    if (keys === undefined) this.pending = 'all';
    else if (this.pending !== 'all') this.pending = new Set([...(this.pending ?? []), ...keys]);
    this.nudge.abort();
  }

  async stop(graceMs = 5_000): Promise<void> {
    if (this.current.state === 'stopped') return;
    this.current.state = 'stopping';
    this.abort.abort();
    if (this.running) {
      const grace = new AbortController();
      await Promise.race([this.running, this.wait(graceMs, grace.signal)]);
      grace.abort(); // the grace timer must not hold the process once the pass has ended
    }
    this.current.state = 'stopped';
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      const startedAt = this.clock.now();
      this.current.lastPassStartedAt = startedAt;
      if (this.nudge.signal.aborted) this.nudge = new AbortController();
      const only = this.takePending(startedAt);
      if (only === null) this.lastFullAt = startedAt;
      try {
        const result = await this.options.pass(only);
        this.current.lastError = null;
        this.options.onPass?.(result, only);
      } catch (error) {
        this.current.lastError = error instanceof Error ? error.message : String(error);
        this.options.onError?.(error);
      }
      this.current.passes++;
      if (signal.aborted) break;
      const left = this.options.intervalMs - (this.clock.now() - (this.lastFullAt ?? startedAt));
      if (left > 0 && !this.nudge.signal.aborted) await this.wait(left, AbortSignal.any([signal, this.nudge.signal]));
    }
  }

  /** The keys of this pass (null: a full one — the first, one that is due, or one soon() asked for without keys). */
  private takePending(now: number): ReadonlySet<string> | null {
    const pending = this.pending;
    this.pending = null;
    const due = this.lastFullAt === null || now - this.lastFullAt >= this.options.intervalMs;
    return due || pending === null || pending === 'all' ? null : pending;
  }
}
