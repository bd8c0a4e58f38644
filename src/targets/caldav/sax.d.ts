// Types for sax (plain JavaScript, no bundled types): the streaming parser the CalDAV listing reads its
// multi-status answers with.
declare module 'sax' {
  export interface QualifiedTag {
    name: string;
    /** The local name (without prefix), with the `xmlns` option. */
    local: string;
    /** The namespace URI, with the `xmlns` option. */
    uri: string;
  }
  export interface SAXParser {
    onopentag: (tag: QualifiedTag) => void;
    onclosetag: (name: string) => void;
    ontext: (text: string) => void;
    oncdata: (text: string) => void;
    onerror: (error: Error) => void;
    write(chunk: string): SAXParser;
    close(): SAXParser;
  }
  export function parser(strict: boolean, options?: { xmlns?: boolean; trim?: boolean; normalize?: boolean; position?: boolean }): SAXParser;
  const sax: { parser: typeof parser };
  export default sax;
}
