// calpush doctor <mailbox> -c <config> [--write] [--json]: checks, step by step, that calpush can reach and write
// one mailbox — config, DNS, TLS, token, roles, mailbox, calendar, and with --write a probe event — and says what
// to fix for each step that fails. Exit 0 when nothing failed, 1 when a check failed.
import { InvalidArgumentError, type Command } from 'commander';
import { renderText, runDoctor } from '../../admin/doctor/index.ts';

export interface DoctorCommandOptions {
  config: string;
  write?: boolean;
  json?: boolean;
  timeout?: number;
}

function positiveInteger(name: string) {
  return (value: string) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > 300) throw new InvalidArgumentError(`${name} must be a whole number of seconds from 1 to 300`);
    return n;
  };
}

export function registerDoctorCommand(program: Command): void {
  program
    .command('doctor')
    .description('check that calpush can reach and write one mailbox, and say what to fix (like Microsoft’s Remote Connectivity Analyzer)')
    .argument('<mailbox>', 'address of a mailbox calpush should write')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--write', 'also create a tagged probe event in the mailbox and delete it again')
    .option('--json', 'print the checks as JSON')
    .option('--timeout <seconds>', 'timeout per request and TLS handshake', positiveInteger('--timeout'))
    .addHelpText(
      'after',
      '\nExit status: 0 when no check failed (warnings allowed), 1 when one did.\nNothing secret is printed: no token, secret or key.',
    )
    .action(async (mailbox: string, options: DoctorCommandOptions) => {
      const report = await runDoctor({ configPath: options.config, mailbox, write: options.write ?? false, ...(options.timeout ? { timeoutMs: options.timeout * 1000 } : {}) });
      if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
      else process.stdout.write(renderText(report, { color: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR, width: process.stdout.columns }));
      process.exitCode = report.ok ? 0 : 1;
    });
}
