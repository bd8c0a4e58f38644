// Where a mailbox lives, as on-premises Exchange's SOAP Autodiscover answers (Exchange hybrid routing).
//
// GetUserSettings (https://learn.microsoft.com/exchange/client-developer/web-service-reference/getusersettings-operation-soap)
// asks for one user's EWS URLs. Each user's answer carries an ErrorCode
// (https://learn.microsoft.com/exchange/client-developer/web-service-reference/errorcode-soap):
// - NoError with the settings: the on-premises organisation holds the mailbox;
// - RedirectAddress with a RedirectTarget (https://learn.microsoft.com/exchange/client-developer/web-service-reference/redirecttarget-soap):
//   "the caller must follow the e-mail address redirection". An on-premises object answers so when it is a mail user
//   whose targetAddress points elsewhere — which is what a mailbox moved to Exchange Online leaves behind (its
//   remote routing address, <alias>@<tenant>.mail.onmicrosoft.com: https://learn.microsoft.com/exchange/hybrid-deployment/move-mailboxes,
//   "Target delivery domain"). calpush does not follow it (that would be Exchange Online's Autodiscover): the
//   mailbox is not on-premises;
// - InvalidUser: the on-premises organisation does not know the address;
// - RedirectUrl: ask another Autodiscover server; followed only to the same host (credentials go nowhere else);
// - ServerBusy, InternalServerError: try again later.
import { TargetError, type MailboxLocation } from '../target.ts';
import type { AccountConnection } from './transport.ts';
import { child, children, el, parseXml, path, serialize, text } from './xml.ts';

const NS_AUTODISCOVER = 'http://schemas.microsoft.com/exchange/2010/Autodiscover';
const NS_ADDRESSING = 'http://www.w3.org/2005/08/addressing';
const NS_SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';
const ACTION = `${NS_AUTODISCOVER}/Autodiscover/GetUserSettings`;
/** How many RedirectUrl hops to the same host are followed. */
const MAX_HOPS = 3;

/** The SOAP Autodiscover endpoint next to an EWS URL: https://<host>/autodiscover/autodiscover.svc. */
export function defaultAutodiscoverUrl(ewsUrl: string): string {
  return new URL('/autodiscover/autodiscover.svc', ewsUrl).toString();
}

/** The GetUserSettings request for one mailbox, asking for its EWS URLs. */
export function getUserSettingsRequest(url: string, mailbox: string): string {
  const envelope = el(
    'soap:Envelope',
    { 'xmlns:soap': NS_SOAP, 'xmlns:a': NS_AUTODISCOVER, 'xmlns:wsa': NS_ADDRESSING },
    el('soap:Header', {}, el('a:RequestedServerVersion', {}, 'Exchange2010'), el('wsa:Action', {}, ACTION), el('wsa:To', {}, url)),
    el(
      'soap:Body',
      {},
      el(
        'a:GetUserSettingsRequestMessage',
        {},
        el(
          'a:Request',
          {},
          el('a:Users', {}, el('a:User', {}, el('a:Mailbox', {}, mailbox))),
          el('a:RequestedSettings', {}, el('a:Setting', {}, 'ExternalEwsUrl'), el('a:Setting', {}, 'InternalEwsUrl')),
        ),
      ),
    ),
  );
  return `<?xml version="1.0" encoding="utf-8"?>${serialize(envelope)}`;
}

/** One user's answer: its ErrorCode, RedirectTarget and settings by name. */
export interface UserSettingsAnswer {
  errorCode: string;
  errorMessage: string;
  redirectTarget: string;
  settings: Record<string, string>;
}

/** The first user's answer of a GetUserSettings response, or a TargetError for an answer that is not one. */
export function parseUserSettings(body: string): UserSettingsAnswer {
  const response = path(parseXml(body), 'Envelope', 'Body', 'GetUserSettingsResponseMessage', 'Response');
  if (!response) throw new TargetError('transient', 'AutodiscoverUnreadable', 'Autodiscover answered something that is not a GetUserSettings response');
  const outer = text(child(response, 'ErrorCode')) || 'NoError';
  const user = path(response, 'UserResponses', 'UserResponse');
  if (outer !== 'NoError' || !user) {
    return { errorCode: outer === 'NoError' ? 'InvalidRequest' : outer, errorMessage: text(child(response, 'ErrorMessage')), redirectTarget: '', settings: {} };
  }
  const settings: Record<string, string> = {};
  for (const setting of children(child(user, 'UserSettings'), 'UserSetting')) settings[text(child(setting, 'Name'))] = text(child(setting, 'Value'));
  return { errorCode: text(child(user, 'ErrorCode')) || 'NoError', errorMessage: text(child(user, 'ErrorMessage')), redirectTarget: text(child(user, 'RedirectTarget')), settings };
}

/** What the answer says about where the mailbox lives; null for RedirectUrl (ask `redirectTarget` instead). */
export function locationOf(answer: UserSettingsAnswer, mailbox: string): MailboxLocation | null {
  switch (answer.errorCode) {
    case 'NoError': {
      const ews = answer.settings['ExternalEwsUrl'] || answer.settings['InternalEwsUrl'];
      return { found: 'here', answer: `on-premises Autodiscover answered with ${mailbox}'s settings${ews ? ` (EWS at ${new URL(ews).host})` : ''}: the mailbox is on-premises` };
    }
    case 'RedirectAddress':
      // Kept short: the answer is stored and shown, and the server wrote it.
      return { found: 'elsewhere', answer: `on-premises Autodiscover answered RedirectAddress → ${answer.redirectTarget.slice(0, 320) || '(no address)'}: the mailbox is not on-premises (moved to Exchange Online)` };
    case 'InvalidUser':
      return { found: 'nowhere', answer: `on-premises Autodiscover answered InvalidUser: the on-premises organisation has no mailbox ${mailbox}` };
    case 'RedirectUrl':
      return null;
    case 'ServerBusy':
    case 'InternalServerError':
      throw new TargetError('transient', `Autodiscover${answer.errorCode}`, `on-premises Autodiscover answered ${answer.errorCode}${answer.errorMessage ? `: ${answer.errorMessage.slice(0, 300)}` : ''}`);
    default:
      throw new TargetError('mailbox', `Autodiscover${answer.errorCode.slice(0, 60)}`, `on-premises Autodiscover answered ${answer.errorCode.slice(0, 60)} for ${mailbox}${answer.errorMessage ? `: ${answer.errorMessage.slice(0, 300)}` : ''}`, {
        remedy: 'check the address; `calpush doctor <mailbox>` shows the lookup',
      });
  }
}

/** Autodiscover's HTTP answers that are not a SOAP answer. */
function httpFailure(status: number, url: string, account: string): TargetError {
  if (status === 401 || status === 403) {
    return new TargetError('fatal', `Autodiscover${status}`, `on-premises Autodiscover refused ${account} (HTTP ${status})`, {
      status,
      remedy: 'the service account must be able to sign in to Autodiscover with the authentication the EWS target uses (Get-AutodiscoverVirtualDirectory | fl *Authentication*)',
    });
  }
  if (status === 404 || status === 405 || (status >= 300 && status < 400)) {
    return new TargetError('fatal', `Autodiscover${status}`, `no SOAP Autodiscover endpoint at ${url} (HTTP ${status})`, {
      status,
      remedy: 'set autodiscoverUrl in the EWS target to the SOAP endpoint, like https://mail.example.edu/autodiscover/autodiscover.svc',
    });
  }
  return new TargetError(status >= 500 || status === 429 ? 'transient' : 'mailbox', `Autodiscover${status}`, `on-premises Autodiscover answered HTTP ${status}`, { status });
}

/** Asks on-premises Autodiscover where `mailbox` lives, following RedirectUrl to the same host only. */
export async function autodiscoverLocation(connection: (url: string) => AccountConnection, startUrl: string, mailbox: string, account: string): Promise<MailboxLocation> {
  let url = startUrl;
  for (let hop = 0; hop < MAX_HOPS; hop++) {
    const answer = await connection(url).post(getUserSettingsRequest(url, mailbox), { soapaction: `"${ACTION}"` });
    if (answer.status !== 200) throw httpFailure(answer.status, url, account);
    const settings = parseUserSettings(answer.body);
    const location = locationOf(settings, mailbox);
    if (location) return location;
    const next = new URL(settings.redirectTarget || 'about:blank', url);
    if (next.origin !== new URL(url).origin) {
      throw new TargetError('mailbox', 'AutodiscoverRedirectUrl', `on-premises Autodiscover sent calpush to ${next.host} for ${mailbox}; credentials go only to the configured host`, {
        remedy: `if ${next.host} is your organisation's Autodiscover server, set autodiscoverUrl in the EWS target to ${next.origin}/autodiscover/autodiscover.svc`,
      });
    }
    url = next.toString();
  }
  throw new TargetError('mailbox', 'AutodiscoverRedirectLoop', `on-premises Autodiscover redirected more than ${MAX_HOPS} times for ${mailbox}`);
}
