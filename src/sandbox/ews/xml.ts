// XML helpers for the EWS side of the sandbox: namespace-aware parsing (@xmldom/xmldom, with line/column numbers)
// and string building with escaping. Responses are written as text in the element order of Microsoft's schema.
import { DOMParser, type Element as XmlElement, type Node as XmlNode } from '@xmldom/xmldom';

export type { XmlElement };

/** SOAP 1.1 and EWS namespaces (https://learn.microsoft.com/exchange/client-developer/web-service-reference/ews-xml-elements-in-exchange). */
export const NS = {
  soap: 'http://schemas.xmlsoap.org/soap/envelope/',
  m: 'http://schemas.microsoft.com/exchange/services/2006/messages',
  t: 'http://schemas.microsoft.com/exchange/services/2006/types',
  e: 'http://schemas.microsoft.com/exchange/services/2006/errors',
} as const;

const ELEMENT_NODE = 1;

export class XmlParseError extends Error {
  readonly line: number;
  readonly column: number;
  constructor(message: string, line: number, column: number) {
    super(message);
    this.line = line;
    this.column = column;
  }
}

/** Parses a document; throws XmlParseError (with the position) when it is not well-formed. */
export function parseXml(text: string): XmlElement {
  let failure: XmlParseError | undefined;
  const parser = new DOMParser({
    onError: (level, message) => {
      if (level === 'warning') return;
      const m = /line:\s*(\d+)[^\d]+col:\s*(\d+)/i.exec(message);
      failure ??= new XmlParseError(message.replace(/\s*\n?@#\[line:.*$/s, '').trim(), m ? Number(m[1]) : 1, m ? Number(m[2]) : 1);
      throw failure;
    },
  });
  try {
    const doc = parser.parseFromString(text, 'text/xml');
    const root = doc.documentElement;
    if (!root) throw new XmlParseError('Root element is missing.', 1, 1);
    return root as unknown as XmlElement;
  } catch (error) {
    if (failure) throw failure;
    if (error instanceof XmlParseError) throw error;
    throw new XmlParseError((error as Error).message, 1, 1);
  }
}

export function elements(parent: XmlElement | undefined, ns?: string, local?: string): XmlElement[] {
  const out: XmlElement[] = [];
  if (!parent) return out;
  for (let n: XmlNode | null = parent.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== ELEMENT_NODE) continue;
    const el = n as unknown as XmlElement;
    if (ns !== undefined && el.namespaceURI !== ns) continue;
    if (local !== undefined && el.localName !== local) continue;
    out.push(el);
  }
  return out;
}

export function element(parent: XmlElement | undefined, ns: string, local: string): XmlElement | undefined {
  return elements(parent, ns, local)[0];
}

/** The first element child whatever its name. */
export function firstElement(parent: XmlElement | undefined): XmlElement | undefined {
  return elements(parent)[0];
}

export function textOf(el: XmlElement | undefined): string {
  return el?.textContent ?? '';
}

export function attr(el: XmlElement | undefined, name: string): string | undefined {
  if (!el || !el.hasAttribute(name)) return undefined;
  return el.getAttribute(name) ?? undefined;
}

/** Escapes text and attribute values. */
export function esc(value: string | number | boolean): string {
  return String(value).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** `<t:Name>text</t:Name>` */
export function tEl(name: string, value: string | number | boolean): string {
  return `<t:${name}>${esc(value)}</t:${name}>`;
}

/** Line/column of an element for ErrorSchemaValidation positions (xmldom records them on nodes). */
export function positionOf(el: XmlElement | undefined): { line: number; column: number } {
  const n = el as unknown as { lineNumber?: number; columnNumber?: number } | undefined;
  return { line: n?.lineNumber ?? 1, column: n?.columnNumber ?? 1 };
}

/** Walks the tree depth-first. */
export function* walk(root: XmlElement): Generator<XmlElement> {
  yield root;
  for (const child of elements(root)) yield* walk(child);
}
