// The calpush command line. Each command's module (and what it pulls in: fastify, the sandbox, a PowerShell
// parser…) is loaded only when that command runs, so `calpush sync` starts fast.
import { enableCompileCache } from 'node:module';
import { Command, CommanderError } from 'commander';
import { debugRequested } from './debug.ts';

// Node keeps the compiled modules on disk between runs: a second `calpush` starts markedly faster.
enableCompileCache();

// A reader that goes away (`calpush status | head -3`) ends the output, not with a stack trace: calpush stops
// quietly with the status it had.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw error;
  });
}

// calpush's warnings (a store or secret file other users can read) read like its other messages; Node's own
// (deprecations inside dependencies, experimental APIs) are shown only when debugging.
process.removeAllListeners('warning');
process.on('warning', (warning: Error & { code?: string; detail?: string }) => {
  const ours = warning.name === 'Warning' || (warning.code ?? '').startsWith('CALPUSH_');
  if (!ours && !debugRequested()) return;
  process.stderr.write(`calpush: warning: ${warning.message}\n${warning.detail ? `  fix: ${warning.detail}\n` : ''}`);
});

/** Anything that escapes a command is a bug: one line (the stack only when debugging), exit status 70. */
async function bug(error: unknown): Promise<never> {
  const { reportFailure } = await import('./failure.ts');
  process.exit(reportFailure(error, false));
}
process.on('uncaughtException', (error) => void bug(error));
process.on('unhandledRejection', (reason) => void bug(reason));

type Register = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<Register>> = {
  sync: async () => (await import('./commands/sync.ts')).registerSyncCommand,
  status: async () => (await import('./commands/status.ts')).registerStatusCommand,
  agent: async () => (await import('./commands/agent.ts')).registerAgentCommand,
  watch: async () => (await import('./commands/watch.ts')).registerWatchCommand,
  import: async () => (await import('./commands/import.ts')).registerImportCommand,
  serve: async () => (await import('./commands/serve.ts')).registerServeCommand,
  feeds: async () => (await import('./commands/serve.ts')).registerFeedsCommand,
  apikey: async () => (await import('./commands/apikey.ts')).registerApikeyCommand,
  store: async () => (await import('./commands/store.ts')).registerStoreCommand,
  doctor: async () => (await import('./commands/doctor.ts')).registerDoctorCommand,
  setup: async () => (await import('./commands/setup.ts')).registerSetupCommand,
  cert: async () => (await import('./commands/cert.ts')).registerCertCommand,
  sandbox: async () => (await import('./commands/sandbox.ts')).registerSandboxCommand,
  demo: async () => (await import('./commands/demo.ts')).registerDemoCommand,
};

const program = new Command()
  .name('calpush')
  .description('Keeps the events your systems declare in Microsoft 365, Exchange and CalDAV calendars, touching nothing else.')
  .version('0.1.0')
  .showHelpAfterError()
  // Usage errors (an unknown option, a missing argument) exit 2 like every unusable command line; help and
  // --version exit 0. Commander has printed its message by then.
  .exitOverride();

const requested = process.argv[2];
// A known command loads alone; anything else (help, a typo) loads them all so commander can list or suggest.
const names = requested !== undefined && Object.hasOwn(COMMANDS, requested) ? [requested] : Object.keys(COMMANDS);
for (const name of names) (await COMMANDS[name]!())(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (error instanceof CommanderError) {
    process.exitCode = error.exitCode === 0 ? 0 : 2;
  } else {
    const { reportFailure } = await import('./failure.ts');
    process.exitCode = reportFailure(error, false);
  }
}
