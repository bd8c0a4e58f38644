// EWS answers → how far a failure reaches (TargetError scope) and what the administrator should do about it.
//
// Response codes: https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode
// Throttling: https://learn.microsoft.com/exchange/client-developer/exchange-web-services/ews-throttling-in-exchange
import { retryAfterMs } from '../http.ts';
import { TargetError } from '../target.ts';
import type { AccessMode } from './requests.ts';
import { backOffMs } from './responses.ts';

const TRANSIENT = new Set([
  'ErrorServerBusy',
  'ErrorExceededConnectionCount',
  'ErrorTimeoutExpired',
  'ErrorInternalServerTransientError',
  'ErrorMailboxStoreUnavailable',
  'ErrorMailboxMoveInProgress',
  'ErrorConnectionFailed',
  'ErrorADUnavailable',
  'ErrorServiceUnavailable',
  'ErrorTooManyObjectsOpened',
  'ErrorBatchProcessingStopped',
  'ErrorInternalServerError',
  'ErrorRpcFailed',
]);

/** A stale or missing ChangeKey: re-read the item's current ChangeKey and send the update once more. */
export const CHANGE_KEY_CODES = new Set([
  'ErrorIrresolvableConflict',
  'ErrorInvalidChangeKey',
  'ErrorStaleObject',
  'ErrorChangeKeyRequired',
  'ErrorChangeKeyRequiredForWriteOperations',
]);

const NO_MAILBOX = new Set(['ErrorNonExistentMailbox', 'ErrorMailRecipientNotFound', 'ErrorInvalidSmtpAddress', 'ErrorMailboxLogonFailed', 'ErrorInvalidMailbox', 'ErrorAccountDisabled']);

export interface ErrorContext {
  access: AccessMode;
  /** How the account authenticates: the fix for a 401 depends on it. */
  auth?: 'ntlm' | 'basic' | 'oauth';
  /** The service account (or app) the request was sent as: named in remedies, never its secret. */
  account: string;
  mailbox: string;
  /** What the request was about: a 'gone' answer only means something for one item. */
  operation: 'list' | 'create' | 'update' | 'delete' | 'get';
}

function accessRemedy(context: ErrorContext): string {
  if (context.access === 'delegate') {
    return (
      `give the service accounts delegate rights on the calendar: Add-MailboxFolderPermission -Identity "${context.mailbox}:\\Calendar" ` +
      `-User "<security group of the calpush service accounts>" -AccessRights Editor (grant the group rather than ${context.account} alone: ` +
      'mailboxes move between the accounts of the pool when accounts are added or removed)'
    );
  }
  return (
    `let ${context.account} impersonate the mailbox: New-ManagementRoleAssignment -Name calpush-impersonation -Role ApplicationImpersonation ` +
    `-User "${context.account}" -CustomRecipientWriteScope <scope>, where the scope (New-ManagementScope -RecipientRestrictionFilter …) ` +
    `includes ${context.mailbox}; check with Get-ManagementRoleAssignment -Role ApplicationImpersonation`
  );
}

/**
 * One EWS response code (a response message's, or a SOAP fault's) as a TargetError.
 * `values` are MessageXml's named values (BackOffMilliseconds, Violation, …).
 */
export function classifyResponseCode(code: string, message: string, values: Record<string, string>, context: ErrorContext, status?: number): TargetError {
  const text = `${code}: ${message || code}`;
  const base = status === undefined ? {} : { status };
  if (code === 'ErrorServerBusy') {
    // The account's budget is spent: the scheduler pauses the account's lane — every mailbox it serves — for the
    // BackOffMilliseconds named (or its own default when none is), and halves the account's concurrency.
    const backOff = backOffMs(values);
    return new TargetError('transient', code, `${text} (service account ${context.account})`, {
      ...base,
      throttles: 'account',
      ...(backOff !== undefined ? { retryAfterMs: backOff } : {}),
      remedy: 'Exchange throttles this service account: calpush waits the BackOffMilliseconds it names. Add service accounts to the pool (delegate mode), or raise the EWS budgets of its throttling policy (Set-ThrottlingPolicy)',
    });
  }
  if (TRANSIENT.has(code)) return new TargetError('transient', code, text, base);
  if (code === 'ErrorItemNotFound' && (context.operation === 'update' || context.operation === 'delete' || context.operation === 'get')) {
    return new TargetError('gone', code, text, base);
  }
  if (code === 'ErrorAccessDenied' || code === 'ErrorImpersonateUserDenied' || code === 'ErrorImpersonationFailed' || code === 'ErrorFolderNotFound' || code === 'ErrorNotDelegate') {
    // Delegate mode without folder rights answers ErrorAccessDenied (or, on some versions, ErrorFolderNotFound for
    // the other mailbox's calendar); impersonation outside the role's scope answers ErrorImpersonateUserDenied.
    return new TargetError('mailbox', code, `${text} (${context.access} access to ${context.mailbox} as ${context.account})`, { ...base, remedy: accessRemedy(context) });
  }
  if (NO_MAILBOX.has(code)) {
    return new TargetError('mailbox', code, text, { ...base, remedy: `no usable mailbox for ${context.mailbox}: check the address in the input (the primary SMTP address of a user, room or equipment mailbox on this Exchange organisation)` });
  }
  if (code === 'ErrorCannotDeleteObject' && context.operation === 'delete') {
    return new TargetError('item', code, text, {
      ...base,
      remedy: 'a delegate cannot delete with DeleteType MoveToDeletedItems: set target.deleteType to HardDelete or SoftDelete',
    });
  }
  if (code === 'ErrorInvalidServerVersion' || code === 'ErrorInvalidRequestServerVersion' || code === 'ErrorIncorrectSchemaVersion') {
    return new TargetError('fatal', code, text, { ...base, remedy: 'set target.serverVersion to the version of the Exchange server (Exchange2010_SP2, Exchange2013, Exchange2013_SP1 or Exchange2016)' });
  }
  if (code === 'ErrorSchemaValidation' || code === 'ErrorInvalidRequest') {
    // calpush's requests are checked against the schema in its tests: this is a bug, reported per item.
    const where = values['Violation'] ? ` (${values['Violation']}${values['LineNumber'] ? ` at line ${values['LineNumber']}:${values['LinePosition'] ?? '?'}` : ''})` : '';
    return new TargetError('item', code, `${text}${where}`, { ...base, remedy: 'Exchange refused the request as malformed: this is a calpush bug, please report it with this message' });
  }
  return new TargetError('item', code, text, base);
}

/** HTTP answers that are not a SOAP answer at all. */
export function classifyHttpStatus(status: number, headers: Record<string, string>, context: ErrorContext, url: string): TargetError {
  const retryAfter = retryAfterMs(headers['retry-after']);
  const base = { status, ...(retryAfter !== undefined ? { retryAfterMs: retryAfter } : {}) };
  if (status === 401 && context.auth === 'oauth') {
    return new TargetError('fatal', 'HTTP401', `Exchange refused the access token of ${context.account} (HTTP 401, a freshly fetched one too)`, {
      ...base,
      remedy:
        'Exchange Online: the app needs the application permission full_access_as_app of Office 365 Exchange Online with admin consent, and target.oauth.scope ' +
        'must be https://outlook.office365.com/.default; a token file (target.oauth.token) must be renewed by whatever writes it before the token expires',
    });
  }
  if (status === 401) {
    return new TargetError('fatal', 'HTTP401', `Exchange refused the credentials of ${context.account} (HTTP 401)`, {
      ...base,
      remedy:
        `wrong password, account locked or disabled, or the authentication method is not enabled on the EWS virtual directory: check ${context.account}'s password in the referenced secret, ` +
        'unlock it (Unlock-ADAccount), and compare target.auth with Get-WebServicesVirtualDirectory | fl *Authentication*',
    });
  }
  if (status === 403) {
    return new TargetError('fatal', 'HTTP403', `Exchange forbids EWS for ${context.account} (HTTP 403)`, {
      ...base,
      remedy: `EWS may be disabled for the account or by an access policy: Get-CASMailbox ${context.account} | fl Ews*; Set-CASMailbox -EwsEnabled $true, and check Get-OrganizationConfig | fl Ews*`,
    });
  }
  if (status === 404 || status === 405) {
    return new TargetError('fatal', `HTTP${status}`, `no EWS endpoint at ${url} (HTTP ${status})`, { ...base, remedy: 'target.url must be the EWS endpoint, like https://mail.example.edu/EWS/Exchange.asmx' });
  }
  if (status >= 300 && status < 400) {
    return new TargetError('fatal', `HTTP${status}`, `EWS answered with a redirect (HTTP ${status}${headers['location'] ? ` to ${new URL(headers['location'], url).host}` : ''})`, {
      ...base,
      remedy: 'target.url must be the EWS endpoint itself (https://<server>/EWS/Exchange.asmx), not a web page or a load balancer address that redirects',
    });
  }
  if (status === 503 || status === 429) {
    // 503: "EWS requests are queuing with IIS" (ews-throttling-in-exchange, "Throttling related error codes"): the
    // account sends too much at once, like ErrorServerBusy; 429 is how Exchange Online says the same.
    return new TargetError('transient', `HTTP${status}`, `EWS answered HTTP ${status} (service account ${context.account})`, { ...base, throttles: 'account' });
  }
  if (status === 502 || status === 504 || status === 500) {
    return new TargetError('transient', `HTTP${status}`, `EWS answered HTTP ${status}`, base);
  }
  return new TargetError('item', `HTTP${status}`, `EWS answered HTTP ${status}`, base);
}

