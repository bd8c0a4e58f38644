// The admin commands on their own command line, for the tests (src/cli/main.ts wires the same functions).
import { Command } from 'commander';
import { registerCertCommand } from '../../src/cli/commands/cert.ts';
import { registerDoctorCommand } from '../../src/cli/commands/doctor.ts';
import { registerSetupCommand } from '../../src/cli/commands/setup.ts';

const program = new Command().name('calpush').showHelpAfterError();
registerSetupCommand(program);
registerCertCommand(program);
registerDoctorCommand(program);
await program.parseAsync(process.argv);
