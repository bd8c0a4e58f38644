// Test helpers for the sandbox's EWS endpoint: hand-written SOAP envelopes, an HTTPS client with Basic or NTLM
// (a minimal NTLMv2 client written from [MS-NLMP] 3.3.2), response parsing, and xmllint validation of every
// request (and success response) against Microsoft's schema shipped in src/sandbox/ews/schema.
import { execFileSync } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DOMParser, type Element as XmlElement } from '@xmldom/xmldom';
import { md4 } from '../../../src/sandbox/ews/ntlm.ts';
import { REQUEST_SCHEMA } from '../../../src/sandbox/ews/validate.ts';
import { requireTool } from '../../support/tools.ts';

export const M = 'http://schemas.microsoft.com/exchange/services/2006/messages';
export const T = 'http://schemas.microsoft.com/exchange/services/2006/types';
export const S = 'http://schemas.xmlsoap.org/soap/envelope/';
export const E = 'http://schemas.microsoft.com/exchange/services/2006/errors';

/** Every request envelope sent through `post` (validated together at the end of a test file). */
export const sentRequests: string[] = [];
/** Success response envelopes received (validated together too). */
export const receivedResponses: string[] = [];

export function soap(body: string, header = '<t:RequestServerVersion Version="Exchange2016"/>'): string {
  return `<?xml version="1.0" encoding="utf-8"?>
<soap:Envelope xmlns:soap="${S}" xmlns:m="${M}" xmlns:t="${T}">
  <soap:Header>
    ${header}
  </soap:Header>
  <soap:Body>
    ${body}
  </soap:Body>
</soap:Envelope>`;
}

export function impersonationHeader(address: string, element = 'PrimarySmtpAddress'): string {
  return `<t:RequestServerVersion Version="Exchange2016"/><t:ExchangeImpersonation><t:ConnectingSID><t:${element}>${address}</t:${element}></t:ConnectingSID></t:ExchangeImpersonation>`;
}

export type Auth = { kind: 'basic'; user: string; password: string } | { kind: 'ntlm'; user: string; domain: string; password: string } | { kind: 'none' } | { kind: 'raw'; header: string };

export interface EwsResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  root?: XmlElement;
}

export function agentFor(caPem: string): Agent {
  return new Agent({ ca: caPem, keepAlive: true, maxSockets: 1 });
}

function send(url: string, agent: Agent, body: string, headers: Record<string, string>): Promise<EwsResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: 'POST', agent, headers: { 'content-type': 'text/xml; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

// ---- a minimal NTLMv2 client ([MS-NLMP] 2.2.1.1, 2.2.1.3, 3.3.2) ----

export function ntlmType1(): string {
  const buf = Buffer.alloc(32);
  buf.write('NTLMSSP\0', 0, 'latin1');
  buf.writeUInt32LE(1, 8);
  // UNICODE | OEM | REQUEST_TARGET | NTLM | ALWAYS_SIGN | EXTENDED_SESSIONSECURITY | 128 | 56
  buf.writeUInt32LE((0x00000001 | 0x00000002 | 0x00000004 | 0x00000200 | 0x00008000 | 0x00080000 | 0x20000000 | 0x80000000) >>> 0, 12);
  return buf.toString('base64');
}

export function ntlmType3(type2Base64: string, user: string, domain: string, password: string): string {
  const t2 = Buffer.from(type2Base64, 'base64');
  const serverChallenge = t2.subarray(24, 32);
  const flags = t2.readUInt32LE(20);
  const infoLen = t2.readUInt16LE(40);
  const infoOff = t2.readUInt32LE(44);
  const targetInfo = t2.subarray(infoOff, infoOff + infoLen);
  const key = createHmac('md5', md4(Buffer.from(password, 'utf16le'))).update(Buffer.from(user.toUpperCase() + domain, 'utf16le')).digest();
  const clientChallenge = randomBytes(8);
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64LE((BigInt(Date.now()) + 11644473600000n) * 10000n);
  const temp = Buffer.concat([Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]), timestamp, clientChallenge, Buffer.alloc(4), targetInfo, Buffer.alloc(4)]);
  const proof = createHmac('md5', key).update(Buffer.concat([serverChallenge, temp])).digest();
  const nt = Buffer.concat([proof, temp]);
  const lm = Buffer.concat([createHmac('md5', key).update(Buffer.concat([serverChallenge, clientChallenge])).digest(), clientChallenge]);
  const unicode = (flags & 1) !== 0;
  const enc = (s: string) => Buffer.from(s, unicode ? 'utf16le' : 'latin1');
  const fields = [lm, nt, enc(domain), enc(user), enc('TESTHOST')];
  const header = Buffer.alloc(64);
  header.write('NTLMSSP\0', 0, 'latin1');
  header.writeUInt32LE(3, 8);
  let offset = 64;
  const at = [12, 20, 28, 36, 44];
  fields.forEach((f, i) => {
    header.writeUInt16LE(f.length, at[i]!);
    header.writeUInt16LE(f.length, at[i]! + 2);
    header.writeUInt32LE(offset, at[i]! + 4);
    offset += f.length;
  });
  header.writeUInt32LE(offset, 56); // empty session key at the end
  header.writeUInt32LE(flags, 60);
  return Buffer.concat([header, ...fields]).toString('base64');
}

/** Posts an envelope. NTLM runs the three-leg handshake on the agent's single keep-alive socket. */
export async function post(url: string, agent: Agent, body: string, auth: Auth, extraHeaders: Record<string, string> = {}, record = true): Promise<EwsResponse> {
  if (record) sentRequests.push(body);
  let response: EwsResponse;
  if (auth.kind === 'basic') {
    response = await send(url, agent, body, { authorization: `Basic ${Buffer.from(`${auth.user}:${auth.password}`).toString('base64')}`, ...extraHeaders });
  } else if (auth.kind === 'raw') {
    response = await send(url, agent, body, { authorization: auth.header, ...extraHeaders });
  } else if (auth.kind === 'none') {
    response = await send(url, agent, body, extraHeaders);
  } else {
    const challenge = await send(url, agent, body, { authorization: `NTLM ${ntlmType1()}`, ...extraHeaders });
    const header = String(challenge.headers['www-authenticate'] ?? '');
    if (challenge.status !== 401 || !header.startsWith('NTLM ')) return challenge;
    response = await send(url, agent, body, { authorization: `NTLM ${ntlmType3(header.slice(5), auth.user, auth.domain, auth.password)}`, ...extraHeaders });
  }
  if (response.text.startsWith('<?xml')) {
    response.root = new DOMParser().parseFromString(response.text, 'text/xml').documentElement as unknown as XmlElement;
    if (response.status === 200) receivedResponses.push(response.text);
  }
  return response;
}

// ---- reading responses ----

export function all(root: XmlElement | undefined, ns: string, local: string): XmlElement[] {
  if (!root) return [];
  // Unqualified elements (faultcode, faultstring) have no namespace.
  const list = ns === '' ? root.getElementsByTagName(local) : root.getElementsByTagNameNS(ns, local);
  return Array.from(list as unknown as ArrayLike<XmlElement>);
}

export function first(root: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  return all(root, ns, local)[0];
}

export function text(root: XmlElement | undefined, ns: string, local: string): string | undefined {
  const el = first(root, ns, local);
  return el ? (el.textContent ?? '') : undefined;
}

/** ResponseClass + ResponseCode of each response message. */
export function messages(res: EwsResponse): Array<{ cls: string; code: string; text: string; el: XmlElement }> {
  const out: Array<{ cls: string; code: string; text: string; el: XmlElement }> = [];
  const list = first(res.root, M, 'ResponseMessages');
  if (!list) return out;
  for (let n = list.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== 1) continue;
    const el = n as unknown as XmlElement;
    out.push({ cls: el.getAttribute('ResponseClass') ?? '', code: text(el, M, 'ResponseCode') ?? '', text: text(el, M, 'MessageText') ?? '', el });
  }
  return out;
}

export function itemIds(res: EwsResponse): Array<{ id: string; changeKey: string }> {
  return all(res.root, T, 'ItemId').map((el) => ({ id: el.getAttribute('Id') ?? '', changeKey: el.getAttribute('ChangeKey') ?? '' }));
}

export function faultCode(res: EwsResponse): string | undefined {
  return text(res.root, E, 'ResponseCode');
}

/** Validates envelopes with xmllint against src/sandbox/ews/schema/request.xsd (SOAP 1.1 + messages.xsd); returns the failures. */
export function xmllintFailures(envelopes: string[]): string[] {
  if (envelopes.length === 0) return [];
  const dir = mkdtempSync(join(tmpdir(), 'ews-test-'));
  try {
    const files = envelopes.map((xml, i) => {
      const file = join(dir, `e${i}.xml`);
      writeFileSync(file, xml);
      return file;
    });
    try {
      execFileSync(requireTool('xmllint'), ['--noout', '--nonet', '--schema', REQUEST_SCHEMA, ...files], { stdio: ['ignore', 'pipe', 'pipe'] });
      return [];
    } catch (error) {
      const out = String((error as { stderr?: Buffer }).stderr ?? '');
      return out.split('\n').filter((l) => l.includes('error')).map((l) => {
        const m = /e(\d+)\.xml:(\d+)/.exec(l);
        return m ? `${l}\n--- envelope ${m[1]} line ${m[2]}: ${(envelopes[Number(m[1])] ?? '').split('\n')[Number(m[2]) - 1]?.trim().slice(0, 300)}` : l;
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
