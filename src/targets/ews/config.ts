// The `target` section of the config file for Exchange Web Services, and the target built from it.
//
// Secrets follow the rule of the rest of the config (src/config/secrets.ts): a password, secret, private key or
// token is never written in the config, only a reference to an environment variable or a file, resolved at start
// and kept in memory.
//
//   "target": {
//     "kind": "ews",
//     "url": "https://mail.example.edu/EWS/Exchange.asmx",
//     "serverVersion": "Exchange2016",
//     "access": "delegate",
//     "auth": "ntlm",
//     "accounts": [
//       { "username": "EXAMPLE\\svc-calpush1", "password": { "env": "EWS_PW_1" } },
//       { "username": "EXAMPLE\\svc-calpush2", "password": { "file": "svc2.pw" } }
//     ],
//     "caFile": "example-root-ca.pem"
//   }
import { readFileSync, statSync } from 'node:fs';
import { resolveProxy, type ProxyConfig } from '../../config/proxy.ts';
import { ConfigError, readSecret, resolvePath } from '../../config/secrets.ts';
import { GraphTokenProvider, type GraphCredential } from '../graph/auth.ts';
import { HttpClient } from '../http.ts';
import { TargetError } from '../target.ts';
import { EwsTarget, type EwsTargetOptions } from './target.ts';
import type { EwsTargetConfig, SecretReference } from './schema.ts';

export { ewsTargetSchema, type EwsTargetConfig, type SecretReference } from './schema.ts';


/** A config that cannot be used (a secret that cannot be read). Named like src/config/secrets.ts's ConfigError. */
/** Config errors of the EWS section are the config's errors (the CLI reports them the same way). */
export { ConfigError as EwsConfigError };


/** The config's secret reader (a reference to an environment variable or a file). */
export const readSecretReference: (reference: SecretReference, baseDir: string, what: string) => string = readSecret;

function readFile(baseDir: string, file: string, what: string): string {
  const path = resolvePath(baseDir, file);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${what}: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}

export interface CreateEwsTargetContext {
  instance: string;
  /** Directory relative paths (secret files, caFile) are resolved against: the config file's. */
  baseDir: string;
  /** The config's timeZone: all-day events run midnight to midnight there. */
  allDayTimeZone: string;
  /** Replaces the secret reader (e.g. the config module's own, to raise its ConfigError). */
  readSecret?: (reference: SecretReference, baseDir: string, what: string) => string;
  log?: (message: string) => void;
  /** The config's top-level `proxy`: the default of target.proxy. */
  proxy?: ProxyConfig;
}

/**
 * A token from a file someone else keeps fresh: read again whenever the file changes (checked at most once a
 * second); from an environment variable: as it was at start.
 */
function tokenFromReference(reference: SecretReference, context: CreateEwsTargetContext, readSecret: NonNullable<CreateEwsTargetContext['readSecret']>): () => Promise<string> {
  if ('env' in reference) {
    const token = readSecret(reference, context.baseDir, 'target.oauth.token');
    return async () => token;
  }
  const path = resolvePath(context.baseDir, reference.file);
  let cached = readSecret(reference, context.baseDir, 'target.oauth.token');
  let stamp = statSync(path).mtimeMs;
  let checkedAt = Date.now();
  return async () => {
    if (Date.now() - checkedAt > 1000) {
      checkedAt = Date.now();
      try {
        const mtime = statSync(path).mtimeMs;
        if (mtime !== stamp) {
          cached = readSecret(reference, context.baseDir, 'target.oauth.token');
          stamp = mtime;
        }
      } catch (error) {
        throw new TargetError('fatal', 'TokenFileUnreadable', `target.oauth.token: ${(error as Error).message}`, { remedy: 'the token file must stay readable while calpush runs' });
      }
    }
    return cached;
  };
}

/** Resolves the references of a parsed `target` section and builds the target. The result holds secrets. */
export function createEwsTarget(parsed: EwsTargetConfig, context: CreateEwsTargetContext): EwsTarget {
  const readSecret = context.readSecret ?? readSecretReference;
  const caPem = parsed.caFile ? readFile(context.baseDir, parsed.caFile, 'target.caFile') : undefined;
  const proxy = resolveProxy([parsed.proxy, context.proxy], context.baseDir, 'target.proxy');
  const options: EwsTargetOptions = {
    proxy,
    instance: context.instance,
    url: parsed.url,
    ...(parsed.autodiscoverUrl ? { autodiscoverUrl: parsed.autodiscoverUrl } : {}),
    serverVersion: parsed.serverVersion,
    access: parsed.access,
    auth: parsed.auth,
    ...(caPem ? { caPem } : {}),
    allowInsecureHttp: parsed.allowInsecureHttp,
    allDayTimeZone: context.allDayTimeZone,
    batchSize: parsed.batchSize,
    pageSize: parsed.pageSize,
    deleteType: parsed.deleteType,
    accountConcurrency: parsed.accountConcurrency,
    ...(parsed.accountItemsPerMinute ? { accountItemsPerMinute: parsed.accountItemsPerMinute } : {}),
    busyRetries: parsed.busyRetries,
    requestTimeoutMs: parsed.requestTimeoutMs,
    maxResponseBytes: parsed.maxResponseBytes,
    ...(parsed.workstation ? { workstation: parsed.workstation } : {}),
    ...(context.log ? { log: context.log } : {}),
    ...(parsed.streaming ? { streaming: parsed.streaming } : {}),
  };
  if (parsed.auth === 'oauth') {
    const oauth = parsed.oauth!;
    if ('token' in oauth) {
      options.oauth = { name: 'oauth-token', token: tokenFromReference(oauth.token, context, readSecret) };
    } else {
      const credential: GraphCredential =
        oauth.credential.kind === 'secret'
          ? { kind: 'secret', secret: readSecret(oauth.credential.secret, context.baseDir, 'target.oauth.credential.secret') }
          : {
              kind: 'certificate',
              privateKeyPem: readSecret(oauth.credential.privateKey, context.baseDir, 'target.oauth.credential.privateKey'),
              ...(oauth.credential.certificate ? { certificatePem: readFile(context.baseDir, oauth.credential.certificate.file, 'target.oauth.credential.certificate') } : {}),
              ...(oauth.credential.thumbprintSha256 ? { thumbprintSha256: oauth.credential.thumbprintSha256 } : {}),
            };
      if (credential.kind === 'certificate' && !credential.certificatePem && !credential.thumbprintSha256) {
        throw new ConfigError('target.oauth.credential: a certificate credential needs "certificate": {"file": "cert.pem"} or "thumbprintSha256"');
      }
      // The Graph target's msal-node client-credentials provider, with the EWS resource's scope.
      const tokens = new GraphTokenProvider(
        { tenantId: oauth.tenantId, clientId: oauth.clientId, credential, authorityHost: oauth.authorityHost, scope: oauth.scope },
        new HttpClient({ ...(caPem ? { caPem } : {}), timeoutMs: parsed.requestTimeoutMs, maxResponseBytes: parsed.maxResponseBytes, proxy }),
      );
      options.oauth = { name: `app ${oauth.clientId}`, token: () => tokens.token(), invalidate: (token) => tokens.invalidate(token) };
    }
  } else {
    options.accounts = parsed.accounts!.map((account, index) => ({
      username: account.username,
      password: readSecret(account.password, context.baseDir, `target.accounts.${index}.password`),
      ...(account.domain ? { domain: account.domain } : {}),
      ...(account.weight ? { weight: account.weight } : {}),
      ...(account.concurrency ? { concurrency: account.concurrency } : {}),
    }));
  }
  return new EwsTarget(options);
}
