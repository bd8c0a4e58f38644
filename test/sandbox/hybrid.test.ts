// The sandbox as an Exchange hybrid organisation: where each mailbox lives decides who answers for it — Graph
// (404 MailboxNotEnabledForRESTAPI for an on-premises mailbox), on-premises EWS (ErrorNonExistentMailbox for one in
// Exchange Online) and SOAP Autodiscover (settings, RedirectAddress, InvalidUser) — and a move flips all three while
// the items and their named properties stay. Asked through calpush's own targets (locate(), the lookup's questions).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTenantSeed, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, startSandbox, type Sandbox } from '../../src/sandbox/index.ts';
import { getUserSettingsRequest, locationOf, parseUserSettings } from '../../src/targets/ews/autodiscover.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import { GraphTarget } from '../../src/targets/graph/target.ts';
import { TAG_PROPERTY_ID } from '../../src/model/tag.ts';
import { validateEvent } from '../../src/model/event.ts';
import { sandboxGraphOptions } from '../support/sandbox-graph.ts';

const seed = defaultTenantSeed({ students: 3, rooms: 1 });
const [onPremises, online, both] = ['s0001@contoso.edu', 's0002@contoso.edu', 's0003@contoso.edu'];
seed.mailboxes.find((m) => m.address === onPremises)!.home = 'onPremises';
seed.mailboxes.find((m) => m.address === online)!.home = 'online';
let sandbox: Sandbox;
let ews: EwsTarget;
let graph: GraphTarget;

beforeAll(async () => {
  sandbox = await startSandbox({ tenant: seed });
  ews = new EwsTarget({ instance: 'hybrid', url: sandbox.ewsUrl, serverVersion: 'Exchange2016', access: 'delegate', auth: 'ntlm', accounts: [{ username: EWS_DELEGATE_ACCOUNTS[0]!, password: EWS_PASSWORD }], caPem: sandbox.caPem, allDayTimeZone: 'UTC' });
  graph = new GraphTarget({
    ...sandboxGraphOptions(sandbox, 'hybrid', 'UTC'),
  });
});
afterAll(async () => {
  await ews.close();
  await graph.close();
  await sandbox.close();
});


describe('where a mailbox lives', () => {
  it('Autodiscover and Graph each answer for their side', async () => {
    expect(await ews.locate(onPremises)).toEqual({ found: 'here', answer: expect.stringMatching(/^on-premises Autodiscover answered with s0001@contoso\.edu's settings \(EWS at 127\.0\.0\.1:\d+\): the mailbox is on-premises$/) });
    expect(await ews.locate(online)).toEqual({ found: 'elsewhere', answer: 'on-premises Autodiscover answered RedirectAddress → s0002@contoso.mail.onmicrosoft.com: the mailbox is not on-premises (moved to Exchange Online)' });
    expect(await ews.locate('nobody@contoso.edu')).toEqual({ found: 'nowhere', answer: 'on-premises Autodiscover answered InvalidUser: the on-premises organisation has no mailbox nobody@contoso.edu' });
    expect(await graph.locate(onPremises)).toMatchObject({ found: 'elsewhere', answer: expect.stringContaining('404 MailboxNotEnabledForRESTAPI') });
    expect(await graph.locate(online)).toMatchObject({ found: 'here' });
    expect(await graph.locate('nobody@contoso.edu')).toMatchObject({ found: 'nowhere', answer: expect.stringContaining('404 ErrorInvalidUser') });
    // A mailbox without a home answers both ways, as the sandbox always did.
    expect((await ews.locate(both)).found).toBe('here');
    expect((await graph.locate(both)).found).toBe('here');
  });

  it('the answers calpush reads: settings; RedirectUrl (asked there, same host only); ServerBusy retried; others a mailbox failure', () => {
    const request = getUserSettingsRequest('https://mail.contoso.edu/autodiscover/autodiscover.svc', onPremises);
    expect(request).toContain('<a:Mailbox>s0001@contoso.edu</a:Mailbox>');
    expect(request).toContain('<wsa:Action>http://schemas.microsoft.com/exchange/2010/Autodiscover/Autodiscover/GetUserSettings</wsa:Action>');
    const user = (inner: string) =>
      `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><GetUserSettingsResponseMessage xmlns="http://schemas.microsoft.com/exchange/2010/Autodiscover"><Response><ErrorCode>NoError</ErrorCode><UserResponses><UserResponse>${inner}</UserResponse></UserResponses></Response></GetUserSettingsResponseMessage></s:Body></s:Envelope>`;
    expect(parseUserSettings(user('<ErrorCode>NoError</ErrorCode><UserSettings><UserSetting><Name>ExternalEwsUrl</Name><Value>https://mail.contoso.edu/EWS/Exchange.asmx</Value></UserSetting></UserSettings>'))).toEqual({
      errorCode: 'NoError',
      errorMessage: '',
      redirectTarget: '',
      settings: { ExternalEwsUrl: 'https://mail.contoso.edu/EWS/Exchange.asmx' },
    });
    const redirectUrl = parseUserSettings(user('<ErrorCode>RedirectUrl</ErrorCode><RedirectTarget>https://other.example/autodiscover/autodiscover.svc</RedirectTarget>'));
    expect(locationOf(redirectUrl, onPremises)).toBeNull();
    expect(() => locationOf(parseUserSettings(user('<ErrorCode>ServerBusy</ErrorCode>')), onPremises)).toThrow(expect.objectContaining({ scope: 'transient', code: 'AutodiscoverServerBusy' }));
    expect(() => locationOf(parseUserSettings(user('<ErrorCode>InvalidSetting</ErrorCode>')), onPremises)).toThrow(expect.objectContaining({ scope: 'mailbox', code: 'AutodiscoverInvalidSetting' }));
    expect(() => parseUserSettings('<html>not SOAP</html>')).toThrow(expect.objectContaining({ code: 'AutodiscoverUnreadable' }));
  });

  it('a move flips EWS, Graph and Autodiscover; the items and their named properties stay', async () => {
    const checked = validateEvent({ calendar: onPremises, id: 'x-1', subject: 'Seminar', start: '2026-12-01T09:00', end: '2026-12-01T10:00', timeZone: 'Europe/Amsterdam' });
    if (!checked.ok) throw new Error('invalid test event');
    const { desired } = checked;
    const created = await ews.create(desired, 'txn-1');
    expect(created.itemId).toBeTruthy();
    await expect(graph.listOwned(onPremises)).rejects.toMatchObject({ code: 'MailboxNotEnabledForRESTAPI' });
    const before = sandbox.listEvents(onPremises).map((e) => ({ id: e.id, tag: e.singleValueExtendedProperties?.find((p) => p.id === TAG_PROPERTY_ID)?.value }));

    sandbox.moveMailbox(onPremises, 'online');
    expect((await ews.locate(onPremises)).found).toBe('elsewhere');
    expect((await graph.locate(onPremises)).found).toBe('here');
    await expect(ews.listOwned(onPremises)).rejects.toMatchObject({ scope: 'mailbox', code: 'ErrorNonExistentMailbox' });
    const listed = await graph.listOwned(onPremises);
    expect(listed.items).toEqual([expect.objectContaining({ key: desired.key, contentHash: desired.contentHash })]);
    expect(sandbox.listEvents(onPremises).map((e) => ({ id: e.id, tag: e.singleValueExtendedProperties?.find((p) => p.id === TAG_PROPERTY_ID)?.value }))).toEqual(before);
    // The same item, named in each protocol's form: EWS's base64 id, Graph's URL-safe one (the sandbox's ids are
    // random: compared as such rather than as "different", which a random id without '/' or '+' is not — ~5% of runs).
    expect(listed.items[0]!.itemId).toBe(created.itemId.replace(/\//g, '-').replace(/\+/g, '_'));
  });
});
