// The calpush command line. Each command's module (and what it pulls in: fastify, the sandbox, a PowerShell
// parser…) is loaded only when that command runs, so `calpush sync` starts fast.
import { enableCompileCache } from 'node:module';
import { Command } from 'commander';

// Node keeps the compiled modules on disk between runs: a second `calpush` starts markedly faster.
enableCompileCache();

type Register = (program: Command) => void;

const COMMANDS: Record<string, () => Promise<Register>> = {
  sync: async () => (await import('./commands/sync.ts')).registerSyncCommand,
  status: async () => (await import('./commands/status.ts')).registerStatusCommand,
  import: async () => (await import('./commands/import.ts')).registerImportCommand,
  serve: async () => (await import('./commands/serve.ts')).registerServeCommand,
  feeds: async () => (await import('./commands/serve.ts')).registerFeedsCommand,
  apikey: async () => (await import('./commands/apikey.ts')).registerApikeyCommand,
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
  .showHelpAfterError();

const requested = process.argv[2];
// A known command loads alone; anything else (help, a typo) loads them all so commander can list or suggest.
const names = requested !== undefined && Object.hasOwn(COMMANDS, requested) ? [requested] : Object.keys(COMMANDS);
for (const name of names) (await COMMANDS[name]!())(program);

await program.parseAsync(process.argv);
