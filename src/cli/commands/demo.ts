// calpush demo: the main job on the embedded default, with nothing to set up. Starts the sandbox (a local
// stand-in for Microsoft 365), writes a config that reaches it with a certificate credential, pushes a sample
// timetable for dozens of students and rooms into their calendars, prints the summary, and syncs again to show
// that an unchanged input sends no write request. With --serve it then leaves the sandbox and `calpush serve` with
// its dashboard running, prints the dashboard's URL and a sign-in key made for this run (an admin key, shown
// once), and stops both on Ctrl-C or SIGTERM.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseConfig } from '../../app/config.ts';
import { sampleTimetable } from '../../sandbox/sample-timetable.ts';
import { defaultTenantSeed, startSandbox } from '../../sandbox/index.ts';
import { createApiKey } from '../../server/auth.ts';
import { startServer } from '../../server/index.ts';
import { parseServerConfig } from '../../app/settings.ts';
import type { Config } from '../../app/config.ts';
import { runSync } from '../../app/sync.ts';
import { integerArgument } from '../options.ts';
import { formatSummary, progressBar } from '../summary.ts';
import { runHybridDemo, type HybridDemoOptions } from './demo-hybrid.ts';
import { runAgentDemo } from './demo-agent.ts';
import { prepareDemoFolder } from './demo-folder.ts';
import { exitCodeFor, reportFailure } from './sync.ts';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('start the sandbox and push a sample timetable into it (no Microsoft tenant needed)')
    .option('--dir <dir>', 'where the demo keeps its config, credentials and store', '.calpush-demo')
    .option('--students <n>', 'number of students', integerArgument('--students', 0, 100_000), 30)
    .option('--rooms <n>', 'number of rooms', integerArgument('--rooms', 0, 10_000), 8)
    .option('--json', 'print the first sync’s summary as JSON')
    .option('--serve', 'then keep the sandbox and calpush serve with its dashboard running (until Ctrl-C), and print a sign-in key')
    .option('--port <port>', 'with --serve: the port of calpush serve (0 = any free port)', integerArgument('--port', 0, 65535), 8080)
    .option('--hybrid', 'one deployment over an Exchange hybrid organisation: mailboxes on-premises (EWS) and in Exchange Online (Graph), plus CalDAV when Radicale is installed; events through the API and an import; one mailbox moves online and is adopted')
    .option('--agent', 'the resource agent: VMR and room bookings answered (accepted with joining instructions, declined with the reason), a room found through its room list, a student’s changes to pushed lectures put back')
    .action(async (options: { dir: string; students: number; rooms: number; json?: boolean; serve?: boolean; port: number; hybrid?: boolean; agent?: boolean }) => {
      const dir = resolve(options.dir);
      const out = (line = '') => {
        if (!options.json) process.stdout.write(`${line}\n`);
      };
      if (options.agent) return agentDemo(dir, options.json ?? false, (options.serve ?? false) || (options.hybrid ?? false), out);
      if (options.hybrid) return hybridDemo({ dir, students: options.students, rooms: options.rooms, json: options.json ?? false, serve: options.serve ?? false }, out);
      const seed = defaultTenantSeed({ students: options.students, rooms: options.rooms });
      const sandbox = await startSandbox({ tenant: seed });
      try {
        prepareDemoFolder(dir, 'calpush.sqlite', sandbox);
        const rawConfig = {
          instance: 'demo',
          store: { sqlite: 'calpush.sqlite' },
          timeZone: 'Europe/Amsterdam',
          target: {
            kind: 'graph',
            tenantId: sandbox.tenantId,
            clientId: sandbox.demoCredentials.clientId,
            credential: { kind: 'certificate', privateKey: { file: 'app-key.pem' }, certificate: { file: 'app-cert.pem' } },
            authorityHost: sandbox.url,
            graphBaseUrl: sandbox.graphBaseUrl,
            caFile: 'sandbox-ca.pem',
          },
        };
        writeFileSync(join(dir, 'calpush.config.json'), `${JSON.stringify(rawConfig, null, 2)}\n`);
        const config = parseConfig(rawConfig, 'demo config');

        const students = seed.mailboxes.filter((m) => m.kind === 'user').map((m) => m.address);
        const rooms = seed.mailboxes.filter((m) => m.kind === 'room').map((m) => m.address);
        const timetable = sampleTimetable({ students, rooms, from: new Date() });
        const inputPath = join(dir, 'timetable.ndjson');
        writeFileSync(inputPath, `${timetable.map((e) => JSON.stringify(e)).join('\n')}\n`);

        out(`calpush demo — sandbox (a local stand-in for Microsoft 365) at ${sandbox.url}`);
        out(`Pushing ${timetable.length} timetable events for ${students.length} people and ${rooms.length} rooms.`);
        out(`Three mailboxes are set up to fail as real ones do: one outside the app's access scope (403 ErrorAccessDenied),`);
        out(`one without an Exchange Online licence (404 MailboxNotEnabledForRESTAPI) and one address without a mailbox (404 ErrorInvalidUser).`);
        out();
        const foreignBefore = countForeign(sandbox, [...students, ...rooms]);
        const bar = progressBar(!options.json);
        const first = await runSync({ config, baseDir: dir, inputs: [inputPath], onProgress: bar.update });
        bar.stop();
        if (options.json) process.stdout.write(`${JSON.stringify(first, null, 2)}\n`);
        out(formatSummary(first));
        out();
        sandbox.resetStats();
        const second = await runSync({ config, baseDir: dir, inputs: [inputPath] });
        const t = second.delivery.totals;
        out(`Same input again: ${t.created} created, ${t.updated} updated, ${t.deleted} deleted, ${t.unchanged} unchanged — ${sandbox.stats().writes} write requests sent.`);
        out(`Events calpush did not create: ${foreignBefore} before, ${countForeign(sandbox, [...students, ...rooms])} after, untouched.`);
        out();
        out(`Config, credentials, input and store are in ${dir}. Next:`);
        if (!options.serve) {
          out(`  npx calpush demo --serve                  # the same, then the dashboard over it (prints a sign-in key)`);
          out(`  npx calpush sandbox                       # run the sandbox on its own (prints how to trust its certificate)`);
        }
        out(`  npx calpush sync -c <config> -i <file>    # push your own JSON, NDJSON or .ics input`);
        const code = exitCodeFor(first);
        // The two failing mailboxes are part of the demo; anything else failing is a real failure.
        const unexpected = first.delivery.fatal || first.input.rejected || first.delivery.totals.failed ||
          first.delivery.mailboxes.some((m) => m.status === 'failed' && !['ErrorAccessDenied', 'MailboxNotEnabledForRESTAPI', 'ErrorInvalidUser'].includes(m.error?.code ?? ''));
        process.exitCode = unexpected ? Math.max(code, 1) : 0;
        if (options.serve) await serveUntilStopped(config, dir, options.port, options.json ? (line) => process.stderr.write(`${line}\n`) : out);
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      } finally {
        await sandbox.close();
      }
    });
}

/** calpush demo --hybrid (demo-hybrid.ts): prints the report (as JSON with --json); exit 1 when a count is off. */
async function hybridDemo(options: HybridDemoOptions & { serve: boolean }, out: (line?: string) => void): Promise<void> {
  if (options.serve) {
    process.stderr.write('calpush demo: --hybrid and --serve are separate demos: run one at a time\n');
    process.exitCode = 2;
    return;
  }
  try {
    const report = await runHybridDemo(options, out);
    if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else out(report.ok ? 'Every mailbox holds exactly its desired events, each once, on the target the routing names.' : 'Some counts are off: see the table above.');
    process.exitCode = report.ok ? 0 : 1;
  } catch (error) {
    process.exitCode = reportFailure(error, options.json);
  }
}

/** calpush demo --agent (demo-agent.ts): prints the steps (as JSON with --json); exit 1 when a step did not go as expected. */
async function agentDemo(dir: string, json: boolean, combined: boolean, out: (line?: string) => void): Promise<void> {
  if (combined) {
    process.stderr.write('calpush demo: --agent is a demo of its own: run it without --serve or --hybrid\n');
    process.exitCode = 2;
    return;
  }
  try {
    const report = await runAgentDemo({ dir, json }, out);
    if (json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    else {
      out();
      out(report.ok ? 'Every step went as expected.' : 'Some steps did not go as expected: see above.');
      out(`The config it wrote (the agent's section, a room list in it) is in ${dir}; the sandbox stopped with the demo.`);
    }
    process.exitCode = report.ok ? 0 : 1;
  } catch (error) {
    process.exitCode = reportFailure(error, json);
  }
}

/**
 * `calpush serve` over the demo's store and sandbox until Ctrl-C or SIGTERM, with a sign-in key for the dashboard
 * made for this run: an admin key, printed once (the store keeps only its hash, as for every key).
 */
async function serveUntilStopped(config: Config, dir: string, port: number, say: (line?: string) => void): Promise<void> {
  const running = await startServer({ config, server: parseServerConfig({ port }, 'demo config'), feeds: undefined, baseDir: dir });
  try {
    const { key } = await createApiKey(running.store, { scope: 'admin', name: 'calpush demo --serve sign-in' });
    say();
    say(`The dashboard: ${running.url}/`);
    say(`Sign in with this key (an admin key, shown once): ${key}`);
    say(`The push API is at ${running.url}/v1 (contract at ${running.url}/api-docs once signed in). Ctrl-C stops the server and the sandbox.`);
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', resolve);
      process.once('SIGTERM', resolve);
    });
    say(`${signal}: stopping calpush serve and the sandbox`);
  } finally {
    await running.close();
  }
}

/** Events in these calendars without our tag. */
function countForeign(sandbox: Awaited<ReturnType<typeof startSandbox>>, calendars: string[]): number {
  let count = 0;
  for (const calendar of calendars) {
    try {
      count += sandbox.listEvents(calendar).filter((e) => !JSON.stringify(e).includes('CalpushKey')).length;
    } catch {
      // a mailbox the sandbox does not hold
    }
  }
  return count;
}
