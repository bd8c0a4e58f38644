// A small fake EWS endpoint on 127.0.0.1 for the EWS target's unit tests: Basic, NTLM (NTLMv2 checked against the
// account's password, per connection) or bearer auth; CreateItem / UpdateItem / DeleteItem / FindItem / GetItem
// on an in-memory store; fault injection (ErrorServerBusy with BackOffMilliseconds, access errors, HTTP statuses,
// dropped answers). Every request body is kept for the schema tests. The end-to-end tests use the real sandbox.
import { createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createRequire } from 'node:module';
import { attr, child, children, descendants, parseXml, path, text, type XmlValue } from '../../src/targets/ews/xml.ts';

const require = createRequire(createRequire(import.meta.url).resolve('@ewsjs/ntlm-client'));
const md4 = require('js-md4') as { arrayBuffer(input: Uint8Array): ArrayBuffer };

export interface FakeItem {
  id: string;
  changeKey: string;
  mailbox: string;
  props: Record<string, string>;
  /** The raw CalendarItem of the last create/update, parsed. */
  fields: Record<string, string>;
}

export interface Captured {
  operation: string;
  account: string | null;
  anchor: string | undefined;
  /** The SOAPAction header as sent. */
  soapAction: string | undefined;
  body: string;
}

export type Fault =
  | { kind: 'busy'; backOffMs: number; account?: string; asMessage?: boolean; operation?: string }
  | { kind: 'http'; status: number; body?: string; headers?: Record<string, string>; operation?: string }
  | { kind: 'fault'; code: string; message?: string; operation?: string; mailbox?: string }
  | { kind: 'message'; code: string; operation?: string; mailbox?: string }
  | { kind: 'drop'; operation: string }
  /** The operation is carried out, then answered with a SOAP fault (a batch cut off after part of it was done). */
  | { kind: 'faultAfter'; code: string; operation?: string }
  /** HTTP 200, every item ErrorInternalServerError with an inner ErrorServerBusy (nothing done). */
  | { kind: 'innerBusy'; backOffMs?: number; operation?: string };

export interface FakeEwsOptions {
  auth: 'basic' | 'ntlm' | 'bearer' | 'none';
  /** user name (as sent, lower-cased; NTLM: DOMAIN\\user or the UPN) → password; bearer: token → account name. */
  accounts: Record<string, string>;
  tls?: { certPem: string; keyPem: string };
  /** Mailboxes that exist; others answer ErrorNonExistentMailbox. */
  mailboxes: string[];
  /** account → mailboxes it may not use (ErrorAccessDenied / ErrorImpersonateUserDenied). */
  denied?: Record<string, string[]>;
  latencyMs?: number;
  /** ChangeKey required on UpdateItem (ErrorChangeKeyRequiredForWriteOperations without one). */
  requireChangeKey?: boolean;
  /** A ChangeKey that is not the item's current one is refused (ErrorStaleObject), on UpdateItem and DeleteItem. */
  checkChangeKey?: boolean;
}

const NS = 'xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="http://schemas.microsoft.com/exchange/services/2006/types"';

function esc(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function envelope(body: string): string {
  return `<?xml version="1.0" encoding="utf-8"?><s:Envelope ${NS}><s:Header><t:ServerVersionInfo MajorVersion="15" MinorVersion="1" MajorBuildNumber="2507" MinorBuildNumber="6" Version="V2017_07_11"/></s:Header><s:Body>${body}</s:Body></s:Envelope>`;
}

export function faultXml(code: string, message: string, values: Record<string, string> = {}): string {
  const xml = Object.entries(values)
    .map(([name, value]) => `<t:Value Name="${esc(name)}">${esc(value)}</t:Value>`)
    .join('');
  return envelope(
    `<s:Fault><faultcode xmlns:a="http://schemas.microsoft.com/exchange/services/2006/types">a:${code}</faultcode><faultstring xml:lang="en-US">${esc(message)}</faultstring>` +
      `<detail><e:ResponseCode xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">${code}</e:ResponseCode><e:Message xmlns:e="http://schemas.microsoft.com/exchange/services/2006/errors">${esc(message)}</e:Message>` +
      `${xml ? `<t:MessageXml>${xml}</t:MessageXml>` : ''}</detail></s:Fault>`,
  );
}

function errorMessage(op: string, code: string, text: string, values: Record<string, string> = {}): string {
  const xml = Object.entries(values)
    .map(([name, value]) => `<t:Value Name="${esc(name)}">${esc(value)}</t:Value>`)
    .join('');
  return `<m:${op}ResponseMessage ResponseClass="Error"><m:MessageText>${esc(text)}</m:MessageText><m:ResponseCode>${code}</m:ResponseCode><m:DescriptiveLinkKey>0</m:DescriptiveLinkKey>${xml ? `<m:MessageXml>${xml}</m:MessageXml>` : ''}${op === 'FindItem' ? '' : '<m:Items/>'}</m:${op}ResponseMessage>`;
}

function itemXml(item: FakeItem, extended: string[]): string {
  const props = extended
    .filter((name) => item.props[name] !== undefined)
    .map((name) => `<t:ExtendedProperty><t:ExtendedFieldURI PropertySetId="8d406dd4-a20c-41db-a3a3-9f6d092c9a1c" PropertyName="${name}" PropertyType="String"/><t:Value>${esc(item.props[name]!)}</t:Value></t:ExtendedProperty>`)
    .join('');
  return `<t:CalendarItem><t:ItemId Id="${esc(item.id)}" ChangeKey="${esc(item.changeKey)}"/>${props}</t:CalendarItem>`;
}

/** NTLMv2 check of a type 3 message against the password (MS-NLMP 3.3.2). */
function verifyType3(type3: Buffer, challenge: Buffer, passwordFor: (user: string, domain: string) => string | undefined): string | null {
  const field = (offset: number) => {
    const length = type3.readUInt16LE(offset);
    const at = type3.readUInt32LE(offset + 4);
    return type3.subarray(at, at + length);
  };
  if (type3.toString('ascii', 0, 8) !== 'NTLMSSP\0' || type3.readUInt32LE(8) !== 3) return null;
  const nt = field(20);
  const domain = field(28).toString('utf16le');
  const user = field(36).toString('utf16le');
  const password = passwordFor(user, domain);
  if (password === undefined || nt.length < 48) return null;
  const ntHash = Buffer.from(md4.arrayBuffer(Buffer.from(password, 'utf16le')));
  const ntowf = createHmac('md5', ntHash).update(Buffer.from(user.toUpperCase() + domain, 'utf16le')).digest();
  const proof = createHmac('md5', ntowf).update(Buffer.concat([challenge, nt.subarray(16)])).digest();
  return proof.equals(nt.subarray(0, 16)) ? (domain ? `${domain}\\${user}` : user) : null;
}

function type2Message(challenge: Buffer): string {
  const target = Buffer.from('CONTOSO', 'utf16le');
  const info = Buffer.concat([
    Buffer.from([2, 0, target.length, 0]),
    target,
    Buffer.from([1, 0, 10, 0]),
    Buffer.from('EXCH1', 'utf16le'),
    Buffer.from([0, 0, 0, 0]),
  ]);
  const header = Buffer.alloc(48);
  header.write('NTLMSSP\0', 0, 'ascii');
  header.writeUInt32LE(2, 8);
  header.writeUInt16LE(target.length, 12);
  header.writeUInt16LE(target.length, 14);
  header.writeUInt32LE(48, 16);
  // UNICODE | REQUEST_TARGET | NTLM | ALWAYS_SIGN | TARGET_TYPE_DOMAIN | NTLM2 (extended session security) | TARGET_INFO
  header.writeUInt32LE(0x1 | 0x4 | 0x200 | 0x8000 | 0x10000 | 0x80000 | 0x800000, 20);
  challenge.copy(header, 24);
  header.writeUInt16LE(info.length, 40);
  header.writeUInt16LE(info.length, 42);
  header.writeUInt32LE(48 + target.length, 44);
  return Buffer.concat([header, target, info]).toString('base64');
}

export class FakeEws {
  readonly options: FakeEwsOptions;
  url = '';
  readonly requests: Captured[] = [];
  readonly items = new Map<string, FakeItem>();
  faults: Fault[] = [];
  readonly inFlight = new Map<string, number>();
  readonly maxInFlight = new Map<string, number>();
  /** NTLM handshakes completed. */
  handshakes = 0;
  private server: http.Server | https.Server | null = null;
  private readonly challenges = new WeakMap<Socket, Buffer>();
  private readonly authenticated = new WeakMap<Socket, string>();
  private sequence = 0;

  constructor(options: FakeEwsOptions) {
    this.options = options;
  }

  async start(): Promise<this> {
    const handler = (req: http.IncomingMessage, res: http.ServerResponse) => void this.handle(req, res);
    this.server = this.options.tls ? https.createServer({ cert: this.options.tls.certPem, key: this.options.tls.keyPem }, handler) : http.createServer(handler);
    this.server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `${this.options.tls ? 'https' : 'http'}://127.0.0.1:${port}/EWS/Exchange.asmx`;
    return this;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => this.server?.close(() => resolve()) ?? resolve());
  }

  listItems(mailbox: string): FakeItem[] {
    return [...this.items.values()].filter((item) => item.mailbox === mailbox.toLowerCase());
  }

  private authenticate(req: http.IncomingMessage, res: http.ServerResponse): string | null | 'handled' {
    const header = req.headers.authorization ?? '';
    const socket = req.socket;
    const { auth, accounts } = this.options;
    if (auth === 'none') return 'anonymous';
    if (auth === 'basic') {
      const match = /^Basic (.+)$/.exec(header);
      if (match) {
        const decoded = Buffer.from(match[1]!, 'base64').toString('utf8');
        const colon = decoded.indexOf(':');
        const user = decoded.slice(0, colon).toLowerCase();
        if (accounts[user] !== undefined && accounts[user] === decoded.slice(colon + 1)) return user;
      }
      res.writeHead(401, { 'www-authenticate': 'Basic realm="mail.contoso.edu"' }).end();
      return 'handled';
    }
    if (auth === 'bearer') {
      const match = /^Bearer (.+)$/.exec(header);
      if (match && accounts[match[1]!] !== undefined) return accounts[match[1]!]!;
      res.writeHead(401, { 'www-authenticate': 'Bearer' }).end();
      return 'handled';
    }
    // NTLM: connection-based.
    const known = this.authenticated.get(socket);
    if (known && !header) return known;
    const match = /^NTLM (.+)$/.exec(header);
    if (!match) {
      res.writeHead(401, { 'www-authenticate': 'Negotiate, NTLM', 'content-length': '0' }).end();
      return 'handled';
    }
    const message = Buffer.from(match[1]!, 'base64');
    const type = message.length >= 12 ? message.readUInt32LE(8) : 0;
    if (type === 1) {
      const challenge = randomBytes(8);
      this.challenges.set(socket, challenge);
      res.writeHead(401, { 'www-authenticate': `NTLM ${type2Message(challenge)}`, 'content-length': '0' }).end();
      return 'handled';
    }
    const challenge = this.challenges.get(socket);
    const user =
      type === 3 && challenge
        ? verifyType3(message, challenge, (name, domain) => {
            const key = (domain ? `${domain}\\${name}` : name).toLowerCase();
            return accounts[key];
          })
        : null;
    if (!user) {
      res.writeHead(401, { 'www-authenticate': 'Negotiate, NTLM', 'content-length': '0' }).end();
      return 'handled';
    }
    this.handshakes++;
    this.authenticated.set(socket, user.toLowerCase());
    return user.toLowerCase();
  }

  private takeFault(operation: string, account: string | null, mailbox: string | null): Fault | undefined {
    const index = this.faults.findIndex((fault) => {
      if ('operation' in fault && fault.operation && fault.operation !== operation) return false;
      if (fault.kind === 'busy' && fault.account && fault.account !== account) return false;
      if ((fault.kind === 'fault' || fault.kind === 'message') && fault.mailbox && fault.mailbox !== mailbox) return false;
      return true;
    });
    if (index < 0) return undefined;
    return this.faults.splice(index, 1)[0];
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    const account = this.authenticate(req, res);
    if (account === 'handled' || account === null) return;
    const document = parseXml(body);
    const soapBody = path(document, 'Envelope', 'Body');
    const operation = soapBody ? Object.keys(soapBody).find((key) => !key.startsWith('@_') && key !== '#text') ?? '' : '';
    const anchor = req.headers['x-anchormailbox'] as string | undefined;
    this.requests.push({ operation, account, anchor, soapAction: req.headers['soapaction'] as string | undefined, body });
    this.inFlight.set(account, (this.inFlight.get(account) ?? 0) + 1);
    this.maxInFlight.set(account, Math.max(this.maxInFlight.get(account) ?? 0, this.inFlight.get(account)!));
    try {
      if (this.options.latencyMs) await new Promise((resolve) => setTimeout(resolve, this.options.latencyMs));
      const request = child(soapBody, operation);
      const header = path(document, 'Envelope', 'Header');
      const impersonated = text(path(header, 'ExchangeImpersonation', 'ConnectingSID', 'PrimarySmtpAddress')) || null;
      const mailbox = (impersonated ?? (text(descendants(request, 'EmailAddress')[0]) || null))?.toLowerCase() ?? null;
      const fault = this.takeFault(operation, account, mailbox);
      if (fault?.kind === 'http') {
        res.writeHead(fault.status, { 'content-type': 'text/html', ...fault.headers }).end(fault.body ?? `<html>${fault.status}</html>`);
        return;
      }
      if (fault?.kind === 'busy' && !fault.asMessage) {
        res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8' }).end(faultXml('ErrorServerBusy', 'The server cannot service this request right now. Try again later.', { BackOffMilliseconds: String(fault.backOffMs) }));
        return;
      }
      if (fault?.kind === 'fault') {
        res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8' }).end(faultXml(fault.code, fault.message ?? fault.code));
        return;
      }
      if (fault?.kind === 'innerBusy') {
        const count = Math.max(1, descendants(request, 'CalendarItem').length || descendants(request, 'ItemChange').length || descendants(request, 'ItemId').length);
        const values: Record<string, string> = { InnerErrorMessageText: 'The server cannot service this request right now. Try again later.', InnerErrorResponseCode: 'ErrorServerBusy', InnerErrorDescriptiveLinkKey: '0' };
        if (fault.backOffMs !== undefined) values['BackOffMilliseconds'] = String(fault.backOffMs);
        const messages = Array.from({ length: count }, () => errorMessage(operation, 'ErrorInternalServerError', 'An internal server error occurred. The operation failed.', values)).join('');
        res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' }).end(envelope(`<m:${operation}Response><m:ResponseMessages>${messages}</m:ResponseMessages></m:${operation}Response>`));
        return;
      }
      const answer = this.execute(operation, request, account, impersonated, fault);
      if (fault?.kind === 'faultAfter') {
        res.writeHead(500, { 'content-type': 'text/xml; charset=utf-8' }).end(faultXml(fault.code, fault.code));
        return;
      }
      if (fault?.kind === 'drop') {
        req.socket.destroy();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/xml; charset=utf-8' }).end(envelope(answer));
    } finally {
      this.inFlight.set(account, this.inFlight.get(account)! - 1);
    }
  }

  private access(account: string, mailbox: string, op: string, impersonating: boolean): string | null {
    if (!this.options.mailboxes.includes(mailbox)) return errorMessage(op, 'ErrorNonExistentMailbox', `No mailbox with such guid.`);
    if (this.options.denied?.[account]?.includes(mailbox)) {
      return impersonating
        ? errorMessage(op, 'ErrorImpersonateUserDenied', 'The account does not have permission to impersonate the requested user.')
        : errorMessage(op, 'ErrorAccessDenied', 'Access is denied. Check credentials and try again.');
    }
    return null;
  }

  private execute(operation: string, request: XmlValue | null, account: string, impersonated: string | null, fault: Fault | undefined): string {
    const response = (messages: string[]) => `<m:${operation}Response><m:ResponseMessages>${messages.join('')}</m:ResponseMessages></m:${operation}Response>`;
    const folderMailbox = () => (impersonated ?? text(descendants(request, 'EmailAddress')[0])).toLowerCase();
    const messageFault = fault?.kind === 'message' ? fault : fault?.kind === 'busy' && fault.asMessage ? fault : undefined;
    const failMessage = () =>
      messageFault?.kind === 'busy' ? errorMessage(operation, 'ErrorServerBusy', 'busy', { BackOffMilliseconds: String(messageFault.backOffMs) }) : errorMessage(operation, messageFault!.code, messageFault!.code);

    if (operation === 'CreateItem') {
      const mailbox = folderMailbox();
      const items = children(child(request, 'Items'), 'CalendarItem');
      const denied = this.access(account, mailbox, operation, impersonated !== null);
      return response(
        items.map((calendarItem, index) => {
          if (denied) return denied;
          if (messageFault && index === 0) return failMessage();
          const item: FakeItem = { id: `AAMk${Buffer.from(`${mailbox}:${++this.sequence}`).toString('base64url')}`, changeKey: `CK${randomBytes(6).toString('hex')}`, mailbox, props: {}, fields: {} };
          this.apply(item, calendarItem);
          this.items.set(item.id, item);
          return `<m:CreateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>${itemXml(item, [])}</m:Items></m:CreateItemResponseMessage>`;
        }),
      );
    }
    if (operation === 'FindItem') {
      const mailbox = folderMailbox();
      const denied = this.access(account, mailbox, operation, impersonated !== null);
      if (denied) return response([denied]);
      if (messageFault) return response([failMessage()]);
      const view = child(request, 'IndexedPageItemView');
      const offset = Number(attr(view, 'Offset') ?? 0);
      const max = Number(attr(view, 'MaxEntriesReturned') ?? 1000);
      const restriction = child(request, 'Restriction');
      const equal = descendants(restriction, 'IsEqualTo').map((node) => attr(child(path(node, 'FieldURIOrConstant'), 'Constant'), 'Value'));
      const all = this.listItems(mailbox).filter((item) => (equal.length ? equal.includes(item.props['CalpushTransactionId']) : item.props['CalpushKey'] !== undefined));
      const page = all.slice(offset, offset + max);
      const last = offset + page.length >= all.length;
      return response([
        `<m:FindItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:RootFolder IndexedPagingOffset="${offset + page.length}" TotalItemsInView="${all.length}" IncludesLastItemInRange="${last}"><t:Items>${page.map((item) => itemXml(item, ['CalpushKey', 'CalpushTransactionId'])).join('')}</t:Items></m:RootFolder></m:FindItemResponseMessage>`,
      ]);
    }
    if (operation === 'GetFolder') {
      const mailbox = folderMailbox();
      const denied = this.access(account, mailbox, operation, impersonated !== null);
      if (denied) return response([denied]);
      return response([`<m:GetFolderResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Folders><t:CalendarFolder><t:FolderId Id="CAL-${esc(mailbox)}" ChangeKey="AgAAAA=="/></t:CalendarFolder></m:Folders></m:GetFolderResponseMessage>`]);
    }
    const ids = descendants(request, 'ItemId');
    const lookup = (node: XmlValue) => this.items.get(attr(node, 'Id') ?? '');
    const stale = (node: XmlValue, item: FakeItem) => this.options.checkChangeKey === true && attr(node, 'ChangeKey') !== undefined && attr(node, 'ChangeKey') !== item.changeKey;
    if (operation === 'GetItem') {
      return response(
        ids.map((id) => {
          const item = lookup(id);
          if (!item) return errorMessage(operation, 'ErrorItemNotFound', 'The specified object was not found in the store.');
          return `<m:GetItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>${itemXml(item, ['CalpushKey'])}</m:Items></m:GetItemResponseMessage>`;
        }),
      );
    }
    if (operation === 'UpdateItem') {
      return response(
        children(child(request, 'ItemChanges'), 'ItemChange').map((change, index) => {
          const id = child(change, 'ItemId');
          const item = lookup(id!);
          if (messageFault && index === 0) return failMessage();
          if (!item) return errorMessage(operation, 'ErrorItemNotFound', 'The specified object was not found in the store.');
          const denied = this.access(account, item.mailbox, operation, impersonated !== null);
          if (denied) return denied;
          const changeKey = attr(id, 'ChangeKey');
          if (!changeKey && this.options.requireChangeKey) return errorMessage(operation, 'ErrorChangeKeyRequiredForWriteOperations', 'Send and update operations for contacts and items require a change key.');
          if (stale(id!, item)) return errorMessage(operation, 'ErrorStaleObject', 'The change key passed in the request does not match the current change key for the item.');
          for (const set of children(child(change, 'Updates'), 'SetItemField')) this.apply(item, child(set, 'CalendarItem'));
          for (const del of children(child(change, 'Updates'), 'DeleteItemField')) delete item.fields[(attr(child(del, 'FieldURI'), 'FieldURI') ?? '').replace(/^\w+:/, '')];
          item.changeKey = `CK${randomBytes(6).toString('hex')}`;
          return `<m:UpdateItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Items>${itemXml(item, [])}</m:Items><m:ConflictResults><t:Count>0</t:Count></m:ConflictResults></m:UpdateItemResponseMessage>`;
        }),
      );
    }
    if (operation === 'DeleteItem') {
      return response(
        ids.map((id, index) => {
          if (messageFault && index === 0) return failMessage();
          const item = lookup(id);
          if (!item) return errorMessage(operation, 'ErrorItemNotFound', 'The specified object was not found in the store.');
          if (stale(id, item)) return errorMessage(operation, 'ErrorStaleObject', 'The change key passed in the request does not match the current change key for the item.');
          this.items.delete(item.id);
          return `<m:DeleteItemResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode></m:DeleteItemResponseMessage>`;
        }),
      );
    }
    return response([errorMessage(operation || 'Unknown', 'ErrorInvalidRequest', 'unknown operation')]);
  }

  private apply(item: FakeItem, calendarItem: XmlValue | null): void {
    if (!calendarItem) return;
    for (const [name, value] of Object.entries(calendarItem)) {
      if (name.startsWith('@_')) continue;
      if (name === 'ExtendedProperty') {
        for (const property of children(calendarItem, 'ExtendedProperty')) {
          const propertyName = attr(child(property, 'ExtendedFieldURI'), 'PropertyName');
          if (propertyName) item.props[propertyName] = text(child(property, 'Value'));
        }
        continue;
      }
      if (name === 'Categories') {
        item.fields['Categories'] = children(value, 'String').map(text).join(',');
        continue;
      }
      const node = child(calendarItem, name);
      item.fields[name] = attr(node, 'Id') ?? text(node);
    }
  }
}
