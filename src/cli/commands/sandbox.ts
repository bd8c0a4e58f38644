// calpush sandbox: runs the local stand-in for Microsoft 365 (Entra ID token endpoint, Graph, EWS and Autodiscover) until
// SIGINT/SIGTERM. Keeps its TLS certificate and the demo app's certificate in a state directory, so they are
// trusted/configured once and survive restarts.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { defaultTenantSeed, startSandbox } from '../../sandbox/index.ts';
import { generateCertificate, loadOrCreatePair, loadOrCreateServerCertificate } from '../../sandbox/tls.ts';
import { listenFailure } from '../../server/listen.ts';
import { integerArgument } from '../options.ts';

export interface SandboxCommandOptions {
  host: string;
  port: number;
  stateDir: string;
  throttling: boolean;
  latencyMs: number;
  students: number;
  rooms: number;
  logRequests?: boolean;
}

function writePrivate(path: string, content: string): void {
  writeFileSync(path, content, { mode: 0o600 });
  chmodSync(path, 0o600);
}

export function registerSandboxCommand(program: Command): void {
  program
    .command('sandbox')
    .description('run a local HTTPS stand-in for Microsoft 365 (Entra ID token endpoint, Graph, EWS and Autodiscover)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', integerArgument('--port', 0, 65535), 8443)
    .option('--state-dir <dir>', 'where the certificates, tenant and demo credentials are kept', '.calpush/sandbox')
    .option('--no-throttling', "turn off Microsoft's Outlook throttling limits (4 concurrent, 10,000 per 10 minutes per mailbox)")
    .option('--latency-ms <n>', 'added round-trip time per HTTP request, in milliseconds', integerArgument('--latency-ms', 0, 60_000), 0)
    .option('--students <n>', 'number of student mailboxes', integerArgument('--students', 0, 100_000), 40)
    .option('--rooms <n>', 'number of room mailboxes', integerArgument('--rooms', 0, 10_000), 12)
    .option('--log-requests', 'print one line per HTTP request (never tokens or secrets)')
    .action(async (options: SandboxCommandOptions) => {
      try {
        await runSandboxCommand(options);
      } catch (error) {
        const { reportFailure } = await import('../failure.ts');
        process.exitCode = reportFailure(listenFailure(error, options.host, options.port, '--port'), false);
      }
    });
}

export async function runSandboxCommand(options: SandboxCommandOptions, out: (line: string) => void = (line) => process.stdout.write(`${line}\n`)): Promise<() => Promise<void>> {
  const stateDir = resolve(options.stateDir);
  mkdirSync(stateDir, { recursive: true });
  const tls = loadOrCreateServerCertificate(stateDir);
  const demoCertificate = loadOrCreatePair(stateDir, 'demo-app', () => generateCertificate({ commonName: 'calpush demo app', usage: 'client', validDays: 730 }));
  const seed = defaultTenantSeed({ students: options.students, rooms: options.rooms });
  const sandbox = await startSandbox({
    host: options.host,
    port: options.port,
    tenant: seed,
    tls: tls.pair,
    demoAppCertificate: demoCertificate.pair,
    throttling: { enabled: options.throttling },
    latency: { roundTripMs: options.latencyMs },
    ...(options.logRequests ? { logger: (line: string) => out(line) } : {}),
  });

  // The tenant as seeded, without the secrets (certificates are public).
  const publicSeed = {
    ...seed,
    apps: seed.apps.map(({ secrets: _secrets, ...app }) => app),
    ...(seed.ewsAccounts ? { ewsAccounts: seed.ewsAccounts.map(({ password: _password, ...account }) => account) } : {}),
  };
  writeFileSync(join(stateDir, 'tenant.json'), `${JSON.stringify(publicSeed, null, 2)}\n`);
  writePrivate(join(stateDir, 'demo-app-secret.txt'), sandbox.demoCredentials.clientSecret);
  if (seed.ewsAccounts?.length) {
    writePrivate(join(stateDir, 'ews-accounts.json'), `${JSON.stringify(seed.ewsAccounts.map(({ username, password }) => ({ username, password })), null, 2)}\n`);
  }

  const file = (name: string) => join(stateDir, name);
  out(`calpush sandbox — a local stand-in for Microsoft 365 (Entra ID + Microsoft Graph calendars)`);
  out('');
  out(`  Graph base URL   ${sandbox.graphBaseUrl}`);
  out(`  Authority        ${sandbox.authorityUrl}   (msal: knownAuthorities ['${new URL(sandbox.url).host}'])`);
  out(`  Tenant id        ${sandbox.tenantId}   (domain ${seed.domain})`);
  out(`  Demo client id   ${sandbox.demoCredentials.clientId}`);
  if (seed.ewsAccounts?.length) out(`  EWS endpoint     ${sandbox.url}/EWS/Exchange.asmx   (service accounts and passwords: ${join(stateDir, 'ews-accounts.json')})`);
  out(`  Mailboxes        ${seed.mailboxes.length} (${options.students} students, ${options.rooms} rooms, staff, 1 equipment; see tenant.json)`);
  out(`  Throttling       ${options.throttling ? 'on (4 concurrent, 10,000 requests per 10 minutes per app and mailbox)' : 'off'}${options.latencyMs > 0 ? `; ${options.latencyMs} ms added per request` : ''}`);
  out('');
  out('Credentials of the demo app:');
  out(`  client secret    ${file('demo-app-secret.txt')}`);
  out(`  certificate      ${file('demo-app-cert.pem')}   (SHA-256 thumbprint ${sandbox.demoCredentials.thumbprintSha256})`);
  out(`  private key      ${file('demo-app-key.pem')}`);
  out('');
  out(`The sandbox's TLS certificate is self-signed (${tls.created ? 'created now' : 'reused'}): ${file('tls-cert.pem')}. Trust it with one of:`);
  out(`  NODE_EXTRA_CA_CERTS=${file('tls-cert.pem')} <command>`);
  out(`  sudo cp ${file('tls-cert.pem')} /usr/local/share/ca-certificates/calpush-sandbox.crt && sudo update-ca-certificates`);
  out(`  calpush config: "target": { …, "caFile": "${file('tls-cert.pem')}" }`);
  out('');
  out('Press Ctrl+C to stop.');

  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= sandbox.close().then(() => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    });
    return stopping;
  };
  const onSignal = () => {
    void stop().then(() => {
      out('sandbox stopped');
      process.exitCode = 0;
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return stop;
}
