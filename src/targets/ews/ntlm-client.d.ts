// Types for @ewsjs/ntlm-client (plain JavaScript, no bundled types): the three NTLM message functions calpush uses.
declare module '@ewsjs/ntlm-client' {
  export interface Type2Message {
    flags: number;
    encoding: 'ascii' | 'ucs2';
    /** 2 when the server negotiated NTLMv2 (NTLM2_KEY): LMv2 + NTLMv2 responses are sent. */
    version: 1 | 2;
    challenge: Buffer;
    targetName: string;
    targetInfo?: { parsed: Record<string, string>; buffer: Buffer };
  }
  interface NtlmClient {
    createType1Message(workstation?: string, target?: string): string;
    /** The WWW-Authenticate header ("NTLM <base64>") or the bare base64 message. Throws on a malformed message. */
    decodeType2Message(header: string): Type2Message;
    createType3Message(type2: Type2Message, username: string, password: string, workstation?: string, target?: string): string;
  }
  const ntlm: NtlmClient;
  export default ntlm;
}
