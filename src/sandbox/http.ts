// A small HTTP toolkit for the sandbox: a router over node:http(s) request/response, body reading with a size
// limit, and JSON answers. No framework.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type Params = Record<string, string>;

export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  url: URL;
  params: Params;
  /** lower-cased header names; repeated headers joined with ", " */
  headers: Record<string, string>;
  /** set by handlers for the request log (e.g. the mailbox or the AADSTS code) */
  note?: string;
  /** set by a handler whose answer is to be lost (fault injection): the connection is closed instead */
  dropAnswer?: boolean;
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
}

/**
 * Routes like `/:tenant/oauth2/v2.0/token`; `:name` matches one path segment (percent-decoded), `*name` the rest.
 */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, path: string, handler: Handler): this {
    const names: string[] = [];
    const source = path
      .split('/')
      .map((segment) => {
        if (segment.startsWith(':')) {
          names.push(segment.slice(1));
          return '([^/]+)';
        }
        if (segment.startsWith('*')) {
          names.push(segment.slice(1));
          return '(.*)';
        }
        return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      })
      .join('/');
    this.routes.push({ method, pattern: new RegExp(`^${source}$`, 'i'), names, handler });
    return this;
  }

  /** The matching handler, or 'method' when only the method differs, or undefined. */
  match(method: string, pathname: string): { handler: Handler; params: Params } | 'method' | undefined {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(pathname);
      if (!m) continue;
      pathMatched = true;
      if (route.method !== method && route.method !== '*') continue;
      const params: Params = {};
      route.names.forEach((name, i) => {
        const raw = m[i + 1] ?? '';
        try {
          params[name] = decodeURIComponent(raw);
        } catch {
          params[name] = raw;
        }
      });
      return { handler: route.handler, params };
    }
    return pathMatched ? 'method' : undefined;
  }
}

export function lowerHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

export class BodyTooLargeError extends Error {}

/** Reads the whole body; rejects with BodyTooLargeError past `limit` bytes (and stops buffering). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > limit) {
        failed = true;
        reject(new BodyTooLargeError(`body larger than ${limit} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (!failed) resolve(Buffer.concat(chunks));
    });
    req.on('error', (error) => {
      if (!failed) reject(error);
    });
  });
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent || res.destroyed) return;
  const text = body === undefined ? '' : JSON.stringify(body);
  const out: Record<string, string | number> = { ...headers };
  if (body !== undefined) out['content-type'] ??= 'application/json; charset=utf-8';
  out['content-length'] = Buffer.byteLength(text);
  res.writeHead(status, out);
  res.end(text);
}

export function sleep(ms: number): Promise<void> {
  return ms > 0 ? new Promise((resolve) => setTimeout(resolve, ms)) : Promise.resolve();
}
