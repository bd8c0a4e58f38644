// The commands of this area on a commander program of their own, for tests that run them as a real process
// (src/cli/main.ts registers the same functions).
import { Command } from 'commander';
import { registerApikeyCommand } from '../../src/cli/commands/apikey.ts';
import { registerImportCommand } from '../../src/cli/commands/import.ts';
import { registerFeedsCommand, registerServeCommand } from '../../src/cli/commands/serve.ts';

const program = new Command().name('calpush').showHelpAfterError();
registerServeCommand(program);
registerApikeyCommand(program);
registerImportCommand(program);
registerFeedsCommand(program);
await program.parseAsync(process.argv);
