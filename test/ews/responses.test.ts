// Reading EWS answers: real shapes (success, per-item errors, SOAP faults with BackOffMilliseconds) and junk, which
// must never throw; response codes → TargetError scopes with remedies.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TargetError } from '../../src/targets/target.ts';
import { classifyHttpStatus, classifyResponseCode, type ErrorContext } from '../../src/targets/ews/errors.ts';
import { backOffMs, parseSoapAnswer, type Operation } from '../../src/targets/ews/responses.ts';
import { faultXml } from './fake-ews.ts';

const OPERATIONS: Operation[] = ['CreateItem', 'UpdateItem', 'DeleteItem', 'FindItem', 'GetItem'];
const delegate: ErrorContext = { access: 'delegate', account: 'CONTOSO\\svc-calpush1', mailbox: 's0001@contoso.edu', operation: 'create' };

// From https://learn.microsoft.com/exchange/client-developer/web-service-reference/createitem-operation-calendar-item (shape).
const CREATE_OK = `<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header><h:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" xmlns:h="http://schemas.microsoft.com/exchange/services/2006/types"/></s:Header>
  <s:Body xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
    <m:CreateItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types">
      <m:ResponseMessages>
        <m:CreateItemResponseMessage ResponseClass="Success">
          <m:ResponseCode>NoError</m:ResponseCode>
          <m:Items><t:CalendarItem><t:ItemId Id="AAMkADk=" ChangeKey="DwAAABYA"/></t:CalendarItem></m:Items>
        </m:CreateItemResponseMessage>
        <m:CreateItemResponseMessage ResponseClass="Error">
          <m:MessageText>The server cannot service this request right now. Try again later.</m:MessageText>
          <m:ResponseCode>ErrorServerBusy</m:ResponseCode>
          <m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>
          <m:MessageXml><t:Value Name="BackOffMilliseconds">297749</t:Value></m:MessageXml>
          <m:Items/>
        </m:CreateItemResponseMessage>
      </m:ResponseMessages>
    </m:CreateItemResponse>
  </s:Body>
</s:Envelope>`;

const FIND_OK = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:FindItemResponse xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"><m:ResponseMessages><m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder IndexedPagingOffset="2" TotalItemsInView="5" IncludesLastItemInRange="false"><t:Items>
<t:CalendarItem><t:ItemId Id="A1" ChangeKey="C1"/><t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="8d406dd4-a20c-41db-a3a3-9f6d092c9a1c" PropertyName="CalpushKey" PropertyType="String"/><t:Value>v1;x;0123456789abcdef0123456789abcdef;0123456789abcdef0123456789abcdef</t:Value></t:ExtendedProperty><t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="8d406dd4-a20c-41db-a3a3-9f6d092c9a1c" PropertyName="CalpushTransactionId" PropertyType="String"/><t:Value>tx-1</t:Value></t:ExtendedProperty></t:CalendarItem>
<t:CalendarItem><t:ItemId Id="A2" ChangeKey="C2"/></t:CalendarItem>
</t:Items></m:RootFolder></m:FindItemResponseMessage></m:ResponseMessages></m:FindItemResponse></s:Body></s:Envelope>`;

describe('parseSoapAnswer', () => {
  it('reads response messages in order, with item ids, change keys and MessageXml values', () => {
    const answer = parseSoapAnswer(CREATE_OK, 'CreateItem');
    expect(answer.kind).toBe('messages');
    if (answer.kind !== 'messages') return;
    expect(answer.messages).toHaveLength(2);
    expect(answer.messages[0]).toMatchObject({ responseClass: 'Success', code: 'NoError', items: [{ itemId: 'AAMkADk=', changeKey: 'DwAAABYA' }] });
    expect(answer.messages[1]).toMatchObject({ responseClass: 'Error', code: 'ErrorServerBusy', items: [] });
    expect(backOffMs(answer.messages[1]!.values)).toBe(297749);
  });

  it('reads FindItem pages with our properties', () => {
    const answer = parseSoapAnswer(FIND_OK, 'FindItem');
    if (answer.kind !== 'messages') throw new Error(answer.kind);
    const [message] = answer.messages;
    expect(message!.paging).toEqual({ nextOffset: 2, includesLastItemInRange: false, total: 5 });
    expect(message!.items).toEqual([
      { itemId: 'A1', changeKey: 'C1', tag: 'v1;x;0123456789abcdef0123456789abcdef;0123456789abcdef0123456789abcdef', transactionId: 'tx-1' },
      { itemId: 'A2', changeKey: 'C2', tag: null, transactionId: null },
    ]);
  });

  it('reads SOAP faults: the detail’s ResponseCode and BackOffMilliseconds (the Value element, not the text)', () => {
    const answer = parseSoapAnswer(faultXml('ErrorServerBusy', 'The server cannot service this request right now. Try again later.', { BackOffMilliseconds: '178510' }), 'CreateItem');
    expect(answer).toMatchObject({ kind: 'fault', code: 'ErrorServerBusy', values: { BackOffMilliseconds: '178510' } });
    const schema = parseSoapAnswer(
      `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode xmlns:a="x">a:ErrorSchemaValidation</faultcode><faultstring>The request failed schema validation.</faultstring><detail><e:ResponseCode xmlns:e="y">ErrorSchemaValidation</e:ResponseCode><e:Message xmlns:e="y">The request failed schema validation.</e:Message><t:MessageXml xmlns:t="z"><t:LineNumber>1</t:LineNumber><t:LinePosition>630</t:LinePosition><t:Violation>The element 'CalendarItem' has invalid child element 'Location'.</t:Violation></t:MessageXml></detail></s:Fault></s:Body></s:Envelope>`,
      'CreateItem',
    );
    expect(schema).toMatchObject({ kind: 'fault', code: 'ErrorSchemaValidation', values: { LineNumber: '1', Violation: expect.stringContaining('Location') } });
  });

  it('never throws on junk', () => {
    const names = ['Envelope', 'Body', 'Fault', 'detail', 'ResponseCode', 'MessageXml', 'Value', 'CreateItemResponse', 'FindItemResponse', 'ResponseMessages', 'CreateItemResponseMessage', 'FindItemResponseMessage', 'RootFolder', 'Items', 'CalendarItem', 'ItemId', 'ExtendedProperty', 'ExtendedFieldURI'];
    const element: fc.Arbitrary<string> = fc.letrec<{ node: string }>((tie) => ({
      node: fc.oneof(
        { depthSize: 'small', withCrossShrink: true },
        fc.string(),
        fc
          .tuple(fc.constantFrom(...names), fc.constantFrom('', 's:', 'm:', 't:'), fc.array(tie('node'), { maxLength: 4 }), fc.dictionary(fc.constantFrom('Id', 'ChangeKey', 'Name', 'ResponseClass', 'IndexedPagingOffset', 'IncludesLastItemInRange', 'PropertyName'), fc.string()))
          .map(([name, prefix, kids, attrs]) => `<${prefix}${name}${Object.entries(attrs).map(([k, v]) => ` ${k}="${v.replace(/[<&"]/g, '')}"`).join('')}>${kids.join('')}</${prefix}${name}>`),
      ),
    })).node;
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: 'binary' }), element, element.map((e) => `<Envelope><Body>${e}</Body></Envelope>`)), fc.constantFrom(...OPERATIONS), (body, operation) => {
        const answer = parseSoapAnswer(body, operation);
        expect(['messages', 'fault', 'unreadable']).toContain(answer.kind);
      }),
      { numRuns: 2000 },
    );
    // Truncations of real answers.
    for (const real of [CREATE_OK, FIND_OK]) {
      for (let cut = 0; cut < real.length; cut += 7) expect(() => parseSoapAnswer(real.slice(0, cut), 'FindItem')).not.toThrow();
    }
    // Entity expansion is not performed.
    const bomb = `<!DOCTYPE a [<!ENTITY e "xxxxxxxxxx"><!ENTITY f "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;">]><Envelope><Body><FindItemResponse><ResponseMessages><FindItemResponseMessage ResponseClass="Error"><MessageText>&f;</MessageText></FindItemResponseMessage></ResponseMessages></FindItemResponse></Body></Envelope>`;
    const answer = parseSoapAnswer(bomb, 'FindItem');
    if (answer.kind === 'messages') expect(answer.messages[0]!.message.length).toBeLessThan(20);
  });

  it('classification never throws and always yields a TargetError', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.dictionary(fc.string(), fc.string()), fc.constantFrom('delegate' as const, 'impersonation' as const), fc.constantFrom('list' as const, 'create' as const, 'update' as const, 'delete' as const, 'get' as const), (code, message, values, access, operation) => {
        const error = classifyResponseCode(code, message, values, { ...delegate, access, operation });
        expect(error).toBeInstanceOf(TargetError);
      }),
    );
  });
});

describe('classification', () => {
  it('ErrorServerBusy throttles the account, after BackOffMilliseconds when it names one (else the scheduler decides)', () => {
    expect(classifyResponseCode('ErrorServerBusy', 'busy', { BackOffMilliseconds: '1234' }, delegate)).toMatchObject({ scope: 'transient', retryAfterMs: 1234, throttles: 'account' });
    const unnamed = classifyResponseCode('ErrorServerBusy', 'busy', { BackOffMilliseconds: 'soon' }, delegate);
    expect(unnamed).toMatchObject({ scope: 'transient', throttles: 'account' });
    expect(unnamed.retryAfterMs).toBeUndefined();
  });

  it('access errors stop the mailbox with the remedy of the access mode', () => {
    const denied = classifyResponseCode('ErrorAccessDenied', 'Access is denied.', {}, delegate);
    expect(denied.scope).toBe('mailbox');
    expect(denied.remedy).toMatch(/Add-MailboxFolderPermission -Identity "s0001@contoso.edu:\\Calendar"/);
    const impersonation = classifyResponseCode('ErrorImpersonateUserDenied', 'The account does not have permission to impersonate the requested user.', {}, { ...delegate, access: 'impersonation' });
    expect(impersonation.scope).toBe('mailbox');
    expect(impersonation.remedy).toMatch(/New-ManagementRoleAssignment .*-Role ApplicationImpersonation .*-CustomRecipientWriteScope/);
    for (const code of ['ErrorNonExistentMailbox', 'ErrorMailRecipientNotFound']) {
      expect(classifyResponseCode(code, 'x', {}, delegate)).toMatchObject({ scope: 'mailbox', remedy: expect.stringMatching(/address/) });
    }
  });

  it('a missing item is gone for item operations; schema failures are item errors; versions are fatal', () => {
    expect(classifyResponseCode('ErrorItemNotFound', 'x', {}, { ...delegate, operation: 'update' }).scope).toBe('gone');
    expect(classifyResponseCode('ErrorItemNotFound', 'x', {}, { ...delegate, operation: 'list' }).scope).toBe('item');
    expect(classifyResponseCode('ErrorSchemaValidation', 'x', { Violation: 'bad', LineNumber: '1', LinePosition: '2' }, delegate)).toMatchObject({ scope: 'item', message: expect.stringContaining('bad at line 1:2') });
    expect(classifyResponseCode('ErrorInvalidServerVersion', 'x', {}, delegate).scope).toBe('fatal');
    expect(classifyResponseCode('ErrorCalendarEndDateIsEarlierThanStartDate', 'x', {}, delegate).scope).toBe('item');
  });

  it('HTTP statuses: 401 fatal (password), 503 transient with Retry-After, throttling the account, redirect fatal', () => {
    const url = 'https://mail.contoso.edu/EWS/Exchange.asmx';
    expect(classifyHttpStatus(401, {}, delegate, url)).toMatchObject({ scope: 'fatal', remedy: expect.stringMatching(/password.*locked/) });
    expect(classifyHttpStatus(503, { 'retry-after': '7' }, delegate, url)).toMatchObject({ scope: 'transient', retryAfterMs: 7000, throttles: 'account' });
    expect(classifyHttpStatus(302, { location: 'https://mail.contoso.edu/owa/' }, delegate, url)).toMatchObject({ scope: 'fatal' });
    expect(classifyHttpStatus(404, {}, delegate, url).remedy).toMatch(/EWS\/Exchange.asmx/);
  });
});
