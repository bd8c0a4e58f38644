// Public types of the sandbox: a local HTTPS stand-in for Microsoft Entra ID (token endpoint) and the Microsoft
// Graph calendar API. Other engineers' tests import these through src/sandbox/index.ts.

export interface SandboxOptions {
  /** default 127.0.0.1 */
  host?: string;
  /** default 0 = a random free port */
  port?: number;
  /** default: defaultTenantSeed() */
  tenant?: TenantSeed;
  /** default: a self-signed certificate for localhost/127.0.0.1/::1 (node-forge, RSA 2048, SHA-256) */
  tls?: { certPem: string; keyPem: string };
  /** default: Microsoft's Outlook limits ON (4 concurrent, 10,000 per 10 minutes per app and mailbox) */
  throttling?: Partial<ThrottlingOptions>;
  /** default: zero */
  latency?: Partial<LatencyOptions>;
  /** optional request log, one line per HTTP request; never contains secrets or tokens */
  logger?: (line: string) => void;
  /**
   * Extension (not in the original brief): the demo app's certificate and private key to register instead of
   * generating a fresh pair, so `calpush sandbox` keeps the same demo credentials across restarts.
   */
  demoAppCertificate?: { certPem: string; keyPem: string };
  /** EWS at /EWS/Exchange.asmx (src/sandbox/ews): throttling, schema validation, the Exchange version and its answers */
  ews?: { throttling?: Partial<EwsThrottlingOptions>; schemaValidation?: boolean } & Partial<EwsBehaviour>;
  /**
   * Called with every answer the sandbox writes for Graph (/v1.0) and EWS, after it is sent: for tests that hold the
   * stand-in to Microsoft's schema (test/sandbox/responses.test.ts). Never given request bodies or tokens.
   */
  onResponse?: (response: { service: 'graph' | 'ews'; status: number; body: string }) => void;
  /**
   * What "now" is for the sandbox's stores, meetings (booking windows, response times) and subscriptions (expiry);
   * default the machine's clock. Tests pass fixedClock (src/model/clock.ts). Token lifetimes keep the machine's clock.
   */
  clock?: { now(): number };
  /** meetings' behaviour where Microsoft's documents leave room (src/sandbox/meetings.ts) */
  meetings?: Partial<MeetingsBehaviour>;
  /** the webhook client of change notifications: extra CAs it trusts besides the sandbox's own certificate */
  webhooks?: { ca?: string[] };
}

export interface MeetingsBehaviour {
  /**
   * false (default, what Microsoft documents): with AutomateProcessing None no Calendar Attendant places a request on
   * the calendar; it waits in the inbox until answered (EWS AcceptItem on the request). true: it is placed tentatively
   * anyway, as the Graph eventMessage page describes for invitees in general ([VERIFY] on a real tenant).
   */
  tentativeWhenProcessingNone: boolean;
}

export interface ThrottlingOptions {
  enabled: boolean;
  /** 4 */
  mailboxConcurrency: number;
  /** 10000 */
  requestsPerWindow: number;
  /** 600000 */
  windowMs: number;
}

/**
 * Each HTTP request waits roundTripMs; each Graph operation (incl. each $batch item) takes perRequestMs of server
 * time while holding its concurrency slot.
 */
export interface LatencyOptions {
  roundTripMs: number;
  perRequestMs: number;
  /** EWS only: server time per item of an EWS request (each CalendarItem / ItemId / ItemChange / returned item), default 0 */
  perItemMs?: number;
}

export interface TenantSeed {
  tenantId: string;
  /** e.g. "contoso.edu" */
  domain: string;
  apps: AppSeed[];
  mailboxes: MailboxSeed[];
  /** pre-existing events calpush did not create (Graph JSON shape) */
  events?: Array<{ mailbox: string; event: Record<string, unknown> }>;
  /** EWS service accounts (on-premises AD accounts) */
  ewsAccounts?: EwsAccountSeed[];
  /** room lists (distribution groups of rooms) for GetRoomLists/GetRooms and for scoping EWS accounts */
  roomLists?: RoomListSeed[];
  /** Mail-enabled (distribution) groups: the resource agent's allowed organisers by group. */
  groups?: GroupSeed[];
}

export interface EwsAccountSeed {
  /** "DOMAIN\\user" or a UPN "user@domain"; the account logs in as DOMAIN\\user, as the UPN or as the bare user name */
  username: string;
  password: string;
  /** calendar folder permission (Editor) on these mailboxes, e.g. granted to a security group the account is in;
   * entries may name a room list (= its members); 'all' = every mailbox */
  delegateOf?: string[] | 'all';
  /** ApplicationImpersonation limited by a management scope to these mailboxes / room lists; 'all' = no scope */
  impersonationScope?: string[] | 'all';
}

export interface GroupSeed {
  address: string;
  displayName: string;
  /** users' addresses, and other groups' addresses (nested groups) */
  members: string[];
}

export interface RoomListSeed {
  address: string;
  displayName: string;
  /** room (or equipment) mailbox addresses */
  members: string[];
}

export interface EwsThrottlingOptions {
  enabled: boolean;
  /** EWSMaxConcurrency: requests in flight per budget (27 on Exchange 2013+) */
  maxConcurrency: number;
  /** rate budget: items (min. 1 per request) a budget may spend per window before ErrorServerBusy */
  budgetItems: number;
  budgetWindowMs: number;
  /**
   * how a request over budget is answered — the three forms of "EWS throttling in Exchange": `fault` (HTTP 500,
   * ErrorServerBusy with BackOffMilliseconds; the default), `http503` (IIS queueing: HTTP 503, no SOAP) or
   * `innerError` (HTTP 200, every item ErrorInternalServerError with an inner ErrorServerBusy)
   */
  form: 'fault' | 'http503' | 'innerError';
  /** the budget is checked after each item of a batch and later items wait for it (default true); false charges a request's items up front */
  perItem: boolean;
  /** EWS "limits the execution time of a batch request to one minute": items still waiting then are not done (default 60000) */
  batchTimeLimitMs: number;
  /** a batch cut off by the time limit: `items` answers the rest ErrorTimeoutExpired (default); `fault` answers the whole request with a SOAP fault although the first items were done */
  overrun: 'items' | 'fault';
}

/** Where Exchange versions and deployments answer differently, what the sandbox does (SandboxOptions.ews). */
export interface EwsBehaviour {
  /** the Exchange the sandbox stands in for (default Exchange2016): ServerVersionInfo, the RequestServerVersions it takes, FindItem page caps, the values its schema knows */
  serverVersion: 'Exchange2010_SP2' | 'Exchange2013' | 'Exchange2016';
  /** what a delegate without folder rights gets for the calendar (default ErrorAccessDenied); both are documented for this case */
  delegateDenied: 'ErrorAccessDenied' | 'ErrorFolderNotFound';
}

export interface EwsAccountStats {
  /** EWS requests that reached an operation (after authentication and schema validation) */
  requests: number;
  /** items handled (CalendarItems created, ItemIds read/deleted, ItemChanges, items returned by FindItem) */
  items: number;
  /** ErrorServerBusy faults */
  busy: number;
  /** ErrorExceededConnectionCount faults */
  overConcurrency: number;
  maxConcurrent: number;
  /** requests without an X-AnchorMailbox header */
  anchorMailboxMissing: number;
  /** impersonated requests whose X-AnchorMailbox is not the impersonated mailbox */
  anchorMailboxMismatch: number;
  impersonated: number;
  byOperation: Record<string, number>;
  /** X-AnchorMailbox values seen (lower-cased), with counts */
  anchorMailboxes: Record<string, number>;
}

export interface EwsStats {
  /** HTTP requests to /EWS/Exchange.asmx, incl. 401 challenges */
  httpRequests: number;
  /** requests without a SOAPAction header, and with one that is not their operation's (Services.wsdl binding) */
  soapActionMissing: number;
  soapActionMismatch: number;
  /** 401 answers (challenges and failed logins) */
  unauthorized: number;
  /** ErrorSchemaValidation faults */
  schemaRejected: number;
  /** xmllint runs (each validates every request that was waiting) */
  schemaValidationRuns: number;
  /** successful logins by scheme */
  logins: { basic: number; ntlm: number };
  perAccount: Record<string, EwsAccountStats>;
}

export interface SandboxEws {
  /** `${url}/EWS/Exchange.asmx` */
  url: string;
  /** the EWS service accounts of the tenant (with passwords: sandbox only) */
  accounts: EwsAccountSeed[];
  /** false when xmllint is not installed: requests are then not schema-validated */
  schemaValidationAvailable: boolean;
  stats(): EwsStats;
  resetStats(): void;
  /** new throttling options; every budget starts afresh (its spending is forgotten) */
  setThrottling(o: Partial<EwsThrottlingOptions>): void;
  setSchemaValidation(on: boolean): void;
  /** the version / deployment behaviour (see EwsBehaviour) from now on */
  setBehaviour(o: Partial<EwsBehaviour>): void;
  /** grants (true) or withdraws (false) a service account's delegate rights on a mailbox's calendar, as Add/Remove-MailboxFolderPermission does */
  setDelegateRights(account: string, mailbox: string, granted: boolean): void;
  /** streaming notifications (Subscribe, GetStreamingEvents, Unsubscribe; src/sandbox/ews/streaming.ts) */
  streaming: SandboxEwsStreaming;
}

export interface SandboxEwsStreaming {
  stats(): { subscribes: number; unsubscribes: number; connections: number; open: number; subscriptions: number; notifications: number };
  /** shorter "minutes" (ConnectionTimeout, subscription lifetime) and heartbeats for tests; the connection limit per account */
  setTiming(o: Partial<{ minuteMs: number; heartbeatMs: number; lifetimeMinutes: number; hangingConnectionLimit: number }>): void;
  /** the server ends every open connection now (ConnectionStatus Closed) */
  closeConnections(): void;
  /** every subscription is forgotten and every connection dropped (a restarted EWS process): ErrorSubscriptionNotFound next */
  expireSubscriptions(): void;
  /** the next part written to a connection is not XML */
  garbleNext(): void;
  /** the next part written is an envelope of `bytes` bytes that never ends */
  floodNext(bytes: number): void;
}

export interface AppSeed {
  clientId: string;
  displayName: string;
  /** client secrets (only a hash is kept in memory) */
  secrets?: string[];
  /** PEM certificates registered on the app (key credentials) */
  certificates?: string[];
  /** application permissions granted with admin consent, e.g. ["Calendars.ReadWrite"] */
  roles: string[];
  /** RBAC for Applications / ApplicationAccessPolicy RestrictAccess: only these mailboxes */
  scope?: { kind: 'all' } | { kind: 'rbac' | 'applicationAccessPolicy'; mailboxes: string[] };
  /** Web redirect URIs for the authorization code flow (delegated access); a loopback one matches any port */
  redirectUris?: string[];
}

export interface MailboxSeed {
  address: string;
  displayName: string;
  kind: 'user' | 'room' | 'equipment';
  /** noMailbox → 404 ErrorInvalidUser ; restDisabled (unlicensed / on-premises / soft-deleted) → 404 MailboxNotEnabledForRESTAPI */
  state?: 'active' | 'noMailbox' | 'restDisabled';
  /**
   * Where the mailbox lives in an Exchange hybrid organisation. `onPremises`: EWS and Autodiscover answer for it,
   * Graph says 404 MailboxNotEnabledForRESTAPI. `online`: Graph answers; on-premises EWS says ErrorNonExistentMailbox
   * and Autodiscover RedirectAddress to its remote routing address (<alias>@<tenant>.mail.onmicrosoft.com). Absent:
   * both protocols answer (the stand-in serves each protocol for every mailbox, as before). Sandbox.moveMailbox
   * changes it; the mailbox's items stay, with their extended properties.
   */
  home?: 'online' | 'onPremises';
  /** more SMTP addresses of the mailbox (proxyAddresses "smtp:…"); the address itself is the user's UPN and primary one */
  aliases?: string[];
  /** Set-CalendarProcessing of a room or equipment mailbox (src/sandbox/meetings.ts); the rest take their defaults */
  calendarProcessing?: Partial<CalendarProcessing>;
  /** what Graph's places API and EWS GetRooms show of a room (src/sandbox/graph/places.ts) */
  room?: RoomDetails;
}

/**
 * Set-CalendarProcessing's settings the sandbox acts on, with Microsoft's defaults
 * (https://learn.microsoft.com/powershell/module/exchange/set-calendarprocessing). User mailboxes are always
 * AutoUpdate ("you can't change the value on a user mailbox"); resource mailboxes default to AutoAccept.
 */
export interface CalendarProcessing {
  /** None: neither the Calendar Attendant nor the Resource Booking Attendant; AutoUpdate: the Calendar Attendant only; AutoAccept: both */
  automateProcessing: 'None' | 'AutoUpdate' | 'AutoAccept';
  /** default false */
  allowConflicts: boolean;
  /** 0–1080, default 180; 0 = today only */
  bookingWindowInDays: number;
  /** default 1440; 0 = unlimited */
  maximumDurationInMinutes: number;
  /** default true */
  allowRecurringMeetings: boolean;
  /** the Calendar Attendant places new requests on the calendar as tentative (default true) */
  addNewRequestsTentatively: boolean;
  /** AutoAccept only, each default true: the organiser's name replaces the subject / the subject is removed / the body is removed */
  addOrganizerToSubject: boolean;
  deleteSubject: boolean;
  deleteComments: boolean;
  /** the Calendar Attendant deletes outdated requests of a meeting (default true) */
  removeOldMeetingMessages: boolean;
  /** the reason for accepting or declining goes into the response (default true) */
  enableResponseDetails: boolean;
  /** recorded, not acted on: they concern recurring series (which the sandbox keeps as single items) and working hours (Set-MailboxCalendarConfiguration, not modelled) */
  enforceSchedulingHorizon: boolean;
  scheduleOnlyDuringWorkHours: boolean;
  conflictPercentageAllowed: number;
  maximumConflictInstances: number;
}

/** A room's place properties (https://learn.microsoft.com/graph/api/resources/room). */
export interface RoomDetails {
  capacity?: number;
  building?: string;
  floorNumber?: number;
  floorLabel?: string;
  label?: string;
  tags?: string[];
  isWheelChairAccessible?: boolean;
  audioDeviceName?: string;
  videoDeviceName?: string;
  displayDeviceName?: string;
}

export interface SingleValueExtendedProperty {
  id: string;
  value: string;
}

/** An event as Graph returns it (start/end in UTC), plus the extended properties the sandbox keeps internally. */
export interface GraphStoredEvent {
  id: string;
  changeKey: string;
  createdDateTime: string;
  lastModifiedDateTime: string;
  subject: string;
  body: { contentType: string; content: string };
  start: { dateTime: string; timeZone: string };
  end: { dateTime: string; timeZone: string };
  isAllDay: boolean;
  location: Record<string, unknown>;
  categories: string[];
  showAs: string;
  sensitivity: string;
  isReminderOn: boolean;
  reminderMinutesBeforeStart: number;
  iCalUId: string;
  type: string;
  transactionId?: string;
  singleValueExtendedProperties?: SingleValueExtendedProperty[];
  [property: string]: unknown;
}

export interface MailboxStats {
  requests: number;
  writes: number;
  throttled: number;
  maxConcurrent: number;
}

export interface SandboxStats {
  /** Graph operations: every top-level Graph request except $batch envelopes, plus every $batch item */
  requests: number;
  /** POST/PATCH/DELETE on events that the server executed (not throttled, not faulted), incl. inside $batch */
  writes: number;
  /** Graph operations by HTTP method */
  byMethod: Record<string, number>;
  /** 429 answers (throttling and injected 429 faults), incl. inside $batch */
  throttled: number;
  /** POSTs to the token endpoint */
  tokenRequests: number;
  /** Graph requests answered 401 InvalidAuthenticationToken (no, expired, revoked or foreign token) */
  unauthorized: number;
  /** Extension: $batch envelopes received */
  batches: number;
  /**
   * Graph requests (top-level requests, $batch envelopes and $batch items) that came without a `client-request-id`
   * header, and without `return-client-request-id: true` (https://learn.microsoft.com/graph/best-practices-concept)
   */
  withoutClientRequestId: number;
  withoutReturnClientRequestId: number;
  perMailbox: Record<string, MailboxStats>;
}

export interface DemoCredentials {
  clientId: string;
  clientSecret: string;
  certificatePem: string;
  privateKeyPem: string;
  /** hex, upper case, as Entra ID shows it */
  thumbprintSha1: string;
  /** hex, upper case; what msal-node's clientCertificate.thumbprintSha256 takes */
  thumbprintSha256: string;
}

/** A meeting message in a mailbox's inbox, as Sandbox.listMessages shows it. */
export interface SandboxMessage {
  id: string;
  type: 'meetingRequest' | 'meetingCancelled' | 'meetingAccepted' | 'meetingTenativelyAccepted' | 'meetingDeclined';
  subject: string;
  body: string;
  from: string;
  to: string[];
  iCalUId: string;
  requestType?: 'newMeetingRequest' | 'fullUpdate' | 'informationalUpdate';
  response?: 'accepted' | 'tentativelyAccepted' | 'declined';
  isOutOfDate: boolean;
  isRead: boolean;
}

/** Acting as the person in Outlook: what people do to their calendars, for tests of drift and meetings. */
export interface OutlookUser {
  /** creates an event in the person's calendar; with attendees it is a meeting and its requests are sent */
  createEvent(event: Record<string, unknown>): GraphStoredEvent;
  /** edits an event (a Graph PATCH body): an organiser's meeting sends the update to its attendees */
  /** an occurrence's id: that occurrence's start and end only — it becomes an exception of its series */
  updateEvent(id: string, changes: Record<string, unknown>): GraphStoredEvent;
  /** deletes an event; deleting an organiser's meeting sends its cancellations */
  deleteEvent(id: string): void;
  /** answers a meeting in the person's calendar */
  respond(eventId: string, answer: 'accept' | 'tentativelyAccept' | 'decline', options?: { comment?: string; sendResponse?: boolean }): void;
  /** the organiser cancels a meeting, with a comment to the attendees */
  /** an occurrence's id cancels that occurrence only (attendees' copies mark it cancelled) */
  cancel(eventId: string, comment?: string): void;
}

export interface SandboxMeetings {
  /** a mailbox's calendar processing (Get-CalendarProcessing) */
  processing(mailbox: string): CalendarProcessing;
  /** Set-CalendarProcessing (resource mailboxes; a user mailbox's AutomateProcessing stays AutoUpdate) */
  setProcessing(mailbox: string, settings: Partial<CalendarProcessing>): void;
  setBehaviour(o: Partial<MeetingsBehaviour>): void;
}

export interface SandboxSubscriptions {
  /** the subscriptions that have not expired */
  list(): Array<{ id: string; resource: string; mailbox: string; changeType: string; notificationUrl: string; lifecycleNotificationUrl?: string; expirationDateTime: string }>;
  /** sends a lifecycle notification (subscriptionRemoved also removes the subscription) */
  lifecycle(id: string, event: 'reauthorizationRequired' | 'subscriptionRemoved' | 'missed'): void;
  /** waits for every notification sent so far to be answered */
  flush(): Promise<void>;
  stats(): { validations: number; validationFailures: number; notificationsSent: number; notificationsFailed: number; lifecycleSent: number };
}

export interface SandboxFaults {
  /** the next N event creates (optionally only for one mailbox; a Graph POST, a $batch item or an EWS CreateItem item) are committed but the connection is destroyed before the response is written — the "create's answer never arrived" case */
  dropResponseAfterCreate(n: number, mailbox?: string): void;
  /** the next N requests to a mailbox answer this status (e.g. 503 with Retry-After, 500) without doing anything */
  failNext(n: number, status: 429 | 500 | 503 | 504, opts?: { mailbox?: string; retryAfterSeconds?: number }): void;
  /**
   * every access token issued so far answers 401 InvalidAuthenticationToken "Lifetime validation failed, the token is
   * expired." — at once, or after `afterRequests` more Graph requests (top-level requests and $batch envelopes);
   * tokens issued afterwards work
   */
  expireTokens(opts?: { afterRequests?: number }): void;
  /** the same, answering "Access token validation failure." (a token invalidated before its time) */
  revokeTokens(opts?: { afterRequests?: number }): void;
  /**
   * the app loses its access to the mailbox (`revoked` false: gets it back): a request on one event answers 404
   * ErrorItemNotFound — Exchange's answer for an item the caller may not see — and the mailbox's event collections
   * answer 403 ErrorAccessDenied; nothing is changed
   */
  revokeMailbox(mailbox: string, revoked?: boolean): void;
  /**
   * every sync state issued so far is forgotten, as when Exchange drops old states: Graph delta tokens answer 410
   * SyncStateNotFound, EWS SyncStates ErrorInvalidSyncStateData; the client starts over
   */
  expireSyncStates(): void;
  clear(): void;
}

export interface Sandbox {
  /** https://127.0.0.1:PORT */
  url: string;
  /** `${url}/v1.0` */
  graphBaseUrl: string;
  /** `${url}/EWS/Exchange.asmx` */
  ewsUrl: string;
  /** EWS side: accounts, stats, throttling, schema validation */
  ews: SandboxEws;
  /** `${url}/${tenantId}` (what msal-node takes as authority) */
  authorityUrl: string;
  tenantId: string;
  /** the sandbox TLS certificate, to trust */
  caPem: string;
  demoCredentials: DemoCredentials;
  /** deep copies of stored events, incl. singleValueExtendedProperties and transactionId, in creation order */
  listEvents(mailbox: string): GraphStoredEvent[];
  /** seed a foreign event at runtime */
  addEvent(mailbox: string, event: Record<string, unknown>): GraphStoredEvent;
  /** `${url}/autodiscover/autodiscover.svc`: SOAP Autodiscover (GetUserSettings) of the on-premises side */
  autodiscoverUrl: string;
  /**
   * An Exchange hybrid mailbox move (New-MoveRequest -Remote): the mailbox now lives `to` (MailboxSeed.home); its
   * items and their named properties stay. Graph, EWS and Autodiscover answer accordingly from the next request.
   */
  moveMailbox(mailbox: string, to: 'online' | 'onPremises'): void;
  /** the meeting messages in a mailbox's inbox, newest first */
  listMessages(mailbox: string): SandboxMessage[];
  /** act as the person who owns the mailbox, as in Outlook */
  outlook(mailbox: string): OutlookUser;
  /** calendar processing and meeting behaviour */
  meetings: SandboxMeetings;
  /** Graph change-notification subscriptions */
  subscriptions: SandboxSubscriptions;
  stats(): SandboxStats;
  resetStats(): void;
  setThrottling(o: Partial<ThrottlingOptions>): void;
  setLatency(o: Partial<LatencyOptions>): void;
  faults: SandboxFaults;
  /** delegated access: the app people sign in to, the users' password, and the controls of consent and refresh tokens */
  delegated: SandboxDelegated;
  close(): Promise<void>;
}

/** The delegated side of the sandbox's Entra ID (src/sandbox/delegated.ts). */
export interface SandboxDelegated {
  /** the app registration for delegated access ("calpush delegated demo"): client id and secret */
  clientId: string;
  clientSecret: string;
  /** the password every user of the tenant signs in with (sandbox only) */
  userPassword: string;
  /** registers a Web redirect URI on an app (default: the delegated app) */
  addRedirectUri(uri: string, clientId?: string): void;
  /** the user removes the app's permissions (My Apps; or an admin deletes the grant): refresh → invalid_grant AADSTS65001, issued access tokens refused */
  revokeConsent(user: string, clientId?: string): void;
  /** revokeSignInSessions: refresh → invalid_grant AADSTS50173, issued access tokens refused */
  revokeSessions(user: string): void;
  /** the user's refresh tokens (everyone's when no user is named) become unused for 90 days: refresh → invalid_grant AADSTS700082 */
  expireRefreshTokens(user?: string): void;
  /** every refresh token handed out so far, in clear (tests that look for them where they must not be) */
  refreshTokensIssued(): string[];
  hasConsent(user: string, clientId?: string): boolean;
}
