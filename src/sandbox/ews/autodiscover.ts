// SOAP Autodiscover at /autodiscover/autodiscover.svc: GetUserSettings, as an on-premises Exchange in a hybrid
// organisation answers it (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getusersettings-operation-soap).
// Per user: NoError with the requested EWS URLs for a mailbox that lives on-premises; RedirectAddress with its remote
// routing address for one moved to Exchange Online (its on-premises object is a mail user whose targetAddress points
// there, https://learn.microsoft.com/exchange/hybrid-deployment/move-mailboxes); InvalidUser for an address the
// organisation does not know (https://learn.microsoft.com/exchange/client-developer/web-service-reference/errorcode-soap).
// The answer's shape follows the example response on the GetUserSettings page.
import { element, elements, esc, parseXml, textOf, XmlParseError, NS } from './xml.ts';

export const NS_AUTODISCOVER = 'http://schemas.microsoft.com/exchange/2010/Autodiscover';
const NS_ADDRESSING = 'http://www.w3.org/2005/08/addressing';
const NS_INSTANCE = 'http://www.w3.org/2001/XMLSchema-instance';
export const GET_USER_SETTINGS_ACTION = `${NS_AUTODISCOVER}/Autodiscover/GetUserSettings`;

/** What the organisation knows of an address. */
export type AutodiscoverUser = { kind: 'mailbox'; displayName: string } | { kind: 'mailUser'; targetAddress: string } | { kind: 'unknown' };

export interface AutodiscoverSetup {
  /** The EWS URL given as InternalEwsUrl and ExternalEwsUrl. */
  ewsUrl: string;
  user(address: string): AutodiscoverUser;
}

/** The remote routing address of a moved mailbox: <alias>@<tenant>.mail.onmicrosoft.com (the Hybrid wizard's coexistence domain). */
export function remoteRoutingAddress(address: string, domain: string): string {
  return `${address.split('@')[0]}@${domain.split('.')[0]}.mail.onmicrosoft.com`;
}

function setting(name: string, value: string): string {
  return `<UserSetting i:type="StringSetting"><Name>${esc(name)}</Name><Value>${esc(value)}</Value></UserSetting>`;
}

function userResponse(mailbox: string, requested: string[], setup: AutodiscoverSetup): string {
  const user = setup.user(mailbox);
  if (user.kind === 'unknown') {
    return `<UserResponse><ErrorCode>InvalidUser</ErrorCode><ErrorMessage>Invalid user: '${esc(mailbox)}'</ErrorMessage><RedirectTarget i:nil="true"/><UserSettingErrors/><UserSettings/></UserResponse>`;
  }
  if (user.kind === 'mailUser') {
    return `<UserResponse><ErrorCode>RedirectAddress</ErrorCode><ErrorMessage>Redirection address.</ErrorMessage><RedirectTarget>${esc(user.targetAddress)}</RedirectTarget><UserSettingErrors/><UserSettings/></UserResponse>`;
  }
  const known: Record<string, string> = { UserDisplayName: user.displayName, InternalEwsUrl: setup.ewsUrl, ExternalEwsUrl: setup.ewsUrl };
  const settings = requested.filter((name) => name in known).map((name) => setting(name, known[name]!));
  const errors = requested
    .filter((name) => !(name in known))
    .map((name) => `<UserSettingError><ErrorCode>SettingIsNotAvailable</ErrorCode><ErrorMessage>User setting '${esc(name)}' is not available.</ErrorMessage><SettingName>${esc(name)}</SettingName></UserSettingError>`);
  return `<UserResponse><ErrorCode>NoError</ErrorCode><ErrorMessage>No error.</ErrorMessage><RedirectTarget i:nil="true"/><UserSettingErrors>${errors.join('')}</UserSettingErrors><UserSettings>${settings.join('')}</UserSettings></UserResponse>`;
}

function envelope(body: string): string {
  return (
    `<?xml version="1.0" encoding="utf-8"?><s:Envelope xmlns:s="${NS.soap}" xmlns:a="${NS_ADDRESSING}"><s:Header>` +
    `<a:Action s:mustUnderstand="1">${GET_USER_SETTINGS_ACTION}Response</a:Action>` +
    `<h:ServerVersionInfo xmlns:h="${NS_AUTODISCOVER}" xmlns:i="${NS_INSTANCE}"><h:MajorVersion>15</h:MajorVersion><h:MinorVersion>1</h:MinorVersion>` +
    `<h:MajorBuildNumber>2507</h:MajorBuildNumber><h:MinorBuildNumber>6</h:MinorBuildNumber><h:Version>Exchange2015</h:Version></h:ServerVersionInfo>` +
    `</s:Header><s:Body><GetUserSettingsResponseMessage xmlns="${NS_AUTODISCOVER}"><Response xmlns:i="${NS_INSTANCE}">${body}</Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>`
  );
}

/** The answer to a GetUserSettings request body (HTTP 200 either way; a request it cannot read gets ErrorCode InvalidRequest). */
export function getUserSettingsAnswer(text: string, setup: AutodiscoverSetup): string {
  let request;
  try {
    request = element(element(element(parseXml(text), NS.soap, 'Body'), NS_AUTODISCOVER, 'GetUserSettingsRequestMessage'), NS_AUTODISCOVER, 'Request');
  } catch (error) {
    if (!(error instanceof XmlParseError)) throw error;
  }
  const users = elements(element(request, NS_AUTODISCOVER, 'Users'), NS_AUTODISCOVER, 'User').map((u) => textOf(element(u, NS_AUTODISCOVER, 'Mailbox')).trim());
  const requested = elements(element(request, NS_AUTODISCOVER, 'RequestedSettings'), NS_AUTODISCOVER, 'Setting').map((s) => textOf(s).trim());
  if (!request || !users.length || !requested.length) {
    return envelope('<ErrorCode>InvalidRequest</ErrorCode><ErrorMessage>The request is invalid.</ErrorMessage><UserResponses/>');
  }
  return envelope(`<ErrorCode>NoError</ErrorCode><ErrorMessage/><UserResponses>${users.map((u) => userResponse(u, requested, setup)).join('')}</UserResponses>`);
}
