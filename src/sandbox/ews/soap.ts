// SOAP 1.1 envelopes and faults as Exchange writes them.
import { esc, NS } from './xml.ts';

/** The Exchange versions the sandbox can stand in for (SandboxOptions.ews.serverVersion). */
export type EwsServerVersion = 'Exchange2010_SP2' | 'Exchange2013' | 'Exchange2016';

/**
 * ServerVersionInfo of each: Exchange answers with its build and the schema version it speaks
 * (https://learn.microsoft.com/exchange/client-developer/web-service-reference/serverversioninfo). Exchange 2016
 * CU23 (15.1.2507.6) speaks V2017_07_11; Exchange 2010 SP2 (14.2.247.5) Exchange2010_SP2; Exchange 2013 CU23
 * (15.0.1497.2) [VERIFY] the Version string it writes.
 */
export const SERVER_VERSIONS: Record<EwsServerVersion, { MajorVersion: number; MinorVersion: number; MajorBuildNumber: number; MinorBuildNumber: number; Version: string }> = {
  Exchange2010_SP2: { MajorVersion: 14, MinorVersion: 2, MajorBuildNumber: 247, MinorBuildNumber: 5, Version: 'Exchange2010_SP2' },
  Exchange2013: { MajorVersion: 15, MinorVersion: 0, MajorBuildNumber: 1497, MinorBuildNumber: 2, Version: 'Exchange2013_SP1' },
  Exchange2016: { MajorVersion: 15, MinorVersion: 1, MajorBuildNumber: 2507, MinorBuildNumber: 6, Version: 'V2017_07_11' },
};
export const SERVER_VERSION = SERVER_VERSIONS.Exchange2016;

function serverVersionInfo(version: EwsServerVersion): string {
  const v = SERVER_VERSIONS[version];
  return `<h:ServerVersionInfo MajorVersion="${v.MajorVersion}" MinorVersion="${v.MinorVersion}" MajorBuildNumber="${v.MajorBuildNumber}" MinorBuildNumber="${v.MinorBuildNumber}" Version="${v.Version}" xmlns:h="${NS.t}" xmlns="${NS.t}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`;
}

/**
 * A response envelope: ServerVersionInfo in the header, the operation's response element in the body
 * (shape of the responses in https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item).
 */
export function envelope(bodyXml: string, version: EwsServerVersion = 'Exchange2016'): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<s:Envelope xmlns:s="${NS.soap}">` +
    `<s:Header>${serverVersionInfo(version)}</s:Header>` +
    `<s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">${bodyXml}</s:Body>` +
    `</s:Envelope>`
  );
}

export interface SoapFault {
  /** the EWS response code, e.g. ErrorSchemaValidation; the faultcode is "a:<code>" in the types namespace */
  code: string;
  /** faultstring */
  faultString: string;
  /** e:Message in the detail (defaults to the faultstring) */
  message?: string;
  /** t:MessageXml children, already serialized with the t: prefix */
  messageXml?: string;
  /** SOAP 1.1 "Client" faults carry faultcode s:Client (used for malformed envelopes) */
  clientFault?: boolean;
}

/**
 * A SOAP fault with Exchange's detail (e:ResponseCode, e:Message, t:MessageXml), sent with HTTP 500. Shape from
 * https://learn.microsoft.com/exchange/client-developer/web-service-reference/getserviceconfiguration-operation
 * (ErrorSchemaValidation) and the ErrorServerBusy fault in protocol notes B2 (https://github.com/mguessan/davmail/issues/161).
 */
export function faultEnvelope(fault: SoapFault): string {
  const faultcode = fault.clientFault ? `<faultcode>s:Client</faultcode>` : `<faultcode xmlns:a="${NS.t}">a:${esc(fault.code)}</faultcode>`;
  const messageXml = fault.messageXml ? `<t:MessageXml xmlns:t="${NS.t}">${fault.messageXml}</t:MessageXml>` : '';
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<s:Envelope xmlns:s="${NS.soap}"><s:Body><s:Fault>` +
    faultcode +
    `<faultstring xml:lang="en-US">${esc(fault.faultString)}</faultstring>` +
    `<detail>` +
    `<e:ResponseCode xmlns:e="${NS.e}">${esc(fault.code)}</e:ResponseCode>` +
    `<e:Message xmlns:e="${NS.e}">${esc(fault.message ?? fault.faultString)}</e:Message>` +
    messageXml +
    `</detail>` +
    `</s:Fault></s:Body></s:Envelope>`
  );
}

/** Thrown while handling a request to answer with a SOAP fault (HTTP 500) instead of response messages. */
export class EwsFault extends Error {
  readonly fault: SoapFault;
  constructor(fault: SoapFault) {
    super(fault.faultString);
    this.fault = fault;
  }
}

/** Thrown while handling a request to answer with a plain HTTP status instead of SOAP (e.g. IIS's 503). */
export class EwsHttpAnswer extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  constructor(status: number, body: string, headers: Record<string, string> = {}) {
    super(`HTTP ${status}`);
    this.status = status;
    this.body = body;
    this.headers = headers;
  }
}

/** Thrown inside one item's processing: becomes that item's ResponseClass="Error" response message. */
export class EwsItemError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

/** Texts of the response codes used here, from https://learn.microsoft.com/exchange/client-developer/web-service-reference/responsecode
 * and the messages Exchange returns for them ([VERIFY] marks texts not seen in a Microsoft sample). */
export const MESSAGES = {
  ErrorAccessDenied: 'Access is denied. Check credentials and try again.',
  ErrorItemNotFound: 'The specified object was not found in the store.',
  ErrorFolderNotFound: 'The specified folder could not be found in the store.',
  ErrorNonExistentMailbox: 'The SMTP address has no mailbox associated with it.',
  ErrorImpersonateUserDenied: 'The account does not have permission to impersonate the requested user.',
  ErrorInvalidIdMalformed: 'Id is malformed.',
  ErrorInvalidChangeKey: 'The change key is invalid.',
  ErrorIrresolvableConflict: 'The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.',
  // [VERIFY] wording; the meaning is the responsecode page's: "the change key for an item is missing or stale".
  ErrorChangeKeyRequiredForWriteOperations: 'The change key is missing. For UpdateItem, the caller must pass in a correct and current change key for the item.',
  // [VERIFY] wording
  ErrorStaleObject: 'The change key passed in the request does not match the current change key for the item.',
  ErrorTimeoutExpired: 'The request timed out.',
  ErrorInvalidServerVersion: 'The specified server version is invalid.',
  ErrorInternalServerError: 'An internal server error occurred. The operation failed.',
  ErrorSendMeetingInvitationsRequired: 'The SendMeetingInvitations attribute is required for calendar items.',
  ErrorSendMeetingInvitationsOrCancellationsRequired: 'The SendMeetingInvitationsOrCancellations attribute is required for calendar items.',
  ErrorSendMeetingCancellationsRequired: 'The SendMeetingCancellations attribute is required for calendar items.',
  ErrorCalendarEndDateIsEarlierThanStartDate: 'EndDate is earlier than StartDate',
  ErrorServerBusy: 'The server cannot service this request right now. Try again later.',
  // [VERIFY] wording
  ErrorExceededConnectionCount: 'You have exceeded the available concurrent connections for your account.  Try again once your other requests have completed.',
  ErrorMissingEmailAddress: 'When making a request as an account that does not have a mailbox, you must specify the mailbox primary SMTP address for any distinguished folders.',
  ErrorSchemaValidation: 'The request failed schema validation.',
  ErrorInvalidRestriction: 'Restrictions and sort order may not be specified for a CalendarView.',
} as const;
