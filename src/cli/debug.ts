// Whether the person running calpush asked to debug it: --log-level debug|trace, CALPUSH_LOG_LEVEL=debug|trace or
// CALPUSH_DEBUG=1. Only then are stack traces and Node's own warnings shown.
export function debugRequested(argv: string[] = process.argv, env: NodeJS.ProcessEnv = process.env): boolean {
  const verbose = (level: string | undefined) => level === 'debug' || level === 'trace';
  if (env['CALPUSH_DEBUG'] && env['CALPUSH_DEBUG'] !== '0') return true;
  if (verbose(env['CALPUSH_LOG_LEVEL'])) return true;
  return argv.some((arg, i) => (arg === '--log-level' && verbose(argv[i + 1])) || verbose(/^--log-level=(.*)$/.exec(arg)?.[1]));
}
