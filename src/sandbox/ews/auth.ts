// Authentication at /EWS/Exchange.asmx as an on-premises Exchange (IIS) does it: Basic over TLS and NTLM
// (https://learn.microsoft.com/exchange/client-developer/exchange-web-services/authentication-and-ews-in-exchange).
// NTLM authenticates the TCP connection: after the type 3 message succeeds, later requests on the same socket need
// no Authorization header (IIS's default; [MS-NTHT] https://learn.microsoft.com/openspecs/windows_protocols/ms-ntht/).
// A wrong password or unknown account → 401 with the challenges again.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Socket } from 'node:net';
import type { EwsAccount, EwsAccounts } from './accounts.ts';
import { createChallenge, messageType, parseAuthenticate, verifyNtlmV2, type ChallengeState } from './ntlm.ts';

interface SocketAuth {
  challenge?: ChallengeState;
  account?: EwsAccount;
}

export type AuthOutcome =
  | { ok: true; account: EwsAccount; scheme: 'basic' | 'ntlm' }
  | { ok: false; status: 401; headers: Record<string, string | string[]>; reason: 'challenge' | 'failed' | 'missing' };

const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest();

export class EwsAuthenticator {
  private readonly sockets = new WeakMap<Socket, SocketAuth>();
  private readonly accounts: EwsAccounts;
  private readonly names: { netbiosDomain: string; netbiosComputer: string; dnsDomain: string; dnsComputer: string };
  private readonly realm: string;

  constructor(accounts: EwsAccounts, dnsDomain: string, netbiosDomain: string) {
    this.accounts = accounts;
    this.names = { netbiosDomain, netbiosComputer: 'EXCH01', dnsDomain, dnsComputer: `exch01.${dnsDomain}` };
    this.realm = `mail.${dnsDomain}`;
  }

  /** The challenges of a 401: NTLM and Basic (an Exchange virtual directory with both enabled). */
  private challenges(): Record<string, string | string[]> {
    return { 'www-authenticate': ['NTLM', `Basic realm="${this.realm}"`] };
  }

  authenticate(socket: Socket, authorization: string | undefined): AuthOutcome {
    let state = this.sockets.get(socket);
    if (!state) {
      state = {};
      this.sockets.set(socket, state);
    }
    if (!authorization) {
      if (state.account) return { ok: true, account: state.account, scheme: 'ntlm' };
      return { ok: false, status: 401, headers: this.challenges(), reason: 'missing' };
    }
    const space = authorization.indexOf(' ');
    const scheme = (space < 0 ? authorization : authorization.slice(0, space)).toLowerCase();
    const credentials = space < 0 ? '' : authorization.slice(space + 1).trim();

    if (scheme === 'basic') {
      const decoded = Buffer.from(credentials, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      const login = colon < 0 ? decoded : decoded.slice(0, colon);
      const password = colon < 0 ? '' : decoded.slice(colon + 1);
      const account = this.accounts.find(login);
      if (account && timingSafeEqual(sha256(password), sha256(account.password))) return { ok: true, account, scheme: 'basic' };
      return { ok: false, status: 401, headers: this.challenges(), reason: 'failed' };
    }

    if (scheme === 'ntlm' || scheme === 'negotiate') {
      const token = Buffer.from(credentials, 'base64');
      const type = messageType(token);
      const prefix = scheme === 'ntlm' ? 'NTLM' : 'Negotiate';
      if (type === 1) {
        // A new handshake resets the connection's identity.
        state.account = undefined;
        const { message, state: challenge } = createChallenge(token, this.names);
        state.challenge = challenge;
        return { ok: false, status: 401, headers: { 'www-authenticate': `${prefix} ${message.toString('base64')}` }, reason: 'challenge' };
      }
      if (type === 3 && state.challenge) {
        const challenge = state.challenge;
        state.challenge = undefined;
        const message = parseAuthenticate(token);
        const account = message ? this.accounts.find(message.user, message.domain) : undefined;
        if (message && account && verifyNtlmV2(message, challenge, account.password)) {
          state.account = account;
          return { ok: true, account, scheme: 'ntlm' };
        }
      }
      return { ok: false, status: 401, headers: this.challenges(), reason: 'failed' };
    }
    return { ok: false, status: 401, headers: this.challenges(), reason: 'failed' };
  }
}
