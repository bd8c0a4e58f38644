// DNS and TLS reach of an endpoint, the way calpush's HttpClient will see it (same CA list).
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { TLS_UNTRUSTED } from '../../targets/http.ts';
import type { CheckResult } from './report.ts';

export interface EndpointUse {
  url: URL;
  /** e.g. "the authority (Entra ID)" */
  roles: string[];
}

/** The distinct hosts (host:port) behind the given URLs, with what each is used for. */
export function endpoints(uses: Array<{ url: string; role: string }>): EndpointUse[] {
  const byHost = new Map<string, EndpointUse>();
  for (const use of uses) {
    const url = new URL(use.url);
    const key = `${url.protocol}//${url.host}`;
    const entry = byHost.get(key) ?? { url, roles: [] };
    entry.roles.push(use.role);
    byHost.set(key, entry);
  }
  return [...byHost.values()];
}

function hostOf(url: URL): string {
  return url.hostname.replace(/^\[|\]$/g, '');
}

export async function dnsCheck(endpoint: EndpointUse, id: string): Promise<CheckResult> {
  const host = hostOf(endpoint.url);
  const roles = endpoint.roles.join(' and ');
  if (isIP(host)) return { id, title: 'DNS', status: 'pass', detail: `${host} (${roles}) is an IP address: nothing to resolve` };
  try {
    const addresses = await lookup(host, { all: true });
    return { id, title: 'DNS', status: 'pass', detail: `${host} (${roles}) resolves to ${addresses.map((a) => a.address).slice(0, 4).join(', ')}` };
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'DNS_ERROR';
    return {
      id,
      title: 'DNS',
      status: 'fail',
      code,
      detail: `${host} (${roles}) does not resolve (${code})`,
      remedy: `check the host name in the config (authorityHost / graphBaseUrl) and this machine's DNS (nslookup ${host})`,
    };
  }
}


/**
 * Connects with TLS and reports whether the certificate chain is trusted by the CAs calpush uses (the system's, or
 * the system's plus caFile — exactly what HttpClient uses), whether it names the host, and when it expires.
 */
export async function tlsCheck(endpoint: EndpointUse, caPem: string | undefined, timeoutMs: number, id: string): Promise<CheckResult> {
  const url = endpoint.url;
  const host = hostOf(url);
  const port = Number(url.port || (url.protocol === 'https:' ? 443 : 80));
  const label = `${host}:${port}`;
  if (url.protocol !== 'https:') {
    return { id, title: 'TLS', status: 'warn', detail: `${url.origin} is plain HTTP: tokens and calendar data would travel unencrypted`, remedy: 'use an https:// URL' };
  }
  const ca = caPem ? [...tls.rootCertificates, caPem] : undefined;
  return new Promise<CheckResult>((resolveCheck) => {
    let settled = false;
    const done = (result: CheckResult) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      resolveCheck(result);
    };
    const socket = tls.connect({ host, port, ...(isIP(host) ? {} : { servername: host }), ...(ca ? { ca } : {}), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    socket.setTimeout(timeoutMs, () =>
      done({ id, title: 'TLS', status: 'fail', code: 'ETIMEDOUT', detail: `${label}: no TLS handshake within ${timeoutMs} ms`, remedy: 'check firewalls and proxies between this machine and the endpoint' }),
    );
    socket.once('error', (error: NodeJS.ErrnoException) => {
      const code = error.code ?? 'TLS_ERROR';
      const remedy =
        code === 'ECONNREFUSED'
          ? 'nothing listens there: check the URL (host and port) in the config'
          : 'check the URL in the config, firewalls and proxies between this machine and the endpoint';
      done({ id, title: 'TLS', status: 'fail', code, detail: `${label}: cannot connect (${code}: ${error.message})`, remedy });
    });
    socket.once('secureConnect', () => {
      const peer = socket.getPeerCertificate();
      const subject = peer.subject?.CN ?? peer.subject?.O ?? 'unnamed';
      const issuer = peer.issuer?.CN ?? peer.issuer?.O ?? 'unknown issuer';
      const validTo = peer.valid_to ? new Date(peer.valid_to) : undefined;
      const daysLeft = validTo ? Math.floor((validTo.getTime() - Date.now()) / 86_400_000) : undefined;
      const until = validTo ? `valid until ${validTo.toISOString().slice(0, 10)}` : 'no expiry date';
      const authError = socket.authorizationError ? String((socket.authorizationError as unknown as { code?: string }).code ?? socket.authorizationError) : undefined;
      if (authError) {
        const untrusted = TLS_UNTRUSTED.has(authError);
        done({
          id,
          title: 'TLS',
          status: 'fail',
          code: authError,
          detail: `${label}: the certificate (${subject}, issued by ${issuer}, ${until}) is not trusted: ${authError}`,
          remedy:
            authError === 'CERT_HAS_EXPIRED'
              ? 'the server’s certificate has expired: renew it (or, behind an inspecting proxy, ask its owner)'
              : untrusted
                ? `point the config at the CA that signed it: "caFile": "<ca.pem>" in target (an inspecting proxy's CA, or the sandbox's tls-cert.pem)${caPem ? ' — the configured caFile does not sign this certificate' : ''}`
                : 'check the certificate chain the server sends',
        });
        return;
      }
      const identityError = tls.checkServerIdentity(host, peer);
      if (identityError) {
        done({
          id,
          title: 'TLS',
          status: 'fail',
          code: (identityError as NodeJS.ErrnoException).code ?? 'ERR_TLS_CERT_ALTNAME_INVALID',
          detail: `${label}: the certificate (${subject}) does not name ${host}: ${identityError.message}`,
          remedy: 'use the host name the certificate is issued for in the config URL',
        });
        return;
      }
      if (daysLeft !== undefined && daysLeft < 14) {
        done({ id, title: 'TLS', status: 'warn', detail: `${label}: trusted (${subject}, issued by ${issuer}) but it expires in ${daysLeft} days`, remedy: 'renew the server certificate' });
        return;
      }
      done({ id, title: 'TLS', status: 'pass', detail: `${label} (${endpoint.roles.join(' and ')}): certificate trusted (${subject}, issued by ${issuer}, ${until})` });
    });
  });
}
