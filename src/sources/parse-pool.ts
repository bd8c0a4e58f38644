// iCalendar files and feeds are parsed off the main thread, in worker threads (node:worker_threads), under three
// limits: bytes (checked before anything is parsed), events (the parser refuses the file once it yields more, so 31 KB
// of recurrence rules cannot become a million events) and wall time (the worker is terminated: whatever ical.js is
// doing, `calpush serve` keeps answering and stops on SIGTERM). A worker also has a heap limit of its own, so a file
// that needs too much memory takes down its worker, not the process.
//
// Over a limit, the file or feed is refused as a whole (IcsParseResult.refusal); the caller then changes nothing for
// it. Why not JSON and NDJSON as well: they are parsed by V8's linear JSON.parse, one record (line) at a time, and
// each record costs only its own bytes — they are streamed on the main thread (stream.ts), which is what keeps a
// million-event resync out of memory; moving them to a worker would copy every record once more.
//
// A worker is kept for the next file (starting one costs ~0.1–0.3 s) and does not keep the process alive while idle.
import { Worker } from 'node:worker_threads';
import { CalpushError } from '../model/errors.ts';
import { DEFAULT_MAX_EVENTS, refusedResult, type IcsOptions, type IcsParseResult, type IcsRefusal } from './ics.ts';

const MiB = 1024 * 1024;

export interface ParseLimits {
  /** A file or feed larger than this is refused before it is parsed. */
  maxBytes: number;
  /** Events (single events and occurrences of recurring series in the horizon) one file may produce. */
  maxEvents: number;
  /** Wall time one parse may take; the worker is stopped at this limit. */
  timeoutMs: number;
}

export const DEFAULT_PARSE_LIMITS: ParseLimits = { maxBytes: 50 * MiB, maxEvents: DEFAULT_MAX_EVENTS, timeoutMs: 60_000 };

/** The limits for .ics files of a config's `limits` section (sync, import). */
export function fileParseLimits(limits: { icsMaxBytes: number; icsMaxEvents: number; icsParseTimeoutSeconds: number }): ParseLimits {
  return { maxBytes: limits.icsMaxBytes, maxEvents: limits.icsMaxEvents, timeoutMs: limits.icsParseTimeoutSeconds * 1000 };
}

/** The heap a worker may use for files of up to `maxBytes`: measured at ~5 × the file for large ones, doubled. */
export function workerMemoryMb(maxBytes: number): number {
  return Math.ceil(256 + (10 * maxBytes) / MiB);
}

/** What the main thread sends: one file. */
export interface ParseJob {
  bytes: Uint8Array;
  options: IcsOptions;
}

/** What the worker sends back: the inputs in chunks, then the rest of the result. */
export type ParseReply = { kind: 'inputs'; inputs: IcsParseResult['inputs'] } | { kind: 'done'; result: Omit<IcsParseResult, 'inputs'> };

/** The parse was stopped because its caller no longer wants it (serve is shutting down). */
export class ParseStopped extends CalpushError {
  constructor() {
    super('parse-stopped', 'the iCalendar parse was stopped');
  }
}

/**
 * The worker's code next to this module: parse-worker.ts when calpush runs from src/ (type stripping),
 * parse-worker.js when it runs from the build in dist/.
 */
export function workerUrl(moduleUrl: string = import.meta.url): URL {
  return new URL(new URL(moduleUrl).pathname.endsWith('.ts') ? './parse-worker.ts' : './parse-worker.js', moduleUrl);
}

export interface ParsePoolOptions {
  /** Files parsed at once (one worker each). */
  size: number;
  /** Largest file any job will bring (sets each worker's heap limit, see workerMemoryMb). */
  maxBytes: number;
}

export class ParsePool {
  private readonly size: number;
  private readonly memoryMb: number;
  private readonly idle: Worker[] = [];
  private readonly all = new Set<Worker>();
  private readonly waiting: Array<() => void> = [];
  private busy = 0;
  private closed = false;

  constructor(options: ParsePoolOptions) {
    this.size = Math.max(1, options.size);
    this.memoryMb = workerMemoryMb(options.maxBytes);
  }

  /**
   * Parses one file in a worker. Resolves with a refusal when the file is over a limit (bytes, events, time,
   * memory); rejects with ParseStopped when `signal` aborts, and with a CalpushError when the worker itself fails.
   * With `handOver`, the bytes' memory is moved to the worker instead of copied (the caller's buffer is then
   * empty): a 45 MB feed costs the event loop ~20 ms less.
   */
  async parse(bytes: Uint8Array, options: IcsOptions, limits: ParseLimits, signal?: AbortSignal, handOver = false): Promise<IcsParseResult> {
    if (bytes.length > limits.maxBytes) {
      return refusedResult(options, { limit: 'bytes', message: `is ${bytes.length} bytes, more than the limit of ${limits.maxBytes} bytes` });
    }
    await this.acquire(signal);
    let worker: Worker | null = null;
    try {
      worker = this.idle.pop() ?? this.spawn();
      const result = await this.run(worker, { bytes, options: { ...options, maxEvents: limits.maxEvents } }, limits.timeoutMs, signal, handOver);
      if (result.kept) this.keep(worker);
      return result.result;
    } finally {
      this.release();
    }
  }

  /** Terminates every worker; parses still running are stopped (they reject). */
  async close(): Promise<void> {
    this.closed = true;
    for (const wake of this.waiting.splice(0)) wake();
    await Promise.all([...this.all].map((worker) => worker.terminate()));
    this.all.clear();
    this.idle.length = 0;
  }

  private acquire(signal?: AbortSignal): Promise<void> {
    const attempt = (): boolean => {
      if (this.closed || signal?.aborted) throw new ParseStopped();
      if (this.busy >= this.size) return false;
      this.busy++;
      return true;
    };
    if (attempt()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      let done = false;
      const wake = () => {
        if (done) return;
        try {
          if (!attempt()) return void this.waiting.push(wake);
          done = true;
          resolve();
        } catch (error) {
          done = true;
          reject(error);
        }
      };
      this.waiting.push(wake);
      signal?.addEventListener('abort', () => wake(), { once: true });
    });
  }

  private release(): void {
    this.busy--;
    this.waiting.shift()?.();
  }

  private spawn(): Worker {
    const worker = new Worker(workerUrl(), {
      // A young generation larger than V8's default: parsing allocates many short-lived objects, and the scavenger
      // then runs a third as often.
      resourceLimits: { maxOldGenerationSizeMb: this.memoryMb, maxYoungGenerationSizeMb: 96 },
    });
    this.all.add(worker);
    worker.once('exit', () => {
      this.all.delete(worker);
      const at = this.idle.indexOf(worker);
      if (at >= 0) this.idle.splice(at, 1);
    });
    // An idle worker must not keep the process alive; it is referenced while it works.
    worker.unref();
    return worker;
  }

  private keep(worker: Worker): void {
    if (this.closed || !this.all.has(worker)) return;
    worker.unref();
    this.idle.push(worker);
  }

  private run(worker: Worker, job: ParseJob, timeoutMs: number, signal: AbortSignal | undefined, handOver: boolean): Promise<{ result: IcsParseResult; kept: boolean }> {
    return new Promise((resolve, reject) => {
      const inputs: IcsParseResult['inputs'] = [];
      let settled = false;
      const settle = (kept: boolean, outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        worker.off('message', onMessage);
        worker.off('error', onError);
        worker.off('exit', onExit);
        signal?.removeEventListener('abort', onAbort);
        if (!kept) void worker.terminate();
        outcome();
      };
      const refuse = (refusal: IcsRefusal) => settle(false, () => resolve({ result: refusedResult(job.options, refusal), kept: false }));
      const onMessage = (reply: ParseReply) => {
        if (reply.kind === 'inputs') {
          for (const input of reply.inputs) inputs.push(input);
          return;
        }
        settle(true, () => resolve({ result: { inputs, ...reply.result }, kept: true }));
      };
      const onError = (error: Error & { code?: string }) => {
        if (error.code === 'ERR_WORKER_OUT_OF_MEMORY') {
          refuse({ limit: 'memory', message: `needs more than the ${this.memoryMb} MB of memory its parser may use (the parse was stopped)` });
        } else {
          settle(false, () => reject(new CalpushError('parse-worker', `the iCalendar parser failed: ${error.message}`, { cause: error })));
        }
      };
      const onExit = (code: number) =>
        settle(false, () => reject(this.closed ? new ParseStopped() : new CalpushError('parse-worker', `the iCalendar parser stopped unexpectedly (exit code ${code})`)));
      const onAbort = () => settle(false, () => reject(new ParseStopped()));
      const timer = setTimeout(() => refuse({ limit: 'time', message: `took longer than ${timeoutMs / 1000} s to parse (the parse was stopped)` }), timeoutMs);
      if (signal?.aborted) return onAbort();
      worker.on('message', onMessage);
      worker.on('error', onError);
      worker.on('exit', onExit);
      signal?.addEventListener('abort', onAbort, { once: true });
      worker.ref();
      // Only memory the bytes have to themselves can move (a small Buffer shares Node's pool with others).
      const { buffer, byteOffset, byteLength } = job.bytes;
      const movable = handOver && buffer instanceof ArrayBuffer && byteOffset === 0 && byteLength === buffer.byteLength;
      worker.postMessage(job, movable ? [buffer] : []);
    });
  }
}
