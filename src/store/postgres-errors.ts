// What can go wrong with a PostgreSQL store, said with the server, the cause and the fix — never the password.
// Every query of the PostgreSQL store passes its failure through postgresFailure(), so no caller sees a bare
// "ECONNREFUSED" or a SQLSTATE.
//
// SQLSTATE codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
import { StoreError } from './errors.ts';

/** The server as it may be shown: user, host, port, database and schema; the password never. */
export function describeServer(url: string, schema: string): string {
  try {
    const parsed = new URL(url);
    const user = parsed.username ? `${decodeURIComponent(parsed.username)}@` : '';
    return `postgres://${user}${parsed.host}${parsed.pathname} (schema ${schema})`;
  } catch {
    return `a PostgreSQL server (schema ${schema})`;
  }
}

interface PgError {
  code?: unknown;
  message?: unknown;
}

const CONNECTION = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNRESET', 'EPIPE']);

/** A failure of the PostgreSQL store at `server` as a StoreError; a StoreError is returned as it is. */
export function postgresFailure(error: unknown, server: string): StoreError {
  if (error instanceof StoreError) return error;
  const e = (error ?? {}) as PgError;
  const code = typeof e.code === 'string' ? e.code : '';
  const text = typeof e.message === 'string' ? e.message : String(error);
  const fail = (kind: ConstructorParameters<typeof StoreError>[0], message: string, remedy: string) => new StoreError(kind, server, message, { remedy, cause: error });
  if (CONNECTION.has(code) || /Connection terminated|timeout expired/i.test(text)) {
    return fail('StoreCannotOpen', `cannot reach the store ${server} (${code || text})`, 'check that PostgreSQL runs and listens there (pg_lsclusters; listen_addresses, port), and store.postgres in the config');
  }
  if (code === '28P01' || code === '28000') {
    return fail('StoreCannotOpen', `the store ${server} refused the login (${text})`, 'check the user and password in store.postgres (an {"env"} or {"file"} reference) and pg_hba.conf');
  }
  if (code === '3D000') return fail('StoreCannotOpen', `the database of the store ${server} does not exist (${text})`, 'create it (createdb -O <user> <database>) or correct store.postgres');
  if (code === '53100') return fail('StoreFull', `the disk of the store ${server} is full (${text})`, 'free space on the database server and run again: nothing was half-recorded, the change that did not fit was rolled back');
  if (code === '42501' || code === '25006') {
    return fail('StoreReadOnly', `the store ${server} cannot be written (${text})`, 'grant the user calpush connects as the rights on its schema (GRANT ALL ON SCHEMA … TO …), and connect to the primary, not a read-only standby');
  }
  if (code === '55P03' || code === '40P01' || code === '40001') {
    return fail('StoreLocked', `the store ${server} could not lock what it needed (${text})`, 'run again; if it persists, look for a long transaction holding locks (pg_stat_activity)');
  }
  if (code.startsWith('53') || code.startsWith('57') || code.startsWith('08')) {
    return fail('StoreCannotOpen', `the store ${server} is not available (${text})`, 'check the database server (its log, max_connections, whether it is shutting down) and run again');
  }
  return fail('StoreFailed', `the store ${server} failed: ${text}`, 'run again with --log-level debug and report it if it persists');
}
