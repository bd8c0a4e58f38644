// Live updates of a dashboard page through server-sent events (https://html.spec.whatwg.org/multipage/server-sent-events.html):
// every `intervalMs` the stream sends the page's live view (views.ts) when it changed, a comment line otherwise
// (which keeps proxies from closing an idle connection), and `signed-out` once the session has ended (signed out,
// expired, key revoked), after which it closes. A browser that stops reading is not written to until it drains,
// and the number of open streams is bounded, so a slow or greedy client cannot make the server hold memory.
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { LiveView } from './views.ts';

export interface LiveStreamOptions {
  intervalMs: number;
  /** The page's live view now. */
  view: () => Promise<LiveView>;
  /** Whether the session is still open (checked before each update). */
  open: () => Promise<boolean>;
  onError: (error: unknown) => void;
}

export class LiveStreams {
  private readonly streams = new Set<() => void>();
  private readonly max: number;

  constructor(max: number) {
    this.max = max;
  }

  get size(): number {
    return this.streams.size;
  }

  /** Answers the request with a stream, or 503 when `max` streams are open already. */
  serve(request: FastifyRequest, reply: FastifyReply, options: LiveStreamOptions): FastifyReply | void {
    if (this.streams.size >= this.max) {
      // The page still works: the script keeps the numbers it has and the browser tries again later.
      return reply.code(503).header('retry-after', '30').type('text/plain; charset=utf-8').send('too many live updates open; try again later');
    }
    reply.hijack();
    const raw: ServerResponse = reply.raw;
    raw.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-content-type-options': 'nosniff',
      'x-accel-buffering': 'no',
    });
    raw.write('retry: 5000\n\n');
    let last = '';
    let sending = false;
    const send = async () => {
      if (sending || raw.writableNeedDrain) return;
      sending = true;
      try {
        if (!(await options.open())) {
          raw.write('event: signed-out\ndata: {}\n\n');
          end();
          return;
        }
        const data = JSON.stringify(await options.view());
        if (raw.destroyed) return;
        if (data === last) raw.write(': still here\n\n');
        else raw.write(`event: update\ndata: ${data}\n\n`);
        last = data;
      } catch (error) {
        options.onError(error);
      } finally {
        sending = false;
      }
    };
    const timer = setInterval(() => void send(), options.intervalMs);
    const end = () => {
      clearInterval(timer);
      this.streams.delete(end);
      if (!raw.destroyed) raw.end();
    };
    this.streams.add(end);
    request.raw.on('close', end);
    void send();
  }

  /** Ends every stream (the server is closing: an open stream would keep it waiting). */
  closeAll(): void {
    for (const end of [...this.streams]) end();
  }
}
