// The Microsoft Graph target built from its `target` section (targets/graph/schema.ts): the credential's references
// resolved, the extra CA read. Secrets follow the rule of every config section (src/config/secrets.ts).
import { readFileSync } from 'node:fs';
import { resolveProxy, type ProxyConfig } from '../../config/proxy.ts';
import { ConfigError, readSecret, resolvePath } from '../../config/secrets.ts';
import type { GraphCredential } from './auth.ts';
import { ConsentClient } from './consent.ts';
import { DelegatedAccess, type DelegatedTokenCaches } from './delegated.ts';
import type { GraphDelegatedTargetConfig, GraphTargetConfig } from './schema.ts';
import { GraphTarget } from './target.ts';

export interface CreateGraphTargetContext {
  instance: string;
  /** Directory relative paths (secret files, caFile) are resolved against: the config file's. */
  baseDir: string;
  /** The config's timeZone: Graph needs a zone even for all-day events. */
  allDayTimeZone: string;
  /** The config's top-level `proxy`: the default of target.proxy. */
  proxy?: ProxyConfig;
}

export function createGraphTarget(target: GraphTargetConfig, context: CreateGraphTargetContext): GraphTarget {
  return new GraphTarget({ ...connectionOptions(target, context), scope: target.scope });
}

/** What app-only and delegated Graph targets are built from alike. */
function connectionOptions(target: GraphTargetConfig | GraphDelegatedTargetConfig, context: CreateGraphTargetContext) {
  const caPem = readCa(target, context.baseDir);
  return {
    instance: context.instance,
    tenantId: target.tenantId,
    clientId: target.clientId,
    credential: resolveGraphCredential(target, context.baseDir),
    authorityHost: target.authorityHost,
    graphBaseUrl: target.graphBaseUrl,
    ...(caPem ? { caPem } : {}),
    allDayTimeZone: context.allDayTimeZone,
    requestTimeoutMs: target.requestTimeoutMs,
    maxResponseBytes: target.maxResponseBytes,
    batch: target.batch,
    proxy: resolveProxy([target.proxy, context.proxy], context.baseDir, 'target.proxy'),
  };
}

export interface CreateDelegatedTargetContext extends CreateGraphTargetContext {
  /** The people's token caches (the store's connections). */
  caches: DelegatedTokenCaches;
  /** The consent page where the person of a calendar connects (again). */
  connectUrl: (calendar: string) => string;
}

/** Graph with delegated access: the same target, each calendar written with its person's token at /me. */
export function createGraphDelegatedTarget(target: GraphDelegatedTargetConfig, context: CreateDelegatedTargetContext): GraphTarget {
  const options = connectionOptions(target, context);
  const { tenantId, clientId, credential, authorityHost } = options;
  return new GraphTarget({
    ...options,
    scope: target.scopes.join(' '),
    access: (http) => new DelegatedAccess({ tenantId, clientId, credential, authorityHost, scopes: target.scopes, caches: context.caches, connectUrl: context.connectUrl }, http),
  });
}

/** The sign-in side of delegated access (calpush serve's consent page). */
export function createConsentClient(target: GraphDelegatedTargetConfig, baseDir: string, defaultProxy?: ProxyConfig): ConsentClient {
  const caPem = readCa(target, baseDir);
  return new ConsentClient({
    tenantId: target.tenantId,
    clientId: target.clientId,
    credential: resolveGraphCredential(target, baseDir),
    authorityHost: target.authorityHost,
    graphBaseUrl: target.graphBaseUrl,
    scopes: target.scopes,
    ...(caPem ? { caPem } : {}),
    requestTimeoutMs: Math.min(target.requestTimeoutMs, 30_000),
    proxy: resolveProxy([target.proxy, defaultProxy], baseDir, 'target.proxy'),
  });
}

/** Resolves the credential's references. The result holds secrets: keep it out of logs. */
export function resolveGraphCredential(target: Pick<GraphTargetConfig, 'credential'>, baseDir: string): GraphCredential {
  const credential = target.credential;
  if (credential.kind === 'secret') return { kind: 'secret', secret: readSecret(credential.secret, baseDir, 'target.credential.secret') };
  const privateKeyPem = readSecret(credential.privateKey, baseDir, 'target.credential.privateKey');
  if (!/-----BEGIN (RSA |EC )?PRIVATE KEY-----/.test(privateKeyPem)) {
    throw new ConfigError('target.credential.privateKey: the file is not a PEM private key (-----BEGIN PRIVATE KEY-----); convert a PFX with: openssl pkcs12 -in cert.pfx -nocerts -nodes -out key.pem');
  }
  let certificatePem: string | undefined;
  if (credential.certificate) {
    const path = resolvePath(baseDir, credential.certificate.file);
    try {
      certificatePem = readFileSync(path, 'utf8');
    } catch (error) {
      throw new ConfigError(`target.credential.certificate: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  if (!certificatePem && !credential.thumbprintSha256) {
    throw new ConfigError('target.credential: a certificate credential needs "certificate": {"file": "cert.pem"} or "thumbprintSha256"');
  }
  return {
    kind: 'certificate',
    privateKeyPem,
    ...(certificatePem ? { certificatePem } : {}),
    ...(credential.thumbprintSha256 ? { thumbprintSha256: credential.thumbprintSha256 } : {}),
  };
}

/** The extra CA to trust (`target.caFile`), if one is configured. */
export function readCa(target: { caFile?: string | undefined }, baseDir: string): string | undefined {
  if (!target.caFile) return undefined;
  const path = resolvePath(baseDir, target.caFile);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`target.caFile: cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
}
