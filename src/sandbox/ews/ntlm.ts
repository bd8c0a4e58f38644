// The server side of NTLM over HTTP as IIS does it for Exchange on-premises EWS: NEGOTIATE (type 1) → CHALLENGE
// (type 2) → AUTHENTICATE (type 3) with an NTLMv2 response, verified against the account's password. NTLMv1/LM
// responses are refused (LmCompatibilityLevel 5, the setting Microsoft recommends).
//
// Message layouts: [MS-NLMP] https://learn.microsoft.com/openspecs/windows_protocols/ms-nlmp/ (2.2.1.1 NEGOTIATE_MESSAGE,
// 2.2.1.2 CHALLENGE_MESSAGE, 2.2.1.3 AUTHENTICATE_MESSAGE, 2.2.2.1 AV_PAIR, 3.3.2 NTLM v2 Authentication).
// HTTP binding: `WWW-Authenticate: NTLM <base64>` / `Authorization: NTLM <base64>`, the connection stays
// authenticated ([MS-NTHT] https://learn.microsoft.com/openspecs/windows_protocols/ms-ntht/).
//
// MD4 (for the NT hash, NTOWFv1 = MD4(UNICODE(password))) is implemented here because OpenSSL 3 moved MD4 to its
// legacy provider, which node:crypto does not load by default.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const SIGNATURE = Buffer.from('NTLMSSP\0', 'latin1');

export const NTLM_FLAGS = {
  UNICODE: 0x00000001,
  OEM: 0x00000002,
  REQUEST_TARGET: 0x00000004,
  SIGN: 0x00000010,
  SEAL: 0x00000020,
  NTLM: 0x00000200,
  ALWAYS_SIGN: 0x00008000,
  TARGET_TYPE_DOMAIN: 0x00010000,
  EXTENDED_SESSIONSECURITY: 0x00080000,
  TARGET_INFO: 0x00800000,
  VERSION: 0x02000000,
  N128: 0x20000000,
  KEY_EXCH: 0x40000000,
  N56: 0x80000000,
} as const;

/** MD4 (RFC 1320). */
export function md4(input: Buffer): Buffer {
  const length = input.length;
  const padded = Buffer.alloc(((length + 8) >> 6) * 64 + 64);
  input.copy(padded);
  padded[length] = 0x80;
  const bits = BigInt(length) * 8n;
  padded.writeUInt32LE(Number(bits & 0xffffffffn), padded.length - 8);
  padded.writeUInt32LE(Number((bits >> 32n) & 0xffffffffn), padded.length - 4);
  let a = 0x67452301;
  let b = 0xefcdab89;
  let c = 0x98badcfe;
  let d = 0x10325476;
  const rotl = (x: number, n: number) => (x << n) | (x >>> (32 - n));
  const x = new Array<number>(16);
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) x[i] = padded.readInt32LE(offset + i * 4);
    const [aa, bb, cc, dd] = [a, b, c, d];
    const F = (p: number, q: number, r: number) => (p & q) | (~p & r);
    const G = (p: number, q: number, r: number) => (p & q) | (p & r) | (q & r);
    const H = (p: number, q: number, r: number) => p ^ q ^ r;
    for (const i of [0, 4, 8, 12]) {
      a = rotl((a + F(b, c, d) + x[i]!) | 0, 3);
      d = rotl((d + F(a, b, c) + x[i + 1]!) | 0, 7);
      c = rotl((c + F(d, a, b) + x[i + 2]!) | 0, 11);
      b = rotl((b + F(c, d, a) + x[i + 3]!) | 0, 19);
    }
    for (const i of [0, 1, 2, 3]) {
      a = rotl((a + G(b, c, d) + x[i]! + 0x5a827999) | 0, 3);
      d = rotl((d + G(a, b, c) + x[i + 4]! + 0x5a827999) | 0, 5);
      c = rotl((c + G(d, a, b) + x[i + 8]! + 0x5a827999) | 0, 9);
      b = rotl((b + G(c, d, a) + x[i + 12]! + 0x5a827999) | 0, 13);
    }
    for (const i of [0, 2, 1, 3]) {
      a = rotl((a + H(b, c, d) + x[i]! + 0x6ed9eba1) | 0, 3);
      d = rotl((d + H(a, b, c) + x[i + 8]! + 0x6ed9eba1) | 0, 9);
      c = rotl((c + H(d, a, b) + x[i + 4]! + 0x6ed9eba1) | 0, 11);
      b = rotl((b + H(c, d, a) + x[i + 12]! + 0x6ed9eba1) | 0, 15);
    }
    a = (a + aa) | 0;
    b = (b + bb) | 0;
    c = (c + cc) | 0;
    d = (d + dd) | 0;
  }
  const out = Buffer.alloc(16);
  out.writeInt32LE(a, 0);
  out.writeInt32LE(b, 4);
  out.writeInt32LE(c, 8);
  out.writeInt32LE(d, 12);
  return out;
}

/** NTOWFv1 = MD4(UNICODE(Passwd)) ([MS-NLMP] 3.3.1). */
export function ntHash(password: string): Buffer {
  return md4(Buffer.from(password, 'utf16le'));
}

/** NTOWFv2 = HMAC_MD5(MD4(UNICODE(Passwd)), UNICODE(ConcatenationOf(Uppercase(User), UserDom))) ([MS-NLMP] 3.3.2). */
export function ntowfv2(password: string, user: string, domain: string): Buffer {
  return createHmac('md5', ntHash(password)).update(Buffer.from(user.toUpperCase() + domain, 'utf16le')).digest();
}

export function messageType(token: Buffer): number | undefined {
  if (token.length < 12 || !token.subarray(0, 8).equals(SIGNATURE)) return undefined;
  return token.readUInt32LE(8);
}

export interface ChallengeState {
  serverChallenge: Buffer;
  flags: number;
}

function avPair(id: number, value: Buffer): Buffer {
  const head = Buffer.alloc(4);
  head.writeUInt16LE(id, 0);
  head.writeUInt16LE(value.length, 2);
  return Buffer.concat([head, value]);
}

/** Windows FILETIME (100 ns since 1601-01-01) as 8 little-endian bytes. */
function fileTime(ms: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeBigUInt64LE((BigInt(ms) + 11644473600000n) * 10000n);
  return out;
}

/** CHALLENGE_MESSAGE for a NEGOTIATE_MESSAGE ([MS-NLMP] 2.2.1.2), with the server's names in the target info. */
export function createChallenge(negotiate: Buffer, names: { netbiosDomain: string; netbiosComputer: string; dnsDomain: string; dnsComputer: string }): { message: Buffer; state: ChallengeState } {
  const clientFlags = negotiate.length >= 16 ? negotiate.readUInt32LE(12) : 0;
  const F = NTLM_FLAGS;
  let flags = F.UNICODE | F.REQUEST_TARGET | F.NTLM | F.ALWAYS_SIGN | F.TARGET_TYPE_DOMAIN | F.TARGET_INFO | F.VERSION | F.N128 | F.N56;
  flags |= clientFlags & (F.EXTENDED_SESSIONSECURITY | F.SIGN | F.SEAL | F.KEY_EXCH);
  if (!(clientFlags & F.UNICODE) && clientFlags & F.OEM) flags = (flags & ~F.UNICODE) | F.OEM;
  const encode = (s: string) => (flags & F.UNICODE ? Buffer.from(s, 'utf16le') : Buffer.from(s, 'latin1'));
  const targetName = encode(names.netbiosDomain);
  const targetInfo = Buffer.concat([
    avPair(2, Buffer.from(names.netbiosDomain, 'utf16le')), // MsvAvNbDomainName
    avPair(1, Buffer.from(names.netbiosComputer, 'utf16le')), // MsvAvNbComputerName
    avPair(4, Buffer.from(names.dnsDomain, 'utf16le')), // MsvAvDnsDomainName
    avPair(3, Buffer.from(names.dnsComputer, 'utf16le')), // MsvAvDnsComputerName
    avPair(7, fileTime(Date.now())), // MsvAvTimestamp
    avPair(0, Buffer.alloc(0)), // MsvAvEOL
  ]);
  const serverChallenge = randomBytes(8);
  const header = Buffer.alloc(56);
  SIGNATURE.copy(header, 0);
  header.writeUInt32LE(2, 8);
  header.writeUInt16LE(targetName.length, 12);
  header.writeUInt16LE(targetName.length, 14);
  header.writeUInt32LE(56, 16);
  header.writeUInt32LE(flags >>> 0, 20);
  serverChallenge.copy(header, 24);
  // 32..39 reserved
  header.writeUInt16LE(targetInfo.length, 40);
  header.writeUInt16LE(targetInfo.length, 42);
  header.writeUInt32LE(56 + targetName.length, 44);
  // Version: Windows Server 2016 (10.0 build 14393), NTLMSSP_REVISION_W2K3 (15).
  header.writeUInt8(10, 48);
  header.writeUInt8(0, 49);
  header.writeUInt16LE(14393, 50);
  header.writeUInt8(15, 55);
  return { message: Buffer.concat([header, targetName, targetInfo]), state: { serverChallenge, flags } };
}

export interface AuthenticateMessage {
  user: string;
  domain: string;
  workstation: string;
  ntResponse: Buffer;
  lmResponse: Buffer;
  flags: number;
}

/** Parses an AUTHENTICATE_MESSAGE ([MS-NLMP] 2.2.1.3); undefined when malformed. */
export function parseAuthenticate(token: Buffer): AuthenticateMessage | undefined {
  if (messageType(token) !== 3 || token.length < 64) return undefined;
  const field = (offset: number): Buffer | undefined => {
    const len = token.readUInt16LE(offset);
    const at = token.readUInt32LE(offset + 4);
    if (at + len > token.length) return undefined;
    return token.subarray(at, at + len);
  };
  const flags = token.readUInt32LE(60);
  const lm = field(12);
  const nt = field(20);
  const domain = field(28);
  const user = field(36);
  const workstation = field(44);
  if (!lm || !nt || !domain || !user || !workstation) return undefined;
  const decode = (b: Buffer) => (flags & NTLM_FLAGS.UNICODE ? b.toString('utf16le') : b.toString('latin1'));
  return { user: decode(user), domain: decode(domain), workstation: decode(workstation), ntResponse: Buffer.from(nt), lmResponse: Buffer.from(lm), flags };
}

/**
 * Verifies an NTLMv2 response ([MS-NLMP] 3.3.2): NTProofStr = HMAC_MD5(NTOWFv2, ServerChallenge ‖ temp), where the
 * client sends NTProofStr ‖ temp. The domain is the one the client put in the message (that is what it hashed).
 */
export function verifyNtlmV2(message: AuthenticateMessage, state: ChallengeState, password: string): boolean {
  const nt = message.ntResponse;
  if (nt.length <= 24) return false; // NTLMv1 / anonymous: refused
  const proof = nt.subarray(0, 16);
  const temp = nt.subarray(16);
  const key = ntowfv2(password, message.user, message.domain);
  const expected = createHmac('md5', key).update(Buffer.concat([state.serverChallenge, temp])).digest();
  return timingSafeEqual(proof, expected);
}
