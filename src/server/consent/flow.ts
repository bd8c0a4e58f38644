// What the consent page does between the person's browser and Entra ID: start a sign-in (state, nonce, PKCE, bound to
// this browser by a cookie: RFC 6749 §10.12, RFC 9700 §4.7) and finish it — the code redeemed, the person's addresses
// read, the calendar chosen among them, the connection recorded with its token cache sealed; or, for a disconnect,
// the person's connections ended. One calendar per person: a second address of someone already connected is refused
// (both would be /me, and each calendar's delivery would delete the other's events).
//
// "Only their own mailbox": the calendar connected is always one of the signed-in person's own addresses — their
// UPN (preferred_username), their primary address or an alias (proxyAddresses), which Exchange keeps unique across
// the organisation — and the token written with is theirs, at /me: even a calendar named by an alias is theirs.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Clock } from '../../model/clock.ts';
import { CalpushError } from '../../model/errors.ts';
import type { ConnectionStore } from '../../store/connections.ts';
import type { ConsentClient } from '../../targets/graph/consent.ts';

/** A sign-in started here must come back within this long. */
const REQUEST_LIFETIME_MS = 15 * 60_000;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

export type ConsentOutcome =
  | { kind: 'connected'; calendar: string; username: string; others: string[] }
  | { kind: 'disconnected'; calendars: string[]; username: string }
  | { kind: 'refused'; title: string; message: string; status: number };

export interface ConsentFlowOptions {
  store: ConnectionStore;
  client: ConsentClient;
  clock: Clock;
  /** The calendars this deployment may write (config `mailboxes`), or null for any. */
  mailboxes: Set<string> | null;
  /** Whether calpush knows the calendar (desired events, delivered items, a status). */
  knows: (calendar: string) => Promise<boolean>;
  /** A calendar was connected (delivery may start at once). */
  onConnected?: (calendar: string) => void;
}

/** A failure the person sees as a page (never a stack trace). */
class ConsentRefused extends CalpushError {
  readonly status: number;
  readonly title: string;
  constructor(title: string, message: string, status = 400) {
    super('ConsentRefused', message);
    this.title = title;
    this.status = status;
  }
}

/**
 * The person has another of their addresses connected: both would be written at /me, one mailbox, and each calendar's
 * delivery would delete the other's events (the store refused it, connections.ts).
 */
function alreadyConnected(connected: string, asked: string, username: string): ConsentRefused {
  return new ConsentRefused(
    'Your calendar is already connected',
    `You signed in as ${username}, and your calendar is already connected to calpush as ${connected}: ${asked} is another address of the same calendar, and calpush writes each calendar through one address only. Nothing was changed; events scheduled for ${connected} keep arriving. To connect it as ${asked} instead, disconnect first (at /disconnect) and connect again naming ${asked}. If you were sent a link for ${asked}, tell the people who run calpush that ${connected} and ${asked} are the same person, so that the timetable names you one way.`,
    409,
  );
}

export class ConsentFlow {
  private readonly options: ConsentFlowOptions;

  constructor(options: ConsentFlowOptions) {
    this.options = options;
  }

  /** A sign-in for `purpose`: where to send the browser, and the binding cookie's value. */
  async start(purpose: 'connect' | 'disconnect', calendar: string | null, redirectUri: string): Promise<{ url: string; binding: string }> {
    const state = randomBytes(32).toString('base64url');
    const nonce = randomBytes(32).toString('base64url');
    const binding = randomBytes(32).toString('base64url');
    const pkce = await this.options.client.pkce();
    await this.options.store.saveConsentRequest({
      id: sha256(state),
      bindingHash: sha256(binding),
      purpose,
      calendar,
      codeVerifier: pkce.verifier,
      nonce,
      expiresAtMs: this.options.clock.now() + REQUEST_LIFETIME_MS,
    });
    const url = await this.options.client.authorizationUrl({ redirectUri, state, nonce, codeChallenge: pkce.challenge, loginHint: calendar ?? undefined, calendarScopes: purpose === 'connect' });
    return { url, binding };
  }

  /** The callback: Entra ID's answer (query) and this browser's binding cookie. */
  async finish(query: Record<string, string | undefined>, binding: string | undefined, redirectUri: string): Promise<ConsentOutcome> {
    try {
      return await this.complete(query, binding, redirectUri);
    } catch (error) {
      if (error instanceof ConsentRefused) return { kind: 'refused', title: error.title, message: error.message, status: error.status };
      throw error;
    }
  }

  private async complete(query: Record<string, string | undefined>, binding: string | undefined, redirectUri: string): Promise<ConsentOutcome> {
    const state = query.state ?? '';
    const request = state ? await this.options.store.takeConsentRequest(sha256(state), this.options.clock.now()) : null;
    if (!request || !binding || !timingSafeEqual(Buffer.from(request.bindingHash, 'hex'), Buffer.from(sha256(binding), 'hex'))) {
      throw new ConsentRefused('This sign-in has expired', 'This answer does not belong to a sign-in started in this browser in the last 15 minutes (or it was used already). Nothing was changed. Start again.');
    }
    if (query.error) {
      const declined = query.error === 'access_denied';
      throw new ConsentRefused(
        declined ? 'Nothing was connected' : 'The sign-in did not complete',
        declined ? 'You did not give calpush the permission, so nothing was connected and nothing will be written to your calendar.' : `Microsoft answered: ${query.error}${query.error_description ? ` — ${query.error_description.split(/\r?\n/)[0]}` : ''}. Nothing was changed.`,
        declined ? 200 : 400,
      );
    }
    if (!query.code) throw new ConsentRefused('The sign-in did not complete', 'Microsoft sent no authorization code back. Nothing was changed. Start again.');
    let signedIn;
    try {
      signedIn = await this.options.client.redeem({ code: query.code, redirectUri, codeVerifier: request.codeVerifier, state, nonce: request.nonce, calendarScopes: request.purpose === 'connect' });
    } catch (error) {
      throw new ConsentRefused('The sign-in did not complete', `${(error as Error).message}. Nothing was changed.`, 502);
    }
    if (request.purpose === 'disconnect') {
      const mine = (await this.options.store.connections()).filter((c) => c.state === 'connected' && (c.userObjectId === signedIn.objectId || signedIn.addresses.includes(c.calendar)));
      for (const connection of mine) await this.options.store.disconnect(connection.calendar, 'DisconnectedByPerson', `disconnected by ${signedIn.username} on the consent page`);
      return { kind: 'disconnected', calendars: mine.map((c) => c.calendar), username: signedIn.username };
    }
    const calendar = await this.choose(request.calendar ?? (await this.connectedAs(signedIn.objectId, signedIn.addresses)), signedIn.addresses, signedIn.username);
    const now = new Date(this.options.clock.now()).toISOString();
    const already = await this.options.store.saveConnection(
      { calendar, userObjectId: signedIn.objectId, homeAccountId: signedIn.homeAccountId, username: signedIn.username, state: 'connected', reason: null, reasonMessage: null, connectedAt: now, changedAt: now, lastRefreshAt: null },
      signedIn.tokenCache,
    );
    if (already) throw alreadyConnected(already.calendar, calendar, signedIn.username);
    this.options.onConnected?.(calendar);
    return { kind: 'connected', calendar, username: signedIn.username, others: signedIn.addresses.filter((a) => a !== calendar) };
  }

  /** The address this person has connected already, if any: a sign-in that names none reconnects that one. */
  private async connectedAs(objectId: string, addresses: string[]): Promise<string | null> {
    const mine = (await this.options.store.connections()).find((c) => c.state === 'connected' && c.userObjectId === objectId && addresses.includes(c.calendar));
    return mine?.calendar ?? null;
  }

  /**
   * The calendar to connect: the one asked for, when it is one of the person's addresses; else the one of their
   * addresses calpush knows (the sources name people by one address, not always the UPN); else their sign-in name.
   */
  private async choose(asked: string | null, addresses: string[], username: string): Promise<string> {
    const allowed = (calendar: string) => !this.options.mailboxes || this.options.mailboxes.has(calendar);
    if (asked) {
      if (!addresses.includes(asked)) {
        throw new ConsentRefused('Not your calendar', `You signed in as ${username}, and ${asked} is not one of your addresses. You can connect only your own calendar: sign in with the account of ${asked}, or start again without naming a calendar. Nothing was changed.`, 403);
      }
      if (!allowed(asked)) throw new ConsentRefused('Not a calendar calpush writes', `${asked} is not one of the calendars this calpush manages. Nothing was changed.`, 403);
      return asked;
    }
    const candidates = addresses.filter(allowed);
    for (const address of candidates) if (await this.options.knows(address)) return address;
    if (candidates.includes(username)) return username;
    if (candidates[0]) return candidates[0];
    throw new ConsentRefused('Not a calendar calpush writes', `None of your addresses (${addresses.join(', ')}) is among the calendars this calpush manages. Nothing was changed.`, 403);
  }
}
