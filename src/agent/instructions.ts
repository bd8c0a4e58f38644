// VMR joining instructions: the per-mailbox template filled in for one meeting, and the block calpush adds to an
// organiser's meeting body (Pexip's full mode) between its markers. Pure.
//
// The block is tagged like our events are: the begin marker carries the tag's format, the instance and a hash of the
// block's text, so calpush finds only what it added — and when someone edited the text inside the block, the hash
// no longer matches and calpush leaves it alone ("the agent never changes content it did not add"). The hash is over
// the block's text with tags and spacing removed, so a mail server that re-serialises the HTML does not make the
// block look edited.
import { createHash } from 'node:crypto';

export interface JoiningTemplate {
  /** HTML with placeholders {alias} {number} {dialIn} {webLink} {subject} {organizer}. */
  html: string;
  /** Plain text with the same placeholders. */
  text: string;
}

export interface JoiningFacts {
  alias: string;
  number: string;
  dialIn: string;
  webLink: string;
  subject: string;
  organizer: string;
}

export interface Body {
  contentType: 'html' | 'text';
  content: string;
}

export const PLACEHOLDERS = ['alias', 'number', 'dialIn', 'webLink', 'subject', 'organizer'] as const;

/** A template's placeholders that are not known (for the config's check). */
export function unknownPlaceholders(template: string): string[] {
  return [...template.matchAll(/\{([A-Za-z]+)\}/g)].map((m) => m[1]!).filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name));
}

/** Fills `template`; in HTML the values are escaped (a subject is the organiser's text). */
export function fill(template: string, facts: JoiningFacts, html: boolean): string {
  return template.replace(/\{([A-Za-z]+)\}/g, (whole, name: string) => {
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) return whole;
    const value = facts[name as keyof JoiningFacts];
    return html ? escapeHtml(value) : value;
  });
}

export function render(template: JoiningTemplate, facts: JoiningFacts): { html: string; text: string } {
  return { html: fill(template.html, facts, true), text: fill(template.text, facts, false) };
}

export function escapeHtml(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

// ---- the block in a body ------------------------------------------------------------------------------------------

const NAME = 'calpush-joining-instructions';

/** The block's text as the hash sees it: tags, entities and spacing out. */
export function blockText(inner: string): string {
  return inner
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(nbsp|#160);/g, ' ')
    .replace(/&(amp|lt|gt|quot|#39);/g, (_, e: string) => ({ amp: '&', lt: '<', gt: '>', quot: '"', '#39': "'" })[e]!)
    .replace(/\s+/g, ' ')
    .trim();
}

function hashOf(inner: string): string {
  return createHash('sha256').update(blockText(inner)).digest('hex').slice(0, 16);
}

function markers(contentType: Body['contentType'], instance: string, hash: string): { begin: string; end: string } {
  return contentType === 'html'
    ? { begin: `<!-- ${NAME} v1;${instance};${hash} -->`, end: `<!-- /${NAME} -->` }
    : { begin: `-- ${NAME} v1;${instance};${hash} --`, end: `-- /${NAME} --` };
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

export type BlockState = { state: 'absent' } | { state: 'ours'; inner: string; start: number; end: number } | { state: 'edited'; start: number; end: number };

/** Our block in `body`: absent, ours as we wrote it, or edited by someone since (the hash no longer matches). */
export function findBlock(body: Body, instance: string): BlockState {
  const { begin, end } = markers(body.contentType, instance, 'HASH');
  const [beginHead, beginTail] = begin.split('HASH') as [string, string];
  const pattern = new RegExp(`${escapeRegExp(beginHead)}([0-9a-f]{16})${escapeRegExp(beginTail)}([\\s\\S]*?)${escapeRegExp(end)}`);
  const match = pattern.exec(body.content);
  if (!match) return { state: 'absent' };
  const [whole, hash, inner] = match as unknown as [string, string, string];
  const range = { start: match.index, end: match.index + whole.length };
  return hash === hashOf(inner) ? { state: 'ours', inner, ...range } : { state: 'edited', ...range };
}

/** The block holding `instructions` (the form that fits the body's type). */
export function block(contentType: Body['contentType'], instance: string, instructions: { html: string; text: string }): string {
  const inner = contentType === 'html' ? `<div>${instructions.html}</div>` : `\n${instructions.text}\n`;
  const { begin, end } = markers(contentType, instance, hashOf(inner));
  return `${begin}${inner}${end}`;
}

export type BodyChange = { changed: true; body: Body } | { changed: false; why: 'same' | 'edited' | 'absent' };

/**
 * The body with our block holding `instructions`: added at the end when absent, replaced when ours and different.
 * Everything outside the block stays as it was, byte for byte; a block someone edited is left alone.
 */
export function withInstructions(body: Body, instance: string, instructions: { html: string; text: string }): BodyChange {
  const found = findBlock(body, instance);
  const fresh = block(body.contentType, instance, instructions);
  if (found.state === 'edited') return { changed: false, why: 'edited' };
  if (found.state === 'ours') {
    const current = body.content.slice(found.start, found.end);
    if (current === fresh) return { changed: false, why: 'same' };
    return { changed: true, body: { ...body, content: body.content.slice(0, found.start) + fresh + body.content.slice(found.end) } };
  }
  return { changed: true, body: { ...body, content: appendBlock(body, fresh) } };
}

/** The body without our block (when it is ours and unedited); everything else stays. */
export function withoutInstructions(body: Body, instance: string): BodyChange {
  const found = findBlock(body, instance);
  if (found.state !== 'ours') return { changed: false, why: found.state === 'edited' ? 'edited' : 'absent' };
  return { changed: true, body: { ...body, content: body.content.slice(0, found.start) + body.content.slice(found.end) } };
}

/** In HTML before the closing </body> when there is one (Exchange wraps bodies in html/body), else at the end. */
function appendBlock(body: Body, fresh: string): string {
  if (body.contentType === 'html') {
    const close = body.content.search(/<\/body\s*>/i);
    if (close >= 0) return body.content.slice(0, close) + fresh + body.content.slice(close);
  }
  return body.content + fresh;
}
