// A loopback HTTP(S) server that answers the way a broken or hostile server does, for the tests of every client's
// answer limits: 600 MB of body, an endless trickle (a byte every 100 ms: never idle long enough for a socket
// timeout), or a Content-Length of 600 MB followed by silence. It counts what it managed to send, which is what a
// bounded client lets through (plus what the sockets' buffers hold).
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export type HostileMode = 'huge' | 'trickle' | 'huge-length';

export const MiB = 1024 * 1024;
export const HUGE_BYTES = 600 * MiB;

export interface HostileServer {
  url: string;
  mode: HostileMode;
  /** Body bytes written to clients so far (all requests). */
  sent(): number;
  /** Requests answered in the hostile way. */
  requests(): number;
  close(): Promise<void>;
}

export interface HostileOptions {
  mode: HostileMode;
  tls?: { certPem: string; keyPem: string };
  contentType?: string;
  /** Answers some requests normally (return true when it did), e.g. a token endpoint in front of a hostile API. */
  normal?: (request: http.IncomingMessage, response: http.ServerResponse) => boolean;
}

const FILLER = Buffer.alloc(64 * 1024, 'x');

export async function hostileServer(options: HostileOptions): Promise<HostileServer> {
  let sent = 0;
  let hostile = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sockets = new Set<Socket>();
  const state = { mode: options.mode };
  const handler = (request: http.IncomingMessage, response: http.ServerResponse) => {
    request.resume();
    request.on('end', () => {
      if (options.normal?.(request, response)) return;
      hostile++;
      const contentType = options.contentType ?? 'application/octet-stream';
      if (state.mode === 'huge') {
        response.writeHead(200, { 'content-type': contentType });
        let body = 0;
        const pump = () => {
          while (!response.destroyed && body < HUGE_BYTES) {
            body += FILLER.length;
            sent += FILLER.length;
            if (!response.write(FILLER)) return void response.once('drain', pump);
          }
          response.end();
        };
        pump();
      } else if (state.mode === 'trickle') {
        response.writeHead(200, { 'content-type': contentType });
        const timer = setInterval(() => {
          if (response.destroyed) return clearInterval(timer);
          sent += 1;
          response.write('x');
        }, 100);
        timers.add(timer);
      } else {
        response.writeHead(200, { 'content-type': contentType, 'content-length': String(HUGE_BYTES) });
        sent += 1024;
        response.write(FILLER.subarray(0, 1024));
      }
    });
  };
  const server = options.tls ? https.createServer({ cert: options.tls.certPem, key: options.tls.keyPem }, handler) : http.createServer(handler);
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `${options.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    get mode() {
      return state.mode;
    },
    set mode(mode: HostileMode) {
      state.mode = mode;
    },
    sent: () => sent,
    requests: () => hostile,
    async close() {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Runs `work` while sampling this process's resident set size; resolves with the work's outcome and the peak growth. */
export async function measured<T>(work: () => Promise<T>): Promise<{ outcome: PromiseSettledResult<T>; rssGrowth: number; ms: number }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const started = performance.now();
  const [outcome] = await Promise.allSettled([work()]);
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { outcome, rssGrowth: peak - before, ms: performance.now() - started };
}
