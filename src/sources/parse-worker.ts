// The thread side of ParsePool (parse-pool.ts): parses one iCalendar file per message, off the main event loop, and
// sends the result back in chunks so that the main thread deserialises a little at a time and keeps answering.
// This file is started as a worker (node:worker_threads); it is never imported.
import { setPriority } from 'node:os';
import { parentPort } from 'node:worker_threads';
import { parseIcs } from './ics.ts';
import type { ParseJob, ParseReply } from './parse-pool.ts';

/** Inputs per message: small enough that taking one in costs the main thread about a millisecond. */
const CHUNK = 250;

const port = parentPort;
if (!port) throw new Error('parse-worker.ts runs as a worker thread (see parse-pool.ts)');

// Parsing is background work next to the API and the deliveries on the main thread: where a thread has a nice value
// of its own (Linux), this one gives way to them (nice 10: about a tenth of the CPU when both want it). Elsewhere
// setpriority would lower the whole process, so it is left alone.
if (process.platform === 'linux') {
  try {
    setPriority(10);
  } catch {
    // Not allowed to (a seccomp profile): parse at normal priority.
  }
}

port.on('message', (job: ParseJob) => {
  const { inputs, ...rest } = parseIcs(job.bytes, job.options);
  for (let at = 0; at < inputs.length; at += CHUNK) port.postMessage({ kind: 'inputs', inputs: inputs.slice(at, at + CHUNK) } satisfies ParseReply);
  port.postMessage({ kind: 'done', result: rest } satisfies ParseReply);
});
