// The calpush command line.
import { Command } from 'commander';
import { registerDemoCommand } from './commands/demo.ts';
import { registerSandboxCommand } from './commands/sandbox.ts';
import { registerStatusCommand } from './commands/status.ts';
import { registerSyncCommand } from './commands/sync.ts';

const program = new Command()
  .name('calpush')
  .description('Keeps the events your systems declare in Microsoft 365 calendars, touching nothing else.')
  .version('0.1.0')
  .showHelpAfterError();

registerSyncCommand(program);
registerStatusCommand(program);
registerSandboxCommand(program);
registerDemoCommand(program);

await program.parseAsync(process.argv);
