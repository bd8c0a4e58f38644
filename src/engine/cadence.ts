// A pass on a cadence: the resource agent (`calpush agent --watch`, `calpush serve` with an `agent` section) and
// serve's re-reading of the room lists the config's `mailboxes` names. A pass every `intervalMs` (from the start of
// one pass to the start of the next; a pass longer than that is followed at once), one pass at a time. The cadence is
// when to look, not a wait on a request: every request of a pass goes through the scheduler, which owns every wait
// and retry (Retry-After, budgets), as in serve's delivery loop (engine/loop.ts).
//
// stop() ends the wait at once and lets a running pass finish for `graceMs`; past that it returns anyway, and the
// caller closes the targets, which ends the requests in flight. Nothing is lost by cutting an agent pass short: each
// answer is recorded as it is sent, and a request not answered yet is still pending at the next pass (agent/run.ts).
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock, type Clock } from '../model/clock.ts';

export interface CadenceOptions<R> {
  pass: () => Promise<R>;
  intervalMs: number;
  clock?: Clock;
  /** Waits `ms` or until `signal` aborts (resolves either way); tests pass one that moves their clock. */
  wait?: (ms: number, signal: AbortSignal) => Promise<void>;
  onPass?: (result: R) => void;
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

  /** The next pass now, or right after the one running: many calls before it starts make one pass. */
  soon(): void {
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
      try {
        const result = await this.options.pass();
        this.current.lastError = null;
        this.options.onPass?.(result);
      } catch (error) {
        this.current.lastError = error instanceof Error ? error.message : String(error);
        this.options.onError?.(error);
      }
      this.current.passes++;
      if (signal.aborted) break;
      const left = this.options.intervalMs - (this.clock.now() - startedAt);
      if (left > 0 && !this.nudge.signal.aborted) await this.wait(left, AbortSignal.any([signal, this.nudge.signal]));
    }
  }
}
