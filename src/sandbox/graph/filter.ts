// A small OData $filter parser (tokenizer + recursive descent) and evaluator for the subset Graph's Outlook
// calendar endpoints use: comparisons (eq ne gt ge lt le), and/or/not, parentheses, startswith/endswith/contains,
// and any/all lambdas over collections — notably
//   singleValueExtendedProperties/Any(ep: ep/id eq '{id}' and ep/value eq '{value}')
// (https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get, "Get resource instances using
// filter"). Syntax per OData ABNF (https://docs.oasis-open.org/odata/odata/v4.01/odata-v4.01-part2-url-conventions.html).
//
// Errors: unparsable input → FilterSyntaxError (Graph answers 400 BadRequest "Invalid filter clause"); a property
// the event type does not have → FilterSemanticError (400 "Could not find a property named …").

export type Literal = string | number | boolean | null;

export type FilterNode =
  | { kind: 'or' | 'and'; left: FilterNode; right: FilterNode }
  | { kind: 'not'; operand: FilterNode }
  | { kind: 'cmp'; op: 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'; left: FilterNode; right: FilterNode }
  | { kind: 'call'; name: 'startswith' | 'endswith' | 'contains'; args: FilterNode[] }
  | { kind: 'path'; segments: string[] }
  | { kind: 'lambda'; collection: string[]; quantifier: 'any' | 'all'; variable?: string; body?: FilterNode }
  | { kind: 'literal'; value: Literal };

export class FilterSyntaxError extends Error {}
export class FilterSemanticError extends Error {}

type Token =
  | { type: 'ident'; value: string; pos: number }
  | { type: 'string'; value: string; pos: number }
  | { type: 'number'; value: number; pos: number }
  | { type: 'punct'; value: '(' | ')' | ',' | ':' | '/'; pos: number }
  | { type: 'end'; pos: number };

const MAX_LENGTH = 8192;
const MAX_DEPTH = 64;

export function tokenize(input: string): Token[] {
  if (input.length > MAX_LENGTH) throw new FilterSyntaxError('filter too long');
  const tokens: Token[] = [];
  let i = 0;
  while (i < input.length) {
    const c = input[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '(' || c === ')' || c === ',' || c === ':' || c === '/') {
      tokens.push({ type: 'punct', value: c, pos: i });
      i++;
      continue;
    }
    if (c === "'") {
      // OData string literal: single quotes, a quote inside is doubled.
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= input.length) throw new FilterSyntaxError(`unterminated string at ${i}`);
        const d = input[j]!;
        if (d === "'") {
          if (input[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          break;
        }
        value += d;
        j++;
      }
      tokens.push({ type: 'string', value, pos: i });
      i = j + 1;
      continue;
    }
    const number = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(input.slice(i, i + 64));
    if (number && (c !== '-' || /\d/.test(input[i + 1] ?? ''))) {
      tokens.push({ type: 'number', value: Number(number[0]), pos: i });
      i += number[0].length;
      continue;
    }
    const ident = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(input.slice(i, i + 256));
    if (ident) {
      tokens.push({ type: 'ident', value: ident[0], pos: i });
      i += ident[0].length;
      continue;
    }
    throw new FilterSyntaxError(`unexpected character '${c}' at ${i}`);
  }
  tokens.push({ type: 'end', pos: input.length });
  return tokens;
}

const COMPARISON = new Set(['eq', 'ne', 'gt', 'ge', 'lt', 'le']);
const FUNCTIONS = new Set(['startswith', 'endswith', 'contains']);

class Parser {
  private pos = 0;
  private depth = 0;
  private readonly tokens: Token[];
  constructor(tokens: Token[]) {
    this.tokens = tokens;
  }

  private peek(offset = 0): Token {
    return this.tokens[Math.min(this.pos + offset, this.tokens.length - 1)]!;
  }
  private next(): Token {
    const t = this.peek();
    if (this.pos < this.tokens.length - 1) this.pos++;
    return t;
  }
  private isKeyword(t: Token, word: string): boolean {
    return t.type === 'ident' && t.value === word;
  }
  private expectPunct(value: string): void {
    const t = this.next();
    if (t.type !== 'punct' || t.value !== value) throw new FilterSyntaxError(`expected '${value}' at ${t.pos}`);
  }
  private enter(): void {
    if (++this.depth > MAX_DEPTH) throw new FilterSyntaxError('filter nested too deeply');
  }
  private leave(): void {
    this.depth--;
  }

  parse(): FilterNode {
    const node = this.or();
    const t = this.peek();
    if (t.type !== 'end') throw new FilterSyntaxError(`unexpected token at ${t.pos}`);
    return node;
  }

  private or(): FilterNode {
    this.enter();
    let left = this.and();
    while (this.isKeyword(this.peek(), 'or')) {
      this.next();
      left = { kind: 'or', left, right: this.and() };
    }
    this.leave();
    return left;
  }

  private and(): FilterNode {
    let left = this.not();
    while (this.isKeyword(this.peek(), 'and')) {
      this.next();
      left = { kind: 'and', left, right: this.not() };
    }
    return left;
  }

  private not(): FilterNode {
    if (this.isKeyword(this.peek(), 'not')) {
      this.next();
      this.enter();
      const operand = this.not();
      this.leave();
      return { kind: 'not', operand };
    }
    return this.comparison();
  }

  private comparison(): FilterNode {
    const left = this.primary();
    const t = this.peek();
    if (t.type === 'ident' && COMPARISON.has(t.value)) {
      this.next();
      const right = this.primary();
      return { kind: 'cmp', op: t.value as 'eq', left, right };
    }
    return left;
  }

  private primary(): FilterNode {
    const t = this.next();
    if (t.type === 'punct' && t.value === '(') {
      const inner = this.or();
      this.expectPunct(')');
      return inner;
    }
    if (t.type === 'string') return { kind: 'literal', value: t.value };
    if (t.type === 'number') return { kind: 'literal', value: t.value };
    if (t.type === 'ident') {
      if (t.value === 'true' || t.value === 'false') return { kind: 'literal', value: t.value === 'true' };
      if (t.value === 'null') return { kind: 'literal', value: null };
      const after = this.peek();
      if (FUNCTIONS.has(t.value.toLowerCase()) && after.type === 'punct' && after.value === '(') {
        this.next();
        const args: FilterNode[] = [this.or()];
        while (this.peek().type === 'punct' && (this.peek() as { value: string }).value === ',') {
          this.next();
          args.push(this.or());
        }
        this.expectPunct(')');
        if (args.length !== 2) throw new FilterSyntaxError(`${t.value} takes two arguments`);
        return { kind: 'call', name: t.value.toLowerCase() as 'contains', args };
      }
      if (COMPARISON.has(t.value) || t.value === 'and' || t.value === 'or' || t.value === 'not') {
        throw new FilterSyntaxError(`unexpected keyword '${t.value}' at ${t.pos}`);
      }
      return this.path(t.value);
    }
    throw new FilterSyntaxError(`unexpected token at ${t.pos}`);
  }

  private path(first: string): FilterNode {
    const segments = [first];
    for (;;) {
      const slash = this.peek();
      if (!(slash.type === 'punct' && slash.value === '/')) break;
      this.next();
      const seg = this.next();
      if (seg.type !== 'ident') throw new FilterSyntaxError(`expected a property name at ${seg.pos}`);
      const lower = seg.value.toLowerCase();
      const open = this.peek();
      if ((lower === 'any' || lower === 'all') && open.type === 'punct' && open.value === '(') {
        this.next();
        const close = this.peek();
        if (close.type === 'punct' && close.value === ')') {
          this.next();
          if (lower === 'all') throw new FilterSyntaxError('all() needs a lambda');
          return { kind: 'lambda', collection: segments, quantifier: 'any' };
        }
        const variable = this.next();
        if (variable.type !== 'ident') throw new FilterSyntaxError(`expected a lambda variable at ${variable.pos}`);
        this.expectPunct(':');
        this.enter();
        const body = this.or();
        this.leave();
        this.expectPunct(')');
        return { kind: 'lambda', collection: segments, quantifier: lower, variable: variable.value, body };
      }
      segments.push(seg.value);
    }
    return { kind: 'path', segments };
  }
}

/** Parses a $filter expression; throws FilterSyntaxError (and only that) on bad input. */
export function parseFilter(input: string): FilterNode {
  try {
    const node = new Parser(tokenize(input)).parse();
    return node;
  } catch (error) {
    if (error instanceof FilterSyntaxError) throw error;
    // e.g. RangeError from pathological input: still a syntax error for the caller.
    throw new FilterSyntaxError(String(error));
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Evaluation against an event.

export interface ExtendedPropertyMatcher {
  /** Graph compares extended property ids with the property-set GUID and type case-insensitively but the name
   * part case-sensitively (protocol notes A2, https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get). */
  sameId(a: string, b: string): boolean;
}

/** Properties of microsoft.graph.event that $filter may name, with their kind. */
const EVENT_PROPERTIES: Record<string, 'string' | 'boolean' | 'number' | 'datetime' | 'complex' | 'collection'> = {
  id: 'string', subject: 'string', bodyPreview: 'string', importance: 'string', sensitivity: 'string', showAs: 'string', type: 'string',
  isAllDay: 'boolean', isCancelled: 'boolean', isOrganizer: 'boolean', isReminderOn: 'boolean', isDraft: 'boolean', isOnlineMeeting: 'boolean',
  hasAttachments: 'boolean', responseRequested: 'boolean', hideAttendees: 'boolean', allowNewTimeProposals: 'boolean',
  reminderMinutesBeforeStart: 'number', iCalUId: 'string', seriesMasterId: 'string', transactionId: 'string', changeKey: 'string',
  originalStartTimeZone: 'string', originalEndTimeZone: 'string', webLink: 'string', onlineMeetingProvider: 'string',
  createdDateTime: 'datetime', lastModifiedDateTime: 'datetime',
  start: 'complex', end: 'complex', location: 'complex', organizer: 'complex', body: 'complex', responseStatus: 'complex',
  categories: 'collection', singleValueExtendedProperties: 'collection', attendees: 'collection', locations: 'collection',
};

const PROPERTY_BY_LOWER = new Map(Object.keys(EVENT_PROPERTIES).map((k) => [k.toLowerCase(), k]));

function notFound(name: string, type = 'microsoft.graph.event'): FilterSemanticError {
  return new FilterSemanticError(`Could not find a property named '${name}' on type '${type}'.`);
}

/** Checks property names against the event type (OData names are case-sensitive; Graph tolerates case). */
export function validateFilter(node: FilterNode, variables: Set<string> = new Set()): void {
  switch (node.kind) {
    case 'or':
    case 'and':
      validateFilter(node.left, variables);
      validateFilter(node.right, variables);
      return;
    case 'not':
      return validateFilter(node.operand, variables);
    case 'cmp':
      validateFilter(node.left, variables);
      validateFilter(node.right, variables);
      return;
    case 'call':
      node.args.forEach((a) => validateFilter(a, variables));
      return;
    case 'literal':
      return;
    case 'path': {
      const [head, ...rest] = node.segments as [string, ...string[]];
      if (variables.has(head)) {
        if (rest.length === 0) return;
        return;
      }
      const name = PROPERTY_BY_LOWER.get(head.toLowerCase());
      if (!name) throw notFound(head);
      if (EVENT_PROPERTIES[name] !== 'complex' && rest.length > 0) throw notFound(rest[0]!, `Edm.${EVENT_PROPERTIES[name]}`);
      return;
    }
    case 'lambda': {
      const head = node.collection[0]!;
      const name = PROPERTY_BY_LOWER.get(head.toLowerCase());
      if (!name || node.collection.length > 1 || EVENT_PROPERTIES[name] !== 'collection') throw notFound(node.collection.join('/'));
      if (name === 'singleValueExtendedProperties') assertDocumentedExtendedPropertyFilter(node);
      if (node.body && node.variable) validateFilter(node.body, new Set([...variables, node.variable]));
      return;
    }
  }
}

/**
 * A filter on extended properties must take one of the documented forms: "use the $filter query parameter and apply
 * an eq operator on the id property. In addition, … For string-typed extended properties, apply a contains,
 * startswith, eq, or ne operator on value" (https://learn.microsoft.com/graph/api/singlevaluelegacyextendedproperty-get;
 * every example there is `Any(ep: ep/id eq '{id_value}' and <operator on ep/value>)`, and {property_value} is
 * "Required where listed"). The id alone, or endswith, is not documented, so a tenant may refuse it: the sandbox does.
 * [VERIFY] Graph's own wording for the refusal.
 */
function assertDocumentedExtendedPropertyFilter(node: Extract<FilterNode, { kind: 'lambda' }>): void {
  const variable = node.variable;
  const isVar = (n: FilterNode, property: string) =>
    n.kind === 'path' && n.segments.length === 2 && n.segments[0] === variable && n.segments[1]!.toLowerCase() === property;
  const isString = (n: FilterNode) => n.kind === 'literal' && typeof n.value === 'string';
  const idEq = (n: FilterNode) => n.kind === 'cmp' && n.op === 'eq' && isVar(n.left, 'id') && isString(n.right);
  const valueOp = (n: FilterNode) =>
    (n.kind === 'cmp' && (n.op === 'eq' || n.op === 'ne') && isVar(n.left, 'value') && isString(n.right)) ||
    (n.kind === 'call' && (n.name === 'startswith' || n.name === 'contains') && n.args.length === 2 && isVar(n.args[0]!, 'value') && isString(n.args[1]!));
  const body = node.body;
  const documented = node.quantifier === 'any' && body?.kind === 'and' && ((idEq(body.left) && valueOp(body.right)) || (idEq(body.right) && valueOp(body.left)));
  if (!documented) {
    throw new FilterSemanticError(
      "A filter on singleValueExtendedProperties must be Any(ep: ep/id eq '{id}' and <eq, ne, startswith or contains on ep/value>).",
    );
  }
}

type Value = Literal | undefined | Record<string, unknown> | unknown[];
type Scope = Map<string, { value: unknown; extendedProperty: boolean }>;

function getPath(root: unknown, segments: string[]): unknown {
  let current: unknown = root;
  for (const segment of segments) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    const record = current as Record<string, unknown>;
    const key = Object.keys(record).find((k) => k.toLowerCase() === segment.toLowerCase());
    current = key === undefined ? undefined : record[key];
  }
  return current;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}(T[\d:.]+)?(Z|[+-]\d{2}:\d{2})?$/;

function asInstant(value: unknown): number | undefined {
  if (typeof value !== 'string' || !ISO_DATE.test(value)) return undefined;
  // Graph compares dateTime strings of start/end as UTC wall clock; values without an offset are UTC.
  const trimmed = value.replace(/(\.\d{3})\d+/, '$1');
  const withZone = /(Z|[+-]\d{2}:\d{2})$/.test(trimmed) ? trimmed : `${trimmed}${trimmed.includes('T') ? '' : 'T00:00:00'}Z`;
  const t = Date.parse(withZone);
  return Number.isNaN(t) ? undefined : t;
}

interface Operand {
  value: unknown;
  /** set when the operand is `ep/id` of an extended property: ids compare by the special rule */
  extendedPropertyId: boolean;
}

export class FilterEvaluator {
  private readonly matcher: ExtendedPropertyMatcher;
  constructor(matcher: ExtendedPropertyMatcher) {
    this.matcher = matcher;
  }

  test(node: FilterNode, root: Record<string, unknown>, scope: Scope = new Map()): boolean {
    return this.truthy(this.eval(node, root, scope));
  }

  private truthy(value: unknown): boolean {
    return value === true;
  }

  private operand(node: FilterNode, root: Record<string, unknown>, scope: Scope): Operand {
    if (node.kind === 'path') {
      const [head, ...rest] = node.segments as [string, ...string[]];
      const bound = scope.get(head);
      if (bound) {
        const value = rest.length === 0 ? bound.value : getPath(bound.value, rest);
        return { value, extendedPropertyId: bound.extendedProperty && rest.length === 1 && rest[0]!.toLowerCase() === 'id' };
      }
      return { value: getPath(root, node.segments), extendedPropertyId: false };
    }
    return { value: this.eval(node, root, scope), extendedPropertyId: false };
  }

  private eval(node: FilterNode, root: Record<string, unknown>, scope: Scope): Value {
    switch (node.kind) {
      case 'literal':
        return node.value;
      case 'path':
        return this.operand(node, root, scope).value as Value;
      case 'or':
        return this.truthy(this.eval(node.left, root, scope)) || this.truthy(this.eval(node.right, root, scope));
      case 'and':
        return this.truthy(this.eval(node.left, root, scope)) && this.truthy(this.eval(node.right, root, scope));
      case 'not':
        return !this.truthy(this.eval(node.operand, root, scope));
      case 'cmp':
        return this.compare(node.op, this.operand(node.left, root, scope), this.operand(node.right, root, scope));
      case 'call': {
        const [a, b] = node.args.map((arg) => this.operand(arg, root, scope).value);
        if (typeof a !== 'string' || typeof b !== 'string') return false;
        // String functions on Outlook properties are case-insensitive (value filter, protocol notes A2).
        const x = a.toLowerCase();
        const y = b.toLowerCase();
        return node.name === 'startswith' ? x.startsWith(y) : node.name === 'endswith' ? x.endsWith(y) : x.includes(y);
      }
      case 'lambda': {
        const collection = getPath(root, node.collection);
        const items = Array.isArray(collection) ? collection : [];
        if (!node.body || !node.variable) return items.length > 0;
        const isExtended = node.collection[0]!.toLowerCase() === 'singlevalueextendedproperties';
        const test = (item: unknown) => {
          const inner: Scope = new Map(scope);
          inner.set(node.variable!, { value: item, extendedProperty: isExtended });
          return this.truthy(this.eval(node.body!, root, inner));
        };
        return node.quantifier === 'any' ? items.some(test) : items.every(test);
      }
    }
  }

  private compare(op: string, left: Operand, right: Operand): boolean {
    const a = left.value;
    const b = right.value;
    if (op === 'eq' || op === 'ne') {
      let equal: boolean;
      if ((left.extendedPropertyId || right.extendedPropertyId) && typeof a === 'string' && typeof b === 'string') {
        equal = this.matcher.sameId(a, b);
      } else if (typeof a === 'string' && typeof b === 'string') {
        const ta = asInstant(a);
        const tb = asInstant(b);
        equal = ta !== undefined && tb !== undefined ? ta === tb : a.toLowerCase() === b.toLowerCase();
      } else {
        equal = (a ?? null) === (b ?? null);
      }
      return op === 'eq' ? equal : !equal;
    }
    let order: number | undefined;
    if (typeof a === 'number' && typeof b === 'number') order = a - b;
    else if (typeof a === 'string' && typeof b === 'string') {
      const ta = asInstant(a);
      const tb = asInstant(b);
      order = ta !== undefined && tb !== undefined ? ta - tb : a.toLowerCase() < b.toLowerCase() ? -1 : a.toLowerCase() > b.toLowerCase() ? 1 : 0;
    }
    if (order === undefined) return false;
    switch (op) {
      case 'gt':
        return order > 0;
      case 'ge':
        return order >= 0;
      case 'lt':
        return order < 0;
      default:
        return order <= 0;
    }
  }
}
