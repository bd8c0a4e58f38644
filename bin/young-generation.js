// The young generation's size is fixed when V8 sets up its heap: a flag set later with v8.setFlagsFromString
// changes nothing (measured: docs/benchmarks.md, "Memory"). V8 grows it up to 64 MB per semi-space on a 64-bit
// machine with memory to spare (128 MB of new space), which a bulk delivery fills: with 4 MB the peak RSS of
// workloads (a) and (b) stays below 250 MB. So calpush starts Node with the flag, by replacing its own process
// image (execve: the same pid, stdio and environment, no second process) before it has done anything else.

/** The flag calpush starts Node with. */
export const YOUNG_GENERATION_FLAG = '--max-semi-space-size=4';

const chosen = /(^|\s)--max[-_]semi[-_]space[-_]size(=|\s|$)/;

/** Commands that never deliver in bulk: their memory is small whatever the young generation. */
const LIGHT_COMMANDS = new Set(['status', 'apikey', 'doctor', 'setup', 'cert', 'help']);

/**
 * Whether the command line is one whose peak memory the flag is not needed for, so that it may start without the
 * restart (30–60 ms of every start, which is most of an urgent one-mailbox sync's latency: docs/benchmarks.md,
 * workload (d)): `--version`/`--help`, the light commands, and a sync of one mailbox (`--calendar` with one address).
 * @param {readonly string[]} args the arguments after the script
 */
export function isLightCommand(args) {
  const [command, ...rest] = args;
  if (command === undefined || command.startsWith('-') || LIGHT_COMMANDS.has(command)) return true;
  return command === 'sync' && calendarsNamed(rest) === 1;
}

/**
 * How many mailboxes `--calendar` names: commander's variadic option takes the arguments up to the next option, and
 * it may be given again. @param {readonly string[]} args
 */
function calendarsNamed(args) {
  let count = 0;
  let inCalendar = false;
  for (const arg of args) {
    if (arg.startsWith('--calendar=')) count++;
    if (arg.startsWith('-')) inCalendar = arg === '--calendar' || arg.startsWith('--calendar=');
    else if (inCalendar) count++;
  }
  return count;
}

/**
 * The argument vector to execve this process with, or undefined when there is nothing to do: the flag (or the
 * user's own `--max-semi-space-size`, on the command line or in NODE_OPTIONS, which wins) is already in force, or
 * the command is a light one (isLightCommand).
 * @param {{ execPath: string, execArgv: readonly string[], argv: readonly string[], env: Record<string, string | undefined> }} proc
 * @returns {string[] | undefined}
 */
export function restartArgs(proc) {
  if (proc.execArgv.some((arg) => chosen.test(arg)) || chosen.test(proc.env.NODE_OPTIONS ?? '')) return undefined;
  if (isLightCommand(proc.argv.slice(2))) return undefined;
  return [proc.execPath, YOUNG_GENERATION_FLAG, ...proc.execArgv, ...proc.argv.slice(1)];
}

/**
 * Replaces this process with one that runs the same command with the flag, where the platform can (execve: not on
 * Windows, nor on Node before 22.15). Returns when it cannot; calpush then runs with V8's default young generation.
 * @param {NodeJS.Process} proc
 */
export function restartWithYoungGenerationFlag(proc = process) {
  const args = restartArgs(proc);
  if (args === undefined || typeof proc.execve !== 'function') return;
  try {
    proc.execve(proc.execPath, args, proc.env);
  } catch {
    // execve refused (e.g. the binary moved since start): run as we are, with the default young generation.
  }
}
