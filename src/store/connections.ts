// What the store keeps for delegated access (a person connected their own calendar on calpush's consent page): the
// connection of each calendar, its token cache sealed (src/store/sealed.ts), and the sign-ins in progress.
// A narrow interface of its own, next to the Store's: the consent pages, the delegated Graph target's token source
// and the alerts use it, nothing else does.

/** connected: calpush holds a refresh token; disconnected: it holds none (revoked, expired, or disconnected). */
export type ConnectionState = 'connected' | 'disconnected';

export interface ConnectionRow {
  /** The calendar calpush writes, as the sources name it (lower case). */
  calendar: string;
  /** The Entra ID object id (oid) of the person who connected it: a reconnect must be by the same person. */
  userObjectId: string;
  /** msal's key of the account in the token cache (`<oid>.<tenant id>`). */
  homeAccountId: string;
  /** The sign-in name (preferred_username) at the last connect. */
  username: string;
  state: ConnectionState;
  /**
   * Why it is disconnected: `ConsentRevoked`, `SessionRevoked`, `RefreshTokenExpired`, `InvalidGrant` (Entra ID's
   * invalid_grant answers), `DisconnectedByPerson`, `DisconnectedByAdmin`; null while connected.
   */
  reason: string | null;
  reasonMessage: string | null;
  connectedAt: string;
  /** When the state last changed. */
  changedAt: string;
  /** When the refresh token was last used (and replaced). */
  lastRefreshAt: string | null;
}

/** A sign-in started on the consent page, until its callback (single use, short-lived). */
export interface ConsentRequestRow {
  /** SHA-256 (hex) of the OAuth `state` sent to Entra ID: the state itself is not kept. */
  id: string;
  /** SHA-256 (hex) of the browser binding cookie set when the sign-in started (RFC 6749 §10.12). */
  bindingHash: string;
  purpose: 'connect' | 'disconnect';
  /** The calendar the person asked to connect, if they named one (the reconnect link names it). */
  calendar: string | null;
  /** The PKCE code verifier (RFC 7636): sealed in the store. */
  codeVerifier: string;
  nonce: string;
  expiresAtMs: number;
}

export interface ConnectionStore {
  connection(calendar: string): Promise<ConnectionRow | null>;
  connections(): Promise<ConnectionRow[]>;
  /**
   * Records a connection with its token cache (msal's serialized cache, sealed before it is written) and returns
   * null — unless the same person (userObjectId) has another calendar connected: then nothing is written and that
   * connection is returned. Both calendars would be written at /me, one mailbox, and each calendar's delivery would
   * delete the other's tagged events (their keys are not in its desired state). When the calendar was connected by
   * another person before (an address given to someone new), what was delivered to the old mailbox is forgotten in
   * the same transaction — delivered rows, pending operations — and the inventory invalidated, so the new mailbox is
   * listed and its tagged events adopted (as MailboxTargets.assignTarget does for a mailbox move).
   */
  saveConnection(row: ConnectionRow, tokenCache: string): Promise<ConnectionRow | null>;
  /** The token cache of a connected calendar, opened; null when there is none. */
  connectionTokenCache(calendar: string): Promise<string | null>;
  /** Replaces the token cache after a refresh (rotated refresh token), if the calendar is still connected. */
  saveConnectionTokenCache(calendar: string, tokenCache: string): Promise<boolean>;
  /**
   * Marks the calendar disconnected and drops its token cache (nothing else: desired and delivered state stay).
   * false when it was not connected.
   */
  disconnect(calendar: string, reason: string, message: string): Promise<boolean>;

  saveConsentRequest(request: ConsentRequestRow): Promise<void>;
  /** Takes the request out (single use); null when unknown or expired. Expired requests are removed as well. */
  takeConsentRequest(id: string, nowMs: number): Promise<ConsentRequestRow | null>;
}

/** Re-wraps every sealed value of the store under the current encryption key (`calpush store rotate-key`). */
export interface SealedSecrets {
  rotateEncryptionKey(): Promise<{ rewrapped: number; current: number; keyId: string }>;
}
