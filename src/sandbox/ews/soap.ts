// SOAP 1.1 envelopes and faults as Exchange writes them.
import { esc, NS } from './xml.ts';

/**
 * Exchange Server 2016 CU23 (15.1.2507.6). Exchange answers with the schema version it speaks, here V2017_07_11
 * (https://learn.microsoft.com/exchange/client-developer/web-service-reference/serverversioninfo).
 */
export const SERVER_VERSION = { MajorVersion: 15, MinorVersion: 1, MajorBuildNumber: 2507, MinorBuildNumber: 6, Version: 'V2017_07_11' } as const;

function serverVersionInfo(): string {
  const v = SERVER_VERSION;
  return `<h:ServerVersionInfo MajorVersion="${v.MajorVersion}" MinorVersion="${v.MinorVersion}" MajorBuildNumber="${v.MajorBuildNumber}" MinorBuildNumber="${v.MinorBuildNumber}" Version="${v.Version}" xmlns:h="${NS.t}" xmlns="${NS.t}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>`;
}

/**
 * A response envelope: ServerVersionInfo in the header, the operation's response element in the body
 * (shape of the responses in https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item).
 */
export function envelope(bodyXml: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<s:Envelope xmlns:s="${NS.soap}">` +
    `<s:Header>${serverVersionInfo()}</s:Header>` +
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
  // [VERIFY] wording
  ErrorChangeKeyRequiredForWriteOperations: 'When making a write request with ConflictResolution set to NeverOverwrite, a change key is required.',
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
