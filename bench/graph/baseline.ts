// The baseline an integrator would write by hand with Microsoft's official SDK: @microsoft/microsoft-graph-client
// (Client.initWithMiddleware, default middleware chain: AuthenticationHandler → RetryHandler → RedirectHandler →
// TelemetryHandler → HTTPMessageHandler), a token from @azure/msal-node's ConfidentialClientApplication, mailboxes
// one after another, 4 requests in flight per mailbox, one POST /users/{m}/events per event. No state, no tag,
// no idempotency, no listing: the cheapest thing that puts the events there.
//
//   NODE_EXTRA_CA_CERTS=<sandbox ca.pem> node --import ./bench/graph/probe.ts bench/graph/baseline.ts '<json Args>'
//
// NODE_EXTRA_CA_CERTS makes Node's global fetch (which the SDK's HTTPMessageHandler calls) trust the sandbox;
// msal-node gets an INetworkModule on node:https with the sandbox CA, as in test/sandbox/helpers.ts.
// Prints one JSON line: setup time (process start → first token), per-mailbox wall time, errors.
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { ConfidentialClientApplication, type INetworkModule, type NetworkRequestOptions, type NetworkResponse } from '@azure/msal-node';
import { Client, type AuthenticationProvider } from '@microsoft/microsoft-graph-client';
import { findWindows } from 'windows-iana';

interface Args {
  /** https://127.0.0.1:PORT */
  url: string;
  authorityUrl: string;
  clientId: string;
  clientSecret: string;
  caFile: string;
  /** NDJSON, calpush's input format (the same file calpush reads) */
  input: string;
  /** mailboxes to deliver, in this order (a subset of those in the input when the run is extrapolated) */
  mailboxes: string[];
  concurrency: number;
}

const processStart = Date.now() - Math.round(process.uptime() * 1000);
const args = JSON.parse(process.argv[2] ?? '{}') as Args;
const ca = readFileSync(args.caFile, 'utf8');

// --- msal-node with the sandbox CA --------------------------------------------------------------------------
const agent = new Agent({ ca, keepAlive: true });
function send<T>(method: string, url: string, options?: NetworkRequestOptions): Promise<NetworkResponse<T>> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: options?.headers ?? {}, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
        resolve({ status: res.statusCode ?? 0, headers, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as T });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    if (options?.body !== undefined) req.write(options.body);
    req.end();
  });
}
const networkClient: INetworkModule = {
  sendGetRequestAsync: (url, options) => send('GET', url, options),
  sendPostRequestAsync: (url, options) => send('POST', url, options),
};
const msal = new ConfidentialClientApplication({
  auth: { clientId: args.clientId, authority: args.authorityUrl, knownAuthorities: [new URL(args.url).host], clientSecret: args.clientSecret },
  system: { networkClient },
});
const authProvider: AuthenticationProvider = {
  async getAccessToken() {
    const result = await msal.acquireTokenByClientCredential({ scopes: ['https://graph.microsoft.com/.default'] });
    if (!result?.accessToken) throw new Error('no access token');
    return result.accessToken;
  },
};

// --- the SDK client ----------------------------------------------------------------------------------------
const client = Client.initWithMiddleware({
  authProvider,
  baseUrl: args.url,
  defaultVersion: 'v1.0',
  // the AuthenticationHandler only sends the token to Graph hosts and to these
  customHosts: new Set([new URL(args.url).hostname]),
});

// --- the events: calpush's input records, mapped the obvious way ----------------------------------------------
interface InputRecord {
  calendar: string;
  id: string;
  subject: string;
  start: string;
  end: string;
  timeZone: string;
  location?: string;
  categories?: string[];
  body?: string;
}
const byMailbox = new Map<string, InputRecord[]>();
for (const line of readFileSync(args.input, 'utf8').split('\n')) {
  if (!line.trim()) continue;
  const record = JSON.parse(line) as InputRecord;
  const list = byMailbox.get(record.calendar);
  if (list) list.push(record);
  else byMailbox.set(record.calendar, [record]);
}
const zone = (iana: string) => findWindows(iana)?.[0] ?? 'UTC';
const graphBody = (e: InputRecord) => ({
  subject: e.subject,
  body: { contentType: 'text', content: e.body ?? '' },
  start: { dateTime: e.start, timeZone: zone(e.timeZone) },
  end: { dateTime: e.end, timeZone: zone(e.timeZone) },
  location: { displayName: e.location ?? '' },
  categories: e.categories ?? [],
});

await authProvider.getAccessToken();
const setupMs = Date.now() - processStart;

const perMailbox: Array<{ mailbox: string; events: number; ms: number; errors: number }> = [];
const errorSamples: string[] = [];
for (const mailbox of args.mailboxes) {
  const events = byMailbox.get(mailbox) ?? [];
  const started = performance.now();
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (next < events.length) {
      const event = events[next++]!;
      try {
        await client.api(`/users/${encodeURIComponent(mailbox)}/events`).post(graphBody(event));
      } catch (error) {
        errors++;
        if (errorSamples.length < 5) errorSamples.push(`${mailbox} ${event.id}: ${(error as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: args.concurrency }, worker));
  perMailbox.push({ mailbox, events: events.length, ms: performance.now() - started, errors });
}
process.stdout.write(`${JSON.stringify({ setupMs, perMailbox, errorSamples })}\n`);
