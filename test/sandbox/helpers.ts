// Test helpers for the sandbox: HTTPS over node:https trusting the sandbox CA, an msal-node INetworkModule built
// on it, and a tiny Graph client.
import { Agent, request } from 'node:https';
import type { INetworkModule, NetworkRequestOptions, NetworkResponse } from '@azure/msal-node';
import type { Sandbox } from '../../src/sandbox/index.ts';

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  text: string;
}

const agents = new Map<string, Agent>();
function agentFor(ca: string): Agent {
  let agent = agents.get(ca);
  if (!agent) {
    // A new connection per request: a kept-alive socket can be reset by the sandbox's keepAliveTimeout just as a
    // request goes out on it (CI saw `read ECONNRESET` once), and resending a POST would hide what the fault tests
    // look for (a create committed before its connection was cut).
    agent = new Agent({ ca, keepAlive: false, maxSockets: 64 });
    agents.set(ca, agent);
  }
  return agent;
}

export function httpsRequest(url: string, options: { ca: string; method?: string; headers?: Record<string, string>; body?: string | Buffer }): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers, agent: agentFor(options.ca) }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString('utf8') });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/** An msal-node network client that trusts the sandbox CA (msal's default fetch-based client cannot take a CA). */
export function msalNetworkClient(ca: string): INetworkModule {
  const send = async <T>(method: string, url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> => {
    const response = await httpsRequest(url, { ca, method, headers: options?.headers ?? {}, body: options?.body });
    return { status: response.status, headers: response.headers, body: JSON.parse(response.text) as T };
  };
  return {
    sendGetRequestAsync: (url, options) => send('GET', url, options),
    sendPostRequestAsync: (url, options) => send('POST', url, options),
  };
}

/** POSTs a client-credentials form to the token endpoint. */
export async function tokenRequest(sandbox: Sandbox, form: Record<string, string>, tenant: string = sandbox.tenantId): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await httpsRequest(`${sandbox.url}/${tenant}/oauth2/v2.0/token`, {
    ca: sandbox.caPem,
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.status, json: JSON.parse(response.text) as Record<string, unknown> };
}

/** An access token for the demo app (client secret), or for another app. */
export async function demoToken(sandbox: Sandbox, clientId = sandbox.demoCredentials.clientId, secret = sandbox.demoCredentials.clientSecret): Promise<string> {
  const { status, json } = await tokenRequest(sandbox, { grant_type: 'client_credentials', client_id: clientId, client_secret: secret, scope: 'https://graph.microsoft.com/.default' });
  if (status !== 200) throw new Error(`token request failed: ${JSON.stringify(json)}`);
  return json['access_token'] as string;
}

export interface GraphResponse {
  status: number;
  headers: Record<string, string>;
  json: any;
}

export class GraphClient {
  readonly sandbox: Sandbox;
  token: string;
  constructor(sandbox: Sandbox, token: string) {
    this.sandbox = sandbox;
    this.token = token;
  }

  static async demo(sandbox: Sandbox): Promise<GraphClient> {
    return new GraphClient(sandbox, await demoToken(sandbox));
  }

  async request(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<GraphResponse> {
    const url = path.startsWith('https://') ? path : `${this.sandbox.graphBaseUrl}${path}`;
    const response = await httpsRequest(url, {
      ca: this.sandbox.caPem,
      method,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    return { status: response.status, headers: response.headers, json: response.text ? JSON.parse(response.text) : undefined };
  }

  get(path: string, headers?: Record<string, string>) {
    return this.request('GET', path, undefined, headers);
  }
  post(path: string, body: unknown, headers?: Record<string, string>) {
    return this.request('POST', path, body, headers);
  }
  patch(path: string, body: unknown, headers?: Record<string, string>) {
    return this.request('PATCH', path, body, headers);
  }
  delete(path: string, headers?: Record<string, string>) {
    return this.request('DELETE', path, undefined, headers);
  }
}

export const TAG_ID = 'String {7d5c3f2a-1b4e-4c8d-9a6f-0e2b4d6f8a1c} Name CalpushKey';

export function lesson(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const day = String(1 + (n % 28)).padStart(2, '0');
  const hour = String(8 + (n % 9)).padStart(2, '0');
  return {
    subject: `Lesson ${n}`,
    body: { contentType: 'text', content: `Lesson ${n} body` },
    start: { dateTime: `2026-10-${day}T${hour}:00:00`, timeZone: 'W. Europe Standard Time' },
    end: { dateTime: `2026-10-${day}T${hour}:45:00`, timeZone: 'W. Europe Standard Time' },
    location: { displayName: `Room ${n % 5}` },
    categories: ['Timetable'],
    showAs: 'busy',
    singleValueExtendedProperties: [{ id: TAG_ID, value: `calpush;test;lesson-${n}` }],
    ...extra,
  };
}

export const users = (address: string) => `/users/${encodeURIComponent(address)}`;
