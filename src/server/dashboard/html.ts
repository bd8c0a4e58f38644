// HTML built from tagged templates that escape every value put into them: a mailbox address, an error message, an
// event subject are untrusted input (an event's subject is whatever a source system or a feed said), and the one
// way to put text into a page is as text. Only an Html value — made by this module from a template or by
// joining Html values — goes in unescaped. Templates quote every attribute with ", so escaping &, <, >, " and '
// covers both text and attribute values (the OWASP XSS prevention cheat sheet's rules for those two contexts).
// No value ever goes into a <script>, a style, an event-handler attribute or an unquoted attribute.

export class Html {
  readonly value: string;
  constructor(value: string) {
    this.value = value;
  }
  toString(): string {
    return this.value;
  }
}

export type HtmlValue = Html | string | number | null | undefined | false | readonly HtmlValue[];

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!);
}

function render(value: HtmlValue): string {
  if (value instanceof Html) return value.value;
  if (Array.isArray(value)) return value.map(render).join('');
  if (value === null || value === undefined || value === false) return '';
  return escapeHtml(String(value));
}

/** html`<p>${text}</p>`: the values are escaped, nested html`` values and arrays of them are kept. */
export function html(strings: TemplateStringsArray, ...values: HtmlValue[]): Html {
  let out = strings[0]!;
  values.forEach((value, index) => {
    out += render(value) + strings[index + 1]!;
  });
  return new Html(out);
}

/** A path of the dashboard with its segments percent-encoded and a query string (escaped again where it is put). */
export function href(path: string, query: Record<string, string | number | undefined> = {}): string {
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) if (value !== undefined && value !== '') params.set(name, String(value));
  const search = params.toString();
  return search ? `${path}?${search}` : path;
}

export const mailboxHref = (calendar: string): string => `/mailboxes/${encodeURIComponent(calendar)}`;
