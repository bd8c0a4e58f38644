// Schema validation of EWS requests with libxml2's xmllint against Microsoft's schema as the repository ships it
// (src/sandbox/ews/schema: messages.xsd, types.xsd, copied unchanged).
//
// A request is a SOAP envelope; the schema declares the body's element (m:CreateItem, …) as a top-level element
// of the messages namespace, and the header's (t:RequestServerVersion, t:ExchangeImpersonation) in the types
// namespace. So each part is cut out of the envelope as it was sent, given the namespace declarations it inherited,
// and validated as a standalone document against messages.xsd or types.xsd. One xmllint run validates many files.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NS_MESSAGES, NS_TYPES } from '../../src/targets/ews/xml.ts';

export const REFERENCE = resolve(import.meta.dirname, '../../src/sandbox/ews/schema');
export const MESSAGES_XSD = join(REFERENCE, 'messages.xsd');
export const TYPES_XSD = join(REFERENCE, 'types.xsd');

export function xmllintAvailable(): boolean {
  return !spawnSync('xmllint', ['--version'], { encoding: 'utf8' }).error && existsSync(MESSAGES_XSD);
}

/** On CI the schema tests must run: a missing xmllint fails them instead of skipping them. */
export function requireXmllintOnCi(): boolean {
  const available = xmllintAvailable();
  if (!available && process.env.CI === 'true') {
    throw new Error('xmllint (Debian package libxml2-utils) or src/sandbox/ews/schema/messages.xsd is missing on CI: the EWS schema tests cannot run');
  }
  return available;
}

const DECLARATIONS = `xmlns:m="${NS_MESSAGES}" xmlns:t="${NS_TYPES}"`;

/** Gives a cut-out element the namespace declarations of the envelope it came from. */
function standalone(element: string): string {
  return `<?xml version="1.0" encoding="utf-8"?>${element.replace(/^<([\w:]+)/, `<$1 ${DECLARATIONS}`)}`;
}

/** The element inside soap:Body, as a standalone document. */
export function bodyElement(envelope: string): string {
  const match = /<soap:Body>([\s\S]*)<\/soap:Body>/.exec(envelope);
  if (!match) throw new Error(`no soap:Body in ${envelope.slice(0, 200)}`);
  return standalone(match[1]!);
}

/** The elements inside soap:Header, each as a standalone document. */
export function headerElements(envelope: string): string[] {
  const match = /<soap:Header>([\s\S]*?)<\/soap:Header>/.exec(envelope);
  if (!match) return [];
  const parts: string[] = [];
  const pattern = /<(t:[A-Za-z]+)(?:[^>]*\/>|[^>]*>[\s\S]*?<\/\1>)/g;
  for (const part of match[1]!.matchAll(pattern)) parts.push(standalone(part[0]));
  return parts;
}

export interface LintResult {
  ok: boolean;
  output: string;
}

/** Validates documents against a schema in one xmllint run; results in order. */
export function validate(documents: string[], schema: string): LintResult[] {
  if (documents.length === 0) return [];
  const dir = mkdtempSync(join(tmpdir(), 'calpush-ews-xsd-'));
  try {
    const files = documents.map((document, index) => {
      const file = join(dir, `d${index}.xml`);
      writeFileSync(file, document);
      return file;
    });
    const run = spawnSync('xmllint', ['--noout', '--nonet', '--schema', schema, ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const output = `${run.stdout ?? ''}${run.stderr ?? ''}`;
    return files.map((file) => {
      const lines = output.split('\n').filter((line) => line.startsWith(`${file}:`) || line.startsWith(`${file} `));
      return { ok: lines.some((line) => line === `${file} validates`), output: lines.join('\n') };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Validates the body and header parts of SOAP envelopes; returns the failures with their document. */
export function validateEnvelopes(envelopes: string[]): Array<{ document: string; output: string }> {
  const bodies = envelopes.map(bodyElement);
  const headers = envelopes.flatMap(headerElements);
  const failures: Array<{ document: string; output: string }> = [];
  validate(bodies, MESSAGES_XSD).forEach((result, index) => {
    if (!result.ok) failures.push({ document: bodies[index]!, output: result.output });
  });
  validate(headers, TYPES_XSD).forEach((result, index) => {
    if (!result.ok) failures.push({ document: headers[index]!, output: result.output });
  });
  return failures;
}
