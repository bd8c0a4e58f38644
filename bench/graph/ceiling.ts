// The theoretical ceiling of a delivery workload under Outlook's limits and the benchmark's latency model.
// Documented in docs/benchmarks.md ("Ceiling"); keep the two in step.
//
// Model: every HTTP request waits `rttMs` (network round trip); every Graph operation — a top-level request or one
// $batch item — holds one of the mailbox's `mailboxConcurrency` (4) slots for `serverMs`. Per mailbox at most
// `windowRequests` (10,000) operations in any `windowMs` (10 min), every operation counted (GETs included). The
// client has at most `globalConcurrency` HTTP requests in flight (calpush's limits.globalConcurrency).

export interface CeilingInput {
  mailboxes: number;
  /** write operations per mailbox (creates/updates/deletes) */
  writesPerMailbox: number;
  /** sequential GET pages per mailbox before planning (adoption listing); 0 if none is needed */
  listPagesPerMailbox: number;
  rttMs: number;
  serverMs: number;
  mailboxConcurrency: number;
  windowRequests: number;
  windowMs: number;
  globalConcurrency: number;
  /** operations per HTTP request when batching (Graph: ≤ 20) */
  batchSize: number;
  /** Outlook runs up to 4 items of one batch at once */
  batchParallelism: number;
}

export interface CeilingBound {
  name: string;
  seconds: number;
}

export interface Ceiling {
  /** wall time of the fastest client within the limits */
  seconds: number;
  eventsPerSecond: number;
  /** the bound that decides `seconds` */
  binding: string;
  bounds: CeilingBound[];
}

function finish(events: number, bounds: CeilingBound[], rttMs: number): Ceiling {
  const best = bounds.reduce((a, b) => (b.seconds > a.seconds ? b : a));
  // + one round trip for the token
  const seconds = best.seconds + rttMs / 1000;
  return { seconds, eventsPerSecond: events / seconds, binding: best.name, bounds };
}

/** Fewest seconds before the (k·W + 1)-th operation of one mailbox may start: the rolling-window bound. */
function windowBound(requests: number, i: CeilingInput): number {
  return Math.floor(Math.max(0, requests - 1) / i.windowRequests) * (i.windowMs / 1000);
}

/**
 * Batched ceiling (the real one): RTT is paid once per sequential step and amortised over up to `batchSize`
 * operations; what is left per mailbox is 4 slots × serverMs.
 *   per mailbox:  T_mb = L·(r + p) + r + ceil(N / 4)·p          (L listing pages, N writes)
 *   window:       T_w  = floor((L + N − 1) / 10,000) · 600 s
 *   global:       T_g  = M·(L + N) / (G · B / (r + ceil(B / 4)·p))
 *   ceiling       = M·N / (max(T_mb, T_w, T_g) + r)
 */
export function batchedCeiling(i: CeilingInput): Ceiling {
  const r = i.rttMs / 1000;
  const p = i.serverMs / 1000;
  const L = i.listPagesPerMailbox;
  const N = i.writesPerMailbox;
  const ops = L + N;
  const perBatch = r + Math.ceil(i.batchSize / i.batchParallelism) * p;
  const bounds: CeilingBound[] = [
    { name: `per-mailbox concurrency (${i.mailboxConcurrency} × ${i.serverMs} ms server time)`, seconds: L * (r + p) + (N > 0 ? r + Math.ceil(N / i.mailboxConcurrency) * p : 0) },
    { name: `per-mailbox budget (${i.windowRequests} / ${i.windowMs / 60000} min)`, seconds: windowBound(ops, i) },
    { name: `global concurrency (${i.globalConcurrency} HTTP requests × ${i.batchSize} ops in flight)`, seconds: (i.mailboxes * ops) / ((i.globalConcurrency * i.batchSize) / perBatch) },
  ];
  return finish(i.mailboxes * N, bounds, i.rttMs);
}

/**
 * Unbatched ceiling: one operation per HTTP request, so each of the 4 slots of a mailbox is busy for r + p per
 * operation as the client sees it.
 *   per mailbox:  T_mb = L·(r + p) + ceil(N / 4)·(r + p)
 *   global:       T_g  = M·(L + N)·(r + p) / G
 */
export function unbatchedCeiling(i: CeilingInput): Ceiling {
  const r = i.rttMs / 1000;
  const p = i.serverMs / 1000;
  const L = i.listPagesPerMailbox;
  const N = i.writesPerMailbox;
  const ops = L + N;
  const bounds: CeilingBound[] = [
    { name: `per-mailbox concurrency (${i.mailboxConcurrency} × (${i.rttMs} + ${i.serverMs}) ms)`, seconds: L * (r + p) + Math.ceil(N / i.mailboxConcurrency) * (r + p) },
    { name: `per-mailbox budget (${i.windowRequests} / ${i.windowMs / 60000} min)`, seconds: windowBound(ops, i) },
    { name: `global concurrency (${i.globalConcurrency} requests in flight)`, seconds: (i.mailboxes * ops * (r + p)) / i.globalConcurrency },
  ];
  return finish(i.mailboxes * N, bounds, i.rttMs);
}

/** The SDK baseline's own best case: mailboxes one after another, 4 POSTs in flight, no listing. */
export function baselineCeiling(i: CeilingInput): Ceiling {
  const r = i.rttMs / 1000;
  const p = i.serverMs / 1000;
  const perMailbox = Math.ceil(i.writesPerMailbox / i.mailboxConcurrency) * (r + p);
  return finish(i.mailboxes * i.writesPerMailbox, [{ name: 'sequential mailboxes × 4 in flight', seconds: i.mailboxes * perMailbox }], i.rttMs);
}

/** The fastest possible delivery of one changed event: one PATCH (a process without a cached token adds one RTT). */
export function urgentLatencyFloorMs(rttMs: number, serverMs: number): number {
  return rttMs + serverMs;
}
