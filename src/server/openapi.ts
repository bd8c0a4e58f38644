// The OpenAPI 3.1 document of the push API, generated from the route table and its zod schemas, and a docs page
// rendered from it on the server (plain HTML and CSS, nothing loaded from elsewhere).
import { z } from 'zod';
import { PROBLEM_TYPES } from './problem.ts';
import { problemSchema } from './schemas.ts';

/**
 * Who may call a route; "admin": a key of the admin scope only; "session": a dashboard route, which checks its own
 * sessions (src/server/dashboard).
 */
export type RouteAuth = 'none' | 'docs' | 'read' | 'write' | 'admin' | 'session';

export interface RouteDoc {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  /** fastify form: /v1/calendars/:calendar */
  url: string;
  operationId: string;
  summary: string;
  description?: string;
  tag: string;
  auth: RouteAuth;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: { schema: z.ZodType; contentTypes: string[]; description?: string };
  responses: Record<number, { description: string; schema?: z.ZodType; contentType?: string; headers?: Record<string, string> }>;
}

type JsonSchema = Record<string, unknown>;

function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): JsonSchema {
  const { $schema: _ignored, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io, unrepresentable: 'any', reused: 'inline' }) as JsonSchema;
  return rest;
}

export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');
}

const PROBLEM_REF = { $ref: '#/components/schemas/Problem' };

export function buildOpenApi(routes: RouteDoc[], info: { version: string; publicDocs: boolean; limits: Record<string, number> }): JsonSchema {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const route of routes) {
    const parameters: unknown[] = [];
    for (const [location, schema] of [
      ['path', route.params],
      ['query', route.query],
    ] as const) {
      if (!schema) continue;
      const object = jsonSchema(schema, 'input') as { properties?: Record<string, JsonSchema>; required?: string[] };
      for (const [name, property] of Object.entries(object.properties ?? {})) {
        const { description, ...rest } = property;
        parameters.push({ name, in: location, required: location === 'path' || (object.required ?? []).includes(name), ...(description ? { description } : {}), schema: rest });
      }
    }
    const responses: Record<string, unknown> = {};
    const all = { ...route.responses };
    if (route.auth === 'read' || route.auth === 'write' || route.auth === 'admin' || (route.auth === 'docs' && !info.publicDocs)) {
      all[401] ??= { description: 'No valid API key' };
      all[403] ??= { description: 'The key lacks the scope or may not use the calendar' };
      all[429] ??= { description: 'Too many failed authentications from this address; see Retry-After', headers: { 'Retry-After': 'Seconds to wait' } };
    }
    for (const [status, response] of Object.entries(all)) {
      const isProblem = Number(status) >= 400;
      const contentType = response.contentType ?? (isProblem ? 'application/problem+json' : 'application/json');
      const schema = response.schema ? jsonSchema(response.schema, 'output') : isProblem ? PROBLEM_REF : undefined;
      responses[status] = {
        description: response.description,
        ...(response.headers ? { headers: Object.fromEntries(Object.entries(response.headers).map(([name, description]) => [name, { description, schema: { type: 'string' } }])) } : {}),
        ...(schema ? { content: { [contentType]: { schema } } } : {}),
      };
    }
    const operation: Record<string, unknown> = {
      operationId: route.operationId,
      summary: route.summary,
      ...(route.description ? { description: route.description } : {}),
      tags: [route.tag],
      ...(parameters.length ? { parameters } : {}),
      ...(route.body
        ? {
            requestBody: {
              required: true,
              ...(route.body.description ? { description: route.body.description } : {}),
              content: Object.fromEntries(route.body.contentTypes.map((type) => [type, { schema: jsonSchema(route.body!.schema, 'input') }])),
            },
          }
        : {}),
      responses,
      security: route.auth === 'none' || (route.auth === 'docs' && info.publicDocs) ? [] : [{ apiKey: [] }],
    };
    (paths[openApiPath(route.url)] ??= {})[route.method.toLowerCase()] = operation;
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'calpush push API',
      version: info.version,
      description:
        'Systems declare events; calpush keeps them in the calendars they belong to, touching only events it created. ' +
        'Writes are recorded in the desired state at once and answered 202; delivery follows (GET the status URL). ' +
        `Limits: ${Object.entries(info.limits)
          .map(([name, value]) => `${name} ${value}`)
          .join(', ')}.`,
    },
    // No jsonSchemaDialect: the default, OAS 3.1's base dialect (JSON Schema 2020-12 plus OpenAPI's keywords), reads
    // the schemas the same, and tools such as Swagger UI support only that one.
    servers: [{ url: '/' }],
    security: [{ apiKey: [] }],
    paths,
    components: {
      securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'An API key made with `calpush apikey create` (cpk_…)' } },
      schemas: { Problem: jsonSchema(problemSchema, 'output') },
    },
  };
}

const escape = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function schemaHtml(schema: unknown): string {
  return `<pre>${escape(JSON.stringify(schema, null, 2))}</pre>`;
}

/** The docs page: every operation with its parameters, bodies and answers, and the kinds of problem. */
export function renderDocsHtml(document: JsonSchema): string {
  const info = document.info as { title: string; version: string; description: string };
  const paths = document.paths as Record<string, Record<string, Record<string, unknown>>>;
  const sections: string[] = [];
  const toc: string[] = [];
  for (const [path, operations] of Object.entries(paths)) {
    for (const [method, operation] of Object.entries(operations)) {
      const id = String(operation.operationId);
      toc.push(`<li><a href="#${escape(id)}"><code>${method.toUpperCase()} ${escape(path)}</code></a> ${escape(String(operation.summary))}</li>`);
      const parts = [`<section id="${escape(id)}"><h2><code>${method.toUpperCase()} ${escape(path)}</code></h2><p>${escape(String(operation.summary))}</p>`];
      if (operation.description) parts.push(`<p>${escape(String(operation.description))}</p>`);
      const security = operation.security as unknown[];
      parts.push(`<p class="auth">${security.length ? 'Needs an API key.' : 'No API key needed.'}</p>`);
      const parameters = (operation.parameters ?? []) as Array<{ name: string; in: string; required: boolean; description?: string; schema: unknown }>;
      if (parameters.length) {
        parts.push('<h3>Parameters</h3><table><tr><th>name</th><th>in</th><th>required</th><th>description</th></tr>');
        for (const p of parameters) parts.push(`<tr><td><code>${escape(p.name)}</code></td><td>${p.in}</td><td>${p.required ? 'yes' : 'no'}</td><td>${escape(p.description ?? '')}</td></tr>`);
        parts.push('</table>');
      }
      const body = operation.requestBody as { description?: string; content: Record<string, { schema: unknown }> } | undefined;
      if (body) {
        parts.push(`<h3>Body</h3><p>${escape(Object.keys(body.content).join(', '))}${body.description ? ` — ${escape(body.description)}` : ''}</p>`);
        parts.push(`<details><summary>schema</summary>${schemaHtml(Object.values(body.content)[0]!.schema)}</details>`);
      }
      parts.push('<h3>Answers</h3><table><tr><th>status</th><th>description</th></tr>');
      for (const [status, response] of Object.entries(operation.responses as Record<string, { description: string; content?: Record<string, { schema: unknown }> }>)) {
        const schema = response.content ? Object.values(response.content)[0]!.schema : undefined;
        parts.push(`<tr><td>${status}</td><td>${escape(response.description)}${schema && !(schema as { $ref?: string }).$ref ? `<details><summary>schema</summary>${schemaHtml(schema)}</details>` : ''}</td></tr>`);
      }
      parts.push('</table></section>');
      sections.push(parts.join('\n'));
    }
  }
  const problems = Object.entries(PROBLEM_TYPES)
    .map(([kind, p]) => `<tr id="problem-${kind}"><td><code>${kind}</code></td><td>${p.status}</td><td>${escape(p.title)}. ${escape(p.description)}</td></tr>`)
    .join('\n');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${escape(info.title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.5 system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;color:#222}
code,pre{font:13px ui-monospace,monospace}pre{background:#f5f5f5;padding:.75rem;overflow:auto}
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left;vertical-align:top}
section{border-top:2px solid #eee;margin-top:2rem}.auth{color:#555;font-style:italic}
</style></head><body>
<h1>${escape(info.title)} <small>${escape(info.version)}</small></h1>
<p>${escape(info.description)}</p>
<p>The machine-readable contract: <a href="/openapi.json">/openapi.json</a> (OpenAPI 3.1). Send <code>Authorization: Bearer cpk_…</code>.</p>
<ul>${toc.join('\n')}</ul>
${sections.join('\n')}
<section><h2>Problems</h2><p>Errors are RFC 9457 <code>application/problem+json</code> documents; <code>errors</code> names each bad field.</p>
<table><tr><th>type</th><th>status</th><th>meaning</th></tr>${problems}</table></section>
</body></html>
`;
}
