// The world of the delegated-access browser test (and of `npm run screenshots`' consent pictures): the sandbox with
// its Entra ID sign-in, `calpush serve` run as the real command (a child process, debug logging on stdout) with target
// kind graph-delegated, alerts to a webhook receiver of the test, an iCalendar feed whose URL holds a token, and API
// keys made with `calpush apikey create`.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { defaultTenantSeed, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../alerts/receivers.ts';
import { createDelegatedWorkspace } from '../e2e/delegated-harness.ts';
import { runCli, startCli } from '../e2e/harness.ts';

export interface DelegatedWorld {
  sandbox: SandboxInternals;
  url: string;
  dir: string;
  storePath: string;
  writeKey: string;
  adminKey: string;
  hook: WebhookReceiver;
  /** The feed's URL token and the webhook secret: what must never be logged or stored. */
  feedToken: string;
  webhookSecret: string;
  /** Everything serve wrote (its JSON log lines, debug level). */
  log(): string;
  close(): Promise<void>;
}

/** An iCalendar feed on loopback that answers only at its secret path. */
async function startFeed(token: string): Promise<{ url: string; server: Server }> {
  const server = createServer((req, res) => {
    if (!req.url?.includes(token)) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'text/calendar' }).end('BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\nBEGIN:VEVENT\r\nUID:office-hour@test\r\nDTSTAMP:20261101T000000Z\r\nDTSTART:20261202T100000Z\r\nDTEND:20261202T110000Z\r\nSUMMARY:Office hour\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/calendars/${token}/timetable.ics?key=${token}`, server };
}

export async function startDelegatedWorld(options: { students?: number } = {}): Promise<DelegatedWorld> {
  const sandbox = await startSandbox({ tenant: defaultTenantSeed({ students: options.students ?? 4, staff: 2, rooms: 1 }) });
  const webhookSecret = randomBytes(32).toString('base64url');
  const hook = await startWebhookReceiver(webhookSecret);
  const feedToken = `feedtok${randomBytes(16).toString('hex')}`;
  const feed = await startFeed(feedToken);
  const ws = createDelegatedWorkspace(sandbox, {
    server: { port: 0, deliveryPollMs: 100, logLevel: 'debug' },
    feeds: { intervalSeconds: 60, allowPrivateAddresses: true, urls: { 't0001@contoso.edu': { env: 'CALPUSH_TEST_FEED_URL' } } },
    alerts: { webhooks: [{ url: hook.url, secret: { file: 'hook.secret' } }], intervalSeconds: 1 },
  });
  writeFileSync(join(ws.dir, 'hook.secret'), webhookSecret, { mode: 0o600 });
  const env = { CALPUSH_TEST_FEED_URL: feed.url };
  const key = async (scope: string) => JSON.parse((await runCli(['apikey', 'create', '-c', ws.configPath, '--scope', scope, '--json'], { env })).stdout).key as string;
  const writeKey = await key('write');
  const adminKey = await key('admin');
  const serve = startCli(['serve', '-c', ws.configPath], { env });
  let output = '';
  serve.child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    let stderr = '';
    serve.child.stderr!.on('data', (d: Buffer) => {
      stderr += d.toString();
      const found = /listening on (http:\/\/[^\s]+) /.exec(stderr);
      if (found) resolve(found[1]!);
    });
    serve.done.then((r) => reject(new Error(`calpush serve ended: ${r.code} ${stderr}`)));
  });
  return {
    sandbox,
    url,
    dir: ws.dir,
    storePath: join(ws.dir, 'state', 'calpush.sqlite'),
    writeKey,
    adminKey,
    hook,
    feedToken,
    webhookSecret,
    log: () => output,
    async close() {
      serve.child.kill('SIGTERM');
      await serve.done;
      await hook.close();
      await new Promise((resolve) => feed.server.close(resolve));
      await sandbox.close();
    },
  };
}
