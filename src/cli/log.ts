// Structured logs for diagnosis: JSON lines (pino) on stderr or in a file. Off unless asked for, so the summary
// stays readable. calpush never hands secrets to the log; the redaction below is a second line of defence.
import pino, { type Logger } from 'pino';
import { CalpushError } from '../model/errors.ts';

export interface LogOptions {
  level?: string;
  file?: string;
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export function createLog(options: LogOptions): Logger | undefined {
  const level = options.level ?? process.env.CALPUSH_LOG_LEVEL;
  if (!level || level === 'silent') return undefined;
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new CalpushError('InvalidLogLevel', `--log-level (or CALPUSH_LOG_LEVEL) "${level}" is not a log level`, { remedy: `use one of ${LOG_LEVELS.join(', ')}` });
  }
  return pino(
    {
      level,
      base: { pid: process.pid },
      redact: { paths: ['authorization', '*.authorization', 'secret', '*.secret', 'password', '*.password', 'token', '*.token', 'privateKey', '*.privateKey'], censor: '[redacted]' },
    },
    options.file ? pino.destination({ dest: options.file, mkdir: true, sync: false }) : pino.destination(2),
  );
}
