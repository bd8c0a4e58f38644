// The EWS section of `calpush doctor` (Exchange Server, or Exchange Online through EWS): the endpoint's DNS and
// TLS, then every service account in turn against the mailbox — the delegate or impersonation rights Microsoft's
// Remote Connectivity Analyzer "Service Account Access" test checks — and with --write a tagged probe item created
// and deleted by the account sync would use. It builds the targets with the EWS target's own config code
// (ewsTargetSchema, createEwsTarget), so the answers are classified as sync classifies them
// (ErrorAccessDenied → folder permission, ErrorImpersonateUserDenied → impersonation scope, HTTP 401 → password).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { ProxyConfig } from '../../config/proxy.ts';
import { createEwsTarget, ewsTargetSchema, readSecretReference, type EwsTargetConfig } from '../../targets/ews/config.ts';
import { TargetError } from '../../targets/target.ts';
import { probeEvent, type SectionResult } from './graph.ts';
import { dnsCheck, endpoints, tlsCheck } from './network.ts';
import type { CheckResult } from './report.ts';

export interface EwsDoctorInput {
  path: string;
  baseDir: string;
  instance: string;
  timeZone: string;
  /** The raw `target` section of the config. */
  target: unknown;
  /** The config's top-level `proxy` (the default of target.proxy). */
  proxy?: ProxyConfig;
}

export interface EwsDoctorOptions {
  mailbox: string;
  write: boolean;
  timeoutMs?: number;
}

/** Most service accounts tried one by one (a pool can be large; these show whether the rights are right). */
const MAX_ACCOUNTS = 10;

function skip(id: string, title: string, detail: string): CheckResult {
  return { id, title, status: 'skip', detail };
}

function failure(id: string, title: string, error: unknown): CheckResult {
  if (error instanceof TargetError) return { id, title, status: 'fail', code: error.code, detail: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) };
  return { id, title, status: 'fail', detail: (error as Error).message ?? String(error) };
}


export async function ewsChecks(input: EwsDoctorInput, options: EwsDoctorOptions): Promise<SectionResult> {
  const checks: CheckResult[] = [];
  const secrets: string[] = [];
  const mailbox = options.mailbox.trim().toLowerCase();
  const context: string[] = [];
  const result = (): SectionResult => ({ target: 'Exchange Web Services', context, checks, secrets });

  const parsed = ewsTargetSchema.safeParse(input.target);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => `target.${issue.path.join('.')}: ${issue.message}`);
    checks.push({ id: 'ews.config', title: 'config', status: 'fail', detail: `${input.path} is invalid: ${lines.join('; ')}`, remedy: 'fix the EWS target section (see docs/ews.md)' });
    return result();
  }
  const target: EwsTargetConfig = parsed.data;
  const accountNames = target.auth === 'oauth' ? ['the OAuth app or token'] : (target.accounts ?? []).map((a) => a.username);
  context.push(`${target.url}, ${target.access} access, ${target.auth} authentication, instance "${input.instance}"`, `service accounts: ${accountNames.join(', ')}`);
  checks.push({ id: 'ews.config', title: 'config', status: 'pass', detail: `${input.path} is valid` });
  if (!/^[^\s@]+@[^\s@]+$/.test(mailbox)) {
    checks.push({ id: 'ews.mailbox-address', title: 'mailbox', status: 'fail', detail: `"${options.mailbox}" is not a mailbox address`, remedy: 'give the primary SMTP address of a mailbox calpush should write' });
    return result();
  }

  // Secrets: read them (for redaction too) the way the target will.
  let caPem: string | undefined;
  try {
    for (const [index, account] of (target.accounts ?? []).entries()) secrets.push(readSecretReference(account.password, input.baseDir, `target.accounts.${index}.password`));
    if (target.caFile) caPem = readFileSync(isAbsolute(target.caFile) ? target.caFile : resolve(input.baseDir, target.caFile), 'utf8');
    createEwsTarget(target, { instance: input.instance, baseDir: input.baseDir, allDayTimeZone: input.timeZone, log: () => {}, ...(input.proxy ? { proxy: input.proxy } : {}) }).close().catch(() => {});
    checks.push({ id: 'ews.credential', title: 'credential', status: 'pass', detail: target.auth === 'oauth' ? 'OAuth settings read' : `passwords of ${accountNames.length} service account${accountNames.length === 1 ? '' : 's'} read` });
  } catch (error) {
    checks.push({ id: 'ews.credential', title: 'credential', status: 'fail', detail: (error as Error).message, remedy: 'fix the file or environment variable the config refers to' });
    return result();
  }

  const timeoutMs = options.timeoutMs ?? Math.min(target.requestTimeoutMs, 30_000);
  const [endpoint] = endpoints([{ url: target.url, role: 'EWS' }]);
  const dns = await dnsCheck(endpoint!, 'ews.dns');
  checks.push(dns);
  const tls = dns.status === 'fail' ? skip('ews.tls', 'TLS', 'not tried (no address)') : await tlsCheck(endpoint!, caPem, timeoutMs, 'ews.tls');
  checks.push(tls);
  if (tls.status === 'fail' || tls.status === 'skip') {
    checks.push(skip('ews.access', 'access', 'not tried: the EWS endpoint is not reachable (see above)'));
    return result();
  }

  // Each service account against the mailbox: the rights a delegate or impersonating account needs.
  const single = (account?: NonNullable<EwsTargetConfig['accounts']>[number]): EwsTargetConfig => ({ ...target, ...(account ? { accounts: [account] } : {}), requestTimeoutMs: timeoutMs });
  const toTry = target.auth === 'oauth' ? [undefined] : (target.accounts ?? []).slice(0, MAX_ACCOUNTS);
  let anyOk = false;
  for (const [index, account] of toTry.entries()) {
    const name = account?.username ?? accountNames[0]!;
    const ewsTarget = createEwsTarget(single(account), { instance: input.instance, baseDir: input.baseDir, allDayTimeZone: input.timeZone, log: () => {}, ...(input.proxy ? { proxy: input.proxy } : {}) });
    const id = `ews.access.${index}`;
    const title = toTry.length > 1 ? `access ${index + 1}` : 'access';
    try {
      const page = await ewsTarget.listOwned(mailbox);
      anyOk = true;
      checks.push({
        id,
        title,
        status: 'pass',
        detail: `${name} may ${target.access === 'impersonation' ? 'impersonate' : 'open the calendar of'} ${mailbox}: ${page.items.length}${page.next ? '+' : ''} event(s) of instance "${input.instance}" there`,
      });
    } catch (error) {
      checks.push(failure(id, title, error));
    } finally {
      await ewsTarget.close();
    }
  }
  if ((target.accounts?.length ?? 0) > MAX_ACCOUNTS) {
    checks.push({ id: 'ews.access.more', title: 'access', status: 'warn', detail: `only the first ${MAX_ACCOUNTS} of ${target.accounts!.length} service accounts were tried`, remedy: 'grant the rights to a group holding all of them (calpush setup ews-delegate), so they cannot differ' });
  }

  if (!options.write) {
    checks.push(skip('ews.write', 'write', 'not tested: add --write to create and delete a tagged probe item'));
    return result();
  }
  if (!anyOk) {
    checks.push(skip('ews.write', 'write', 'not tried: no service account may use the mailbox'));
    return result();
  }
  // The probe goes through the whole pool, as sync sends it: the account the mailbox is assigned to.
  const ewsTarget = createEwsTarget({ ...target, requestTimeoutMs: timeoutMs }, { instance: input.instance, baseDir: input.baseDir, allDayTimeZone: input.timeZone, log: () => {}, ...(input.proxy ? { proxy: input.proxy } : {}) });
  try {
    const probe = probeEvent(mailbox);
    const transactionId = randomUUID();
    let itemId: string;
    try {
      itemId = (await ewsTarget.create(probe, transactionId)).itemId;
    } catch (error) {
      checks.push(failure('ews.write', 'write', error));
      return result();
    }
    const listed = async () => {
      const keys: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await ewsTarget.listOwned(mailbox, cursor);
        keys.push(...page.items.map((i) => i.key));
        cursor = page.next;
      } while (cursor);
      return keys;
    };
    try {
      const found = (await listed()).includes(probe.key);
      checks.push(
        found
          ? { id: 'ews.write', title: 'write', status: 'pass', detail: `created a probe item (tagged) as ${ewsTarget.serviceAccount(mailbox)} and found it by its tag` }
          : { id: 'ews.write', title: 'write', status: 'fail', detail: 'created a probe item, but it is not found by calpush\'s tag', remedy: 'extended properties are not kept on this mailbox: calpush could not recognise its own items here' },
      );
    } catch (error) {
      checks.push(failure('ews.write', 'write', error));
    }
    try {
      await ewsTarget.remove(mailbox, { itemId, changeKey: null });
      const gone = !(await listed()).includes(probe.key);
      checks.push(
        gone
          ? { id: 'ews.cleanup', title: 'cleanup', status: 'pass', detail: 'deleted the probe item; it is gone' }
          : { id: 'ews.cleanup', title: 'cleanup', status: 'fail', detail: 'deleted the probe item, but it is still there', remedy: `delete "${probe.event.subject}" from ${mailbox}'s calendar by hand` },
      );
    } catch (error) {
      const failed = failure('ews.cleanup', 'cleanup', error);
      checks.push({ ...failed, remedy: `${failed.remedy ? `${failed.remedy}; ` : ''}delete "${probe.event.subject}" from ${mailbox}'s calendar by hand` });
    }
    return result();
  } finally {
    await ewsTarget.close();
  }
}
