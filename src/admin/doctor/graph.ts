// The Microsoft Graph section of `calpush doctor`: in the spirit of Microsoft's Remote Connectivity Analyzer
// "Service Account Access" test, each step calpush depends on, in order, with what to do when one fails.
// It reuses calpush's own code paths (config loading, GraphTokenProvider, HttpClient, classifyGraphError,
// GraphTarget), so what passes here is what sync will see.
import { createPrivateKey, randomUUID, X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import { graphTarget as graphTargetConfig, type LoadedConfig } from '../../app/config.ts';
import { namedMailboxes } from '../../app/mailboxes.ts';
import { createGraphTarget } from '../../app/targets.ts';
import { resolvePath } from '../../config/secrets.ts';
import { describe, type DesiredEvent } from '../../model/event.ts';
import { parseTagValue, TAG_PROPERTY_ID } from '../../model/tag.ts';
import { certificateThumbprints, GraphTokenProvider, type GraphCredential } from '../../targets/graph/auth.ts';
import { readCa, resolveGraphCredential } from '../../targets/graph/config.ts';
import { classifyGraphError } from '../../targets/graph/errors.ts';
import type { GraphTarget } from '../../targets/graph/target.ts';
import { HttpClient } from '../../targets/http.ts';
import { TargetError } from '../../targets/target.ts';
import { decodeJwtPayload } from './jwt.ts';
import { dnsCheck, endpoints, tlsCheck } from './network.ts';
import type { CheckResult } from './report.ts';

export interface GraphDoctorOptions {
  mailbox: string;
  write: boolean;
  /** Per-request and handshake timeout; default the config's requestTimeoutMs, at most 30 s. */
  timeoutMs?: number;
}

export interface SectionResult {
  target: string;
  context: string[];
  checks: CheckResult[];
  /** Values that must never be printed (resolved secrets, key material). */
  secrets: string[];
}

const GRAPH_APP_ID = '00000003-0000-0000-c000-000000000000';
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function ok(id: string, title: string, detail: string): CheckResult {
  return { id, title, status: 'pass', detail };
}
function skip(id: string, title: string, detail: string): CheckResult {
  return { id, title, status: 'skip', detail };
}

function utcTime(seconds: number): string {
  return new Date(seconds * 1000).toISOString().replace('T', ' ').slice(0, 16) + ' UTC';
}

/** A line about the credential: certificate subject, thumbprints, validity, key match; or secret sanity. */
function credentialCheck(loaded: LoadedConfig, credential: GraphCredential): CheckResult {
  const id = 'graph.credential';
  const title = 'credential';
  const configured = graphTargetConfig(loaded.config).credential;
  const loose: string[] = [];
  const references = configured.kind === 'secret' ? [configured.secret] : [configured.privateKey];
  for (const ref of references) {
    if ('file' in ref && process.platform !== 'win32') {
      const path = resolvePath(loaded.baseDir, ref.file);
      try {
        if (statSync(path).mode & 0o077) loose.push(path);
      } catch {
        // resolveGraphCredential already read it; a race is not worth a line
      }
    }
  }
  const looseNote = loose.length ? ` ${loose.join(', ')} can be read by other users of this machine.` : '';
  const looseRemedy = loose.length ? `chmod 600 ${loose.join(' ')}` : undefined;
  if (credential.kind === 'secret') {
    if (GUID.test(credential.secret)) {
      return {
        id,
        title,
        status: 'warn',
        detail: `client secret read; it looks like a GUID — the secret's ID rather than its value?${looseNote}`,
        remedy: 'Entra ID shows two columns for a secret: copy the Value (shown only once, when it is created), not the Secret ID',
      };
    }
    return { id, title, status: loose.length ? 'warn' : 'pass', detail: `client secret read (${credential.secret.length} characters; a certificate is the safer choice).${looseNote}`, ...(looseRemedy ? { remedy: looseRemedy } : {}) };
  }
  if (!credential.certificatePem) {
    return {
      id,
      title,
      status: loose.length ? 'warn' : 'pass',
      detail: `private key read; certificate given by its SHA-256 thumbprint only (${credential.thumbprintSha256}), so its validity cannot be checked here.${looseNote}`,
      ...(looseRemedy ? { remedy: looseRemedy } : {}),
    };
  }
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(credential.certificatePem);
  } catch (error) {
    return { id, title, status: 'fail', detail: `the certificate file is not an X.509 certificate: ${(error as Error).message}`, remedy: 'point target.credential.certificate at the PEM certificate (-----BEGIN CERTIFICATE-----)' };
  }
  const prints = certificateThumbprints(credential.certificatePem);
  const subject = certificate.subject.replace(/\n/g, ', ');
  const validTo = new Date(certificate.validTo);
  const validFrom = new Date(certificate.validFrom);
  const describeCert = `certificate ${subject}, SHA-1 thumbprint ${prints.sha1} (as the Entra portal shows it), valid ${validFrom.toISOString().slice(0, 10)} to ${validTo.toISOString().slice(0, 10)}`;
  let matches = false;
  try {
    matches = certificate.checkPrivateKey(createPrivateKey(credential.privateKeyPem));
  } catch {
    matches = false;
  }
  if (!matches) {
    return { id, title, status: 'fail', detail: `${describeCert}; the private key does not belong to this certificate`, remedy: 'configure the key that was generated with this certificate (calpush cert create writes both), or a new pair' };
  }
  const now = Date.now();
  if (validTo.getTime() < now) {
    return { id, title, status: 'fail', code: 'CertificateExpired', detail: `${describeCert}: expired`, remedy: 'create a new certificate (calpush cert create), upload it to the app and point the config at it' };
  }
  if (validFrom.getTime() > now) {
    return { id, title, status: 'fail', code: 'CertificateNotYetValid', detail: `${describeCert}: not valid yet`, remedy: 'check this machine’s clock' };
  }
  const daysLeft = Math.floor((validTo.getTime() - now) / 86_400_000);
  if (daysLeft < 30) {
    return { id, title, status: 'warn', detail: `${describeCert}: expires in ${daysLeft} days`, remedy: 'create the next certificate now (calpush cert create), upload it next to this one, then switch the config' };
  }
  return { id, title, status: loose.length ? 'warn' : 'pass', detail: `${describeCert}; the private key matches.${looseNote}`, ...(looseRemedy ? { remedy: looseRemedy } : {}) };
}

/**
 * The token step's failure in the words sync and serve use (GraphTokenProvider → tokenFailure in
 * src/targets/graph/token-errors.ts), with what only the doctor knows added to the fix.
 */
function tokenFailure(error: unknown, credential: GraphCredential, clientId: string): CheckResult {
  const id = 'graph.token';
  const title = 'token';
  if (!(error instanceof TargetError)) return { id, title, status: 'fail', detail: `could not get a token: ${(error as Error).message ?? String(error)}`, remedy: 'check tenantId, clientId and the credential in the config' };
  let remedy = error.remedy ?? 'check tenantId, clientId and the credential in the config';
  if (error.code === 'AADSTS700027' && credential.kind === 'certificate' && credential.certificatePem) {
    const prints = certificateThumbprints(credential.certificatePem);
    remedy += `. The configured certificate has SHA-1 thumbprint ${prints.sha1}: it must be listed under Certificates & secrets > Certificates of app ${clientId}`;
  }
  if (error.code === 'AADSTS7000215' && credential.kind === 'secret' && GUID.test(credential.secret)) {
    remedy += '. The configured value looks like the Secret ID, not the secret Value';
  }
  return { id, title, status: 'fail', code: error.code, detail: error.message, remedy };
}

function forbiddenRemedy(mailbox: string, clientId: string, hasRole: boolean): string {
  const rbacCheck = `Test-ServicePrincipalAuthorization -Identity ${clientId} -Resource ${mailbox} (InScope must be True)`;
  const aapCheck = `Test-ApplicationAccessPolicy -Identity ${mailbox} -AppId ${clientId} (AccessCheckResult must be Granted)`;
  if (!hasRole) {
    return (
      `the token carries no Calendars.ReadWrite application permission and no RBAC for Applications assignment covers ${mailbox}: ` +
      `assign the Exchange Online role "Application Calendars.ReadWrite" to the app with a management scope that includes the mailbox ` +
      `(calpush setup graph-app writes the script), or grant admin consent for the Microsoft Graph application permission Calendars.ReadWrite ` +
      `(Entra ID > App registrations > API permissions). Check with: ${rbacCheck}`
    );
  }
  return (
    `the app holds Calendars.ReadWrite but ${mailbox} is outside its mailbox scope. RBAC for Applications: add the mailbox to the group of ` +
    `the management scope — check with ${rbacCheck}. ApplicationAccessPolicy: add it to the policy's mail-enabled security group — check with ` +
    `${aapCheck}. Scope changes can take a couple of hours to reach Microsoft Graph`
  );
}

function failFromError(id: string, title: string, error: unknown, remedyFor403: string): CheckResult {
  if (error instanceof TargetError) {
    const remedy = error.status === 403 ? remedyFor403 : error.scope === 'transient' ? 'Microsoft Graph is busy or unreachable right now: try again in a few minutes' : error.remedy;
    return { id, title, status: 'fail', code: error.code, detail: error.message, ...(remedy ? { remedy } : {}) };
  }
  return { id, title, status: 'fail', detail: (error as Error).message ?? String(error) };
}

/** A probe event: in the past (yesterday 03:00–03:05 UTC), free, no reminder, so it disturbs nobody even if it stayed. */
export function probeEvent(mailbox: string): DesiredEvent {
  const day = new Date(Date.now() - 86_400_000).toISOString().slice(0, 10);
  return describe({
    calendar: mailbox,
    id: `calpush-doctor-probe-${randomUUID()}`,
    subject: 'calpush doctor probe (safe to delete)',
    body: { contentType: 'text', content: 'Created and deleted at once by "calpush doctor --write" to test write access. If you see it, delete it.' },
    timing: { allDay: false, start: `${day}T03:00:00`, end: `${day}T03:05:00`, timeZone: 'UTC' },
    location: null,
    categories: [],
    showAs: 'free',
    sensitivity: 'normal',
    reminderMinutes: null,
  });
}

export async function graphChecks(loaded: LoadedConfig, options: GraphDoctorOptions): Promise<SectionResult> {
  const { config, baseDir } = loaded;
  const target = graphTargetConfig(config);
  const mailbox = options.mailbox.trim().toLowerCase();
  const checks: CheckResult[] = [];
  const secrets: string[] = [];
  const context = [
    `tenant ${target.tenantId}, app (client id) ${target.clientId}, ${target.credential.kind} credential, instance "${config.instance}"`,
    `authority ${target.authorityHost}, Graph ${target.graphBaseUrl}${target.caFile ? `, extra CA ${target.caFile}` : ''}`,
  ];
  const result = (): SectionResult => ({ target: 'Microsoft Graph', context, checks, secrets });
  const timeoutMs = options.timeoutMs ?? Math.min(target.requestTimeoutMs, 30_000);

  // 1. Configuration and credential
  checks.push(ok('graph.config', 'config', `${loaded.path} is valid`));
  if (!/^[^\s@]+@[^\s@]+$/.test(mailbox)) {
    checks.push({ id: 'graph.mailbox-address', title: 'mailbox', status: 'fail', detail: `"${options.mailbox}" is not a mailbox address`, remedy: 'give the address of a mailbox calpush should write, e.g. room-101@contoso.edu' });
    return result();
  }
  // Room lists are not read here: a room named only through a list gets the warning, and the remedy says so.
  if (config.mailboxes && !namedMailboxes(config)!.includes(mailbox)) {
    const lists = config.mailboxes.some((entry) => typeof entry !== 'string');
    checks.push({ id: 'graph.mailboxes', title: 'mailboxes', status: 'warn', detail: `${mailbox} is not in the config's "mailboxes" list${lists ? ' by its address' : ''}, so calpush sync refuses records for it${lists ? ' unless one of the listed room lists holds it' : ''}`, remedy: lists ? 'add it to "mailboxes", or to one of the room lists named there' : 'add it to "mailboxes" if calpush should manage it' });
  }
  let credential: GraphCredential;
  let caPem: string | undefined;
  try {
    credential = resolveGraphCredential(graphTargetConfig(config), baseDir);
    caPem = readCa(graphTargetConfig(config), baseDir);
  } catch (error) {
    checks.push({ id: 'graph.credential', title: 'credential', status: 'fail', detail: (error as Error).message, remedy: 'fix the file or environment variable the config refers to' });
    return result();
  }
  if (credential.kind === 'secret') secrets.push(credential.secret);
  else secrets.push(credential.privateKeyPem, ...credential.privateKeyPem.split('\n').filter((l) => l.length > 40));
  const credentialResult = credentialCheck(loaded, credential);
  checks.push(credentialResult);

  // 2. DNS and TLS of the authority and the Graph endpoint
  const reachable = new Map<string, boolean>();
  for (const [index, endpoint] of endpoints([
    { url: target.authorityHost, role: 'Entra ID' },
    { url: target.graphBaseUrl, role: 'Microsoft Graph' },
  ]).entries()) {
    const dns = await dnsCheck(endpoint, `graph.dns.${index}`);
    checks.push(dns);
    const tls = dns.status === 'fail' ? skip(`graph.tls.${index}`, 'TLS', `${endpoint.url.host}: not tried (no address)`) : await tlsCheck(endpoint, caPem, timeoutMs, `graph.tls.${index}`);
    checks.push(tls);
    reachable.set(endpoint.url.origin, tls.status !== 'fail' && tls.status !== 'skip');
  }
  const graphReachable = reachable.get(new URL(target.graphBaseUrl).origin) ?? false;

  // 3. Token — tried even when DNS or TLS failed above: its failure then reads as it does in sync and serve.
  if (credentialResult.status === 'fail') {
    checks.push(skip('graph.token', 'token', 'not tried: the credential is unusable (see above)'));
    checks.push(skip('graph.roles', 'roles', 'no token'));
    checks.push(skip('graph.mailbox', 'mailbox', 'no token'));
    checks.push(skip('graph.calendar', 'calendar', 'no token'));
    checks.push(skip('graph.write', 'write', 'no token'));
    return result();
  }
  const http = new HttpClient({ ...(caPem ? { caPem } : {}), timeoutMs });
  let graphTarget: GraphTarget | undefined;
  try {
    const provider = new GraphTokenProvider(
      { tenantId: target.tenantId, clientId: target.clientId, credential, authorityHost: target.authorityHost, scope: target.scope },
      http,
    );
    let token: string;
    try {
      token = await provider.token();
      secrets.push(token);
    } catch (error) {
      checks.push(tokenFailure(error, credential, target.clientId));
      checks.push(skip('graph.roles', 'roles', 'no token'));
      checks.push(skip('graph.mailbox', 'mailbox', 'no token'));
      checks.push(skip('graph.calendar', 'calendar', 'no token'));
      checks.push(skip('graph.write', 'write', 'no token'));
      return result();
    }
    const claims = decodeJwtPayload(token) ?? {};
    const exp = typeof claims['exp'] === 'number' ? claims['exp'] : undefined;
    checks.push(ok('graph.token', 'token', `app-only token for ${target.clientId} from ${new URL(target.authorityHost).host}${exp ? ` (valid until ${utcTime(exp)})` : ''}`));

    // 4. What the token says
    const roles = Array.isArray(claims['roles']) ? claims['roles'].filter((r): r is string => typeof r === 'string') : [];
    const hasReadWrite = roles.includes('Calendars.ReadWrite');
    const tid = typeof claims['tid'] === 'string' ? claims['tid'] : undefined;
    const aud = typeof claims['aud'] === 'string' ? claims['aud'] : undefined;
    const expectedAud = target.scope.replace(/\/\.default$/, '').replace(/\/+$/, '');
    if (tid && GUID.test(target.tenantId) && tid.toLowerCase() !== target.tenantId.toLowerCase()) {
      checks.push({ id: 'graph.roles', title: 'roles', status: 'fail', detail: `the token is for tenant ${tid}, not ${target.tenantId}`, remedy: 'check tenantId and authorityHost in the config' });
    } else if (aud && aud.replace(/\/+$/, '') !== expectedAud && aud !== GRAPH_APP_ID) {
      checks.push({ id: 'graph.roles', title: 'roles', status: 'warn', detail: `the token is for ${aud}, while the config's scope asks for ${target.scope}`, remedy: 'scope and graphBaseUrl must belong to the same cloud (e.g. https://graph.microsoft.us/.default with https://graph.microsoft.us/v1.0)' });
    } else if (hasReadWrite) {
      const extra = roles.filter((r) => r !== 'Calendars.ReadWrite');
      checks.push(ok('graph.roles', 'roles', `Calendars.ReadWrite (application permission) is in the token${extra.length ? `; also ${extra.join(', ')} — calpush needs only Calendars.ReadWrite` : ''}`));
    } else if (roles.includes('Calendars.Read')) {
      checks.push({ id: 'graph.roles', title: 'roles', status: 'warn', detail: 'the token carries Calendars.Read only: calpush can read but not write', remedy: 'grant the application permission Calendars.ReadWrite (with admin consent), or the RBAC role "Application Calendars.ReadWrite"' });
    } else {
      checks.push({
        id: 'graph.roles',
        title: 'roles',
        status: 'warn',
        detail: `no Calendars application permission in the token${roles.length ? ` (it has ${roles.join(', ')})` : ' (it has no roles at all)'}: access can then only come from RBAC for Applications in Exchange Online`,
        remedy: 'fine if you scope the app with RBAC for Applications (the mailbox check below tells); otherwise grant the Microsoft Graph application permission Calendars.ReadWrite with admin consent',
      });
    }

    // 5. The mailbox
    if (!graphReachable) {
      checks.push(skip('graph.mailbox', 'mailbox', 'not tried: Microsoft Graph is not reachable (see above)'));
      checks.push(skip('graph.calendar', 'calendar', 'not tried'));
      checks.push(skip('graph.write', 'write', 'not tried'));
      return result();
    }
    const base = target.graphBaseUrl.replace(/\/+$/, '');
    const eventsUrl = `${base}/users/${encodeURIComponent(mailbox)}/events`;
    const headers = { authorization: `Bearer ${token}`, accept: 'application/json', prefer: 'IdType="ImmutableId"' };
    const forbidden = forbiddenRemedy(mailbox, target.clientId, hasReadWrite);
    let mailboxOk = false;
    try {
      const response = await http.request({ method: 'GET', url: `${eventsUrl}?$top=1&$select=id`, headers });
      if (response.status >= 400) throw classifyGraphError(response, 'mailbox');
      mailboxOk = true;
      checks.push(ok('graph.mailbox', 'mailbox', `${mailbox} exists, has an Exchange Online mailbox, and the app may open its calendar`));
    } catch (error) {
      checks.push(failFromError('graph.mailbox', 'mailbox', error, forbidden));
    }
    if (!mailboxOk) {
      checks.push(skip('graph.calendar', 'calendar', 'not tried: the mailbox cannot be used (see above)'));
      checks.push(skip('graph.write', 'write', 'not tried'));
      return result();
    }

    // 6. Reading the calendar the way sync does: the events carrying this instance's tag
    graphTarget = createGraphTarget(config, baseDir);
    let owned = 0;
    let more = false;
    try {
      const page = await graphTarget.listOwned(mailbox);
      owned = page.items.length;
      more = page.next !== undefined;
      checks.push(ok('graph.calendar', 'calendar', `readable with calpush's tag filter: ${owned}${more ? '+' : ''} event${owned === 1 && !more ? '' : 's'} of instance "${config.instance}" there`));
    } catch (error) {
      checks.push(failFromError('graph.calendar', 'calendar', error, forbidden));
      checks.push(skip('graph.write', 'write', 'not tried'));
      return result();
    }

    // 7. Writing: a tagged probe event with a transactionId, read back, deleted, confirmed gone
    if (!options.write) {
      checks.push(skip('graph.write', 'write', 'not tested: add --write to create and delete a tagged probe event'));
      return result();
    }
    const probe = probeEvent(mailbox);
    const transactionId = randomUUID();
    let itemId: string;
    try {
      const item = await graphTarget.create(probe, transactionId);
      itemId = item.itemId;
    } catch (error) {
      const readOnly =
        'the app may read this calendar but not write it: it holds Calendars.Read (or the RBAC role "Application Calendars.Read") instead of Calendars.ReadWrite';
      checks.push(failFromError('graph.write', 'write', error, readOnly));
      return result();
    }
    const itemUrl = `${eventsUrl}/${encodeURIComponent(itemId)}`;
    const expand = `singleValueExtendedProperties($filter=id eq '${TAG_PROPERTY_ID}')`;
    try {
      const response = await http.request({ method: 'GET', url: `${itemUrl}?$select=id,transactionId&$expand=${encodeURIComponent(expand)}`, headers });
      if (response.status >= 400) throw classifyGraphError(response, 'item');
      const read = JSON.parse(response.body) as { transactionId?: string; singleValueExtendedProperties?: Array<{ id: string; value: string }> };
      const tag = read.singleValueExtendedProperties?.find((p) => p.id.toLowerCase() === TAG_PROPERTY_ID.toLowerCase());
      const parsed = tag ? parseTagValue(tag.value) : null;
      if (!parsed || parsed.instance !== config.instance || parsed.key !== probe.key) {
        checks.push({ id: 'graph.write', title: 'write', status: 'fail', detail: 'created a probe event, but it came back without calpush\'s tag', remedy: 'extended properties are not kept on this mailbox: calpush could not recognise its own events here' });
      } else {
        checks.push(ok('graph.write', 'write', `created a probe event (tagged, transactionId ${transactionId}) and read it back`));
      }
    } catch (error) {
      checks.push(failFromError('graph.write', 'write', error, 'the probe was created but cannot be read back'));
    }
    try {
      await graphTarget.remove(mailbox, { itemId, changeKey: null });
      const response = await http.request({ method: 'GET', url: `${itemUrl}?$select=id`, headers });
      if (response.status === 404) checks.push(ok('graph.cleanup', 'cleanup', 'deleted the probe event; it is gone'));
      else checks.push({ id: 'graph.cleanup', title: 'cleanup', status: 'fail', detail: `deleted the probe event, but it still answers HTTP ${response.status}`, remedy: `delete "${probe.event.subject}" from ${mailbox}'s calendar by hand` });
    } catch (error) {
      const failed = failFromError('graph.cleanup', 'cleanup', error, 'the app may create but not delete events here');
      checks.push({ ...failed, remedy: `${failed.remedy ? `${failed.remedy}; ` : ''}delete "${probe.event.subject}" from ${mailbox}'s calendar by hand` });
    }
    return result();
  } finally {
    http.close();
    await graphTarget?.close();
  }
}
