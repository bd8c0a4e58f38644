// XML for EWS: a small typed element tree serialised by fast-xml-parser's builder (which escapes every text and
// attribute value), and a tolerant reader for SOAP answers.
//
// Requests are never assembled by string concatenation of input: every value goes through `el()` as a text child
// or an attribute, is stripped of what XML 1.0 cannot carry, and is escaped by the builder. Element order is
// explicit (the builder's preserveOrder form), because EWS validates requests against its schema and the schema's
// sequences fix the order of an item's children.
import { XMLBuilder, XMLParser } from 'fast-xml-parser';

export const NS_SOAP = 'http://schemas.xmlsoap.org/soap/envelope/';
export const NS_MESSAGES = 'http://schemas.microsoft.com/exchange/services/2006/messages';
export const NS_TYPES = 'http://schemas.microsoft.com/exchange/services/2006/types';

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlChild[];
}
export type XmlChild = XmlElement | string;

/**
 * One element. Attributes whose value is undefined are left out; children that are undefined, null or false are
 * skipped, so optional parts read naturally: `el('t:Location', {}, event.location ?? undefined)`.
 */
export function el(name: string, attrs: Record<string, string | undefined> = {}, ...children: Array<XmlChild | XmlChild[] | undefined | null | false>): XmlElement {
  const cleanAttrs: Record<string, string> = {};
  for (const [key, value] of Object.entries(attrs)) if (value !== undefined) cleanAttrs[key] = value;
  const flat: XmlChild[] = [];
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) flat.push(...child);
    else flat.push(child);
  }
  return { name, attrs: cleanAttrs, children: flat };
}

// Characters XML 1.0 cannot carry at all (https://www.w3.org/TR/xml/#charsets): C0 controls other than tab, LF and
// CR, lone surrogates, U+FFFE and U+FFFF. A subject pasted from a terminal can hold them; they are dropped.
const NOT_XML_CHAR = /[^\u0009\u000A\u000D\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** The text without the characters XML 1.0 forbids. */
export function xmlSafe(text: string): string {
  return text.replace(NOT_XML_CHAR, '');
}

type Ordered = Record<string, unknown>;

function toOrdered(node: XmlElement): Ordered {
  const children = node.children.map((child) => (typeof child === 'string' ? { '#text': xmlSafe(child) } : toOrdered(child)));
  const out: Ordered = { [node.name]: children };
  const attrs = Object.entries(node.attrs);
  if (attrs.length) out[':@'] = Object.fromEntries(attrs.map(([key, value]) => [`@_${key}`, xmlSafe(value)]));
  return out;
}

const builder = new XMLBuilder({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  suppressEmptyNode: true,
  // Escapes & < > " ' in text and attribute values.
  processEntities: true,
  format: false,
});

export function serialize(node: XmlElement): string {
  return builder.build([toOrdered(node)]) as string;
}

export function soapEnvelope(header: XmlElement[], body: XmlElement): string {
  const envelope = el(
    'soap:Envelope',
    { 'xmlns:soap': NS_SOAP, 'xmlns:t': NS_TYPES, 'xmlns:m': NS_MESSAGES },
    el('soap:Header', {}, header),
    el('soap:Body', {}, body),
  );
  return `<?xml version="1.0" encoding="utf-8"?>${serialize(envelope)}`;
}

// ---------------------------------------------------------------------------------------------------------------
// Reading answers. Namespace prefixes are dropped (Exchange uses s:, m:, t:, e: and sometimes default namespaces);
// attributes are kept under "@_"; every value stays a string. DOCTYPE entities are never expanded.

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  // Numeric character references (&#xD;) are decoded; named HTML entities too, harmlessly.
  htmlEntities: true,
  trimValues: true,
});

export type XmlValue = Record<string, unknown>;

/** The parsed document, or null when the text is not XML at all. Never throws. */
export function parseXml(text: string): XmlValue | null {
  try {
    const value: unknown = parser.parse(text);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as XmlValue) : null;
  } catch {
    return null;
  }
}

function asNode(value: unknown): XmlValue | null {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value as XmlValue;
  // An element with only text content parses to a string: give it the node shape.
  if (typeof value === 'string') return { '#text': value };
  return null;
}

/** All child elements called `name` (zero, one or many). */
export function children(node: unknown, name: string): XmlValue[] {
  const parent = asNode(node);
  if (!parent) return [];
  const value = parent[name];
  if (value === undefined) return [];
  const list = Array.isArray(value) ? value : [value];
  return list.map((item) => asNode(item)).filter((item): item is XmlValue => item !== null);
}

export function child(node: unknown, name: string): XmlValue | null {
  return children(node, name)[0] ?? null;
}

/** Follows a path of child names; null when any step is missing. */
export function path(node: unknown, ...names: string[]): XmlValue | null {
  let current: XmlValue | null = asNode(node);
  for (const name of names) {
    if (!current) return null;
    current = child(current, name);
  }
  return current;
}

export function text(node: unknown): string {
  if (typeof node === 'string') return node;
  const value = asNode(node)?.['#text'];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : '';
}

export function attr(node: unknown, name: string): string | undefined {
  const value = asNode(node)?.[`@_${name}`];
  return typeof value === 'string' ? value : undefined;
}

/** Every descendant element called `name`, depth first (for MessageXml's Value elements wherever they sit). */
export function descendants(node: unknown, name: string, depth = 0): XmlValue[] {
  const parent = asNode(node);
  if (!parent || depth > 32) return [];
  const found: XmlValue[] = [];
  for (const [key, value] of Object.entries(parent)) {
    if (key.startsWith('@_') || key === '#text') continue;
    for (const item of Array.isArray(value) ? value : [value]) {
      if (key === name) {
        const n = asNode(item);
        if (n) found.push(n);
      }
      found.push(...descendants(item, name, depth + 1));
    }
  }
  return found;
}
