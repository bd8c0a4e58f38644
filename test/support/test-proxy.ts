// A real HTTP proxy on loopback for the proxy tests: `proxy` by TooTallNate (the proxy the proxy-agent family is
// tested against): CONNECT tunnels for https, absolute-URI requests for http, optional Basic authentication. It
// keeps a log of what it was asked — the proof that traffic went through it.
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createProxy } from 'proxy';

export interface TestProxy {
  /** http://127.0.0.1:<port> */
  url: string;
  /** One line per request: "CONNECT 127.0.0.1:4430", "GET http://127.0.0.1:5232/…"; refused ones end in " (407)". */
  log: string[];
  /** The CONNECT lines of the log. */
  tunnels(): string[];
  close(): Promise<void>;
}

export async function startProxy(options: { username?: string; password?: string } = {}): Promise<TestProxy> {
  const server = createProxy(createServer());
  const log: string[] = [];
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  const expected = options.username ? `Basic ${Buffer.from(`${options.username}:${options.password ?? ''}`).toString('base64')}` : null;
  server.authenticate = (req) => {
    const ok = expected === null || req.headers['proxy-authorization'] === expected;
    log.push(`${req.method} ${req.url}${ok ? '' : ' (407)'}`);
    return ok;
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    tunnels: () => log.filter((line) => line.startsWith('CONNECT ')),
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}
