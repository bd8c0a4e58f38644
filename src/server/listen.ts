// A port that cannot be listened on, said in one line with the port and what to do: `calpush serve` and
// `calpush sandbox` (and anything else that listens) turn listen()'s EADDRINUSE/EACCES/EADDRNOTAVAIL into this.
import { CalpushError } from '../model/errors.ts';

/** The address to listen on is taken, not allowed, or not on this machine. */
export class PortUnavailable extends CalpushError {}

/**
 * listen()'s error as a PortUnavailable naming host and port; any other error is returned as it is.
 * `setting` says where the port comes from (e.g. "--port or server.port in the config").
 */
export function listenFailure(error: unknown, host: string, port: number, setting: string): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const where = `${host.includes(':') ? `[${host}]` : host}:${port}`;
  if (code === 'EADDRINUSE') {
    return new PortUnavailable('PortInUse', `cannot listen on ${where}: the port is already in use (EADDRINUSE)`, {
      remedy: `stop what listens there (ss -ltnp 'sport = :${port}' shows it; another calpush?), or choose another port with ${setting}`,
      cause: error,
    });
  }
  if (code === 'EACCES') {
    return new PortUnavailable('PortNotAllowed', `cannot listen on ${where}: this user may not use port ${port} (EACCES)`, {
      remedy: `use a port above 1023 with ${setting} (put a reverse proxy in front for 443), or grant node CAP_NET_BIND_SERVICE`,
      cause: error,
    });
  }
  if (code === 'EADDRNOTAVAIL') {
    return new PortUnavailable('AddressNotAvailable', `cannot listen on ${where}: ${host} is not an address of this machine (EADDRNOTAVAIL)`, {
      remedy: 'listen on 127.0.0.1, 0.0.0.0 (every interface) or one of this machine’s addresses (ip addr)',
      cause: error,
    });
  }
  return error;
}
