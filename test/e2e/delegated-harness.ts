// Delegated access in tests: a workspace whose target is `graph-delegated` over the sandbox (with a store encryption
// key), and a person's sign-in at the sandbox driven over HTTP as a browser would (the browser test does it in
// Chromium).
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Sandbox } from '../../src/sandbox/index.ts';
import { httpsRequest } from '../sandbox/helpers.ts';
import { workspaceAt, type Workspace } from './harness.ts';

export function createDelegatedWorkspace(sandbox: Sandbox, extra: Record<string, unknown> = {}): Workspace & { storeKey: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'calpush-delegated-'));
  const storeKey = randomBytes(32);
  writeFileSync(join(dir, 'ca.pem'), sandbox.caPem);
  writeFileSync(join(dir, 'delegated-secret.txt'), sandbox.delegated.clientSecret, { mode: 0o600 });
  writeFileSync(join(dir, 'store.key'), storeKey.toString('base64'), { mode: 0o600 });
  const rawConfig: Record<string, unknown> = {
    instance: 'delegated',
    store: { sqlite: 'state/calpush.sqlite', encryptionKeys: [{ id: 'k1', key: { file: 'store.key' } }] },
    timeZone: 'Europe/Amsterdam',
    target: {
      kind: 'graph-delegated',
      tenantId: sandbox.tenantId,
      clientId: sandbox.delegated.clientId,
      credential: { kind: 'secret', secret: { file: 'delegated-secret.txt' } },
      authorityHost: sandbox.url,
      graphBaseUrl: sandbox.graphBaseUrl,
      caFile: 'ca.pem',
    },
    ...extra,
  };
  return { ...workspaceAt(dir, rawConfig), storeKey };
}

const hidden = (html: string, name: string) => new RegExp(`name="${name}" value="([^"]*)"`).exec(html)?.[1] ?? '';

/**
 * A person at the sandbox's sign-in page: signs in, accepts (or cancels) the consent, and returns where Entra ID sent
 * the browser back (the consent page's callback, with code and state).
 */
export async function signInAtSandbox(sandbox: Sandbox, authorizeUrl: string, user: string, options: { decision?: 'accept' | 'cancel'; cookie?: string } = {}): Promise<{ location: string; cookie: string }> {
  let cookie = options.cookie ?? '';
  let response = await httpsRequest(authorizeUrl, { ca: sandbox.caPem, headers: cookie ? { cookie } : {} });
  const action = authorizeUrl.split('?')[0]!;
  for (let step = 0; step < 3 && response.status === 200; step++) {
    const flow = hidden(response.text, 'flow');
    const fields: Record<string, string> = response.text.includes('name="password"')
      ? { flow, step: 'sign-in', username: user, password: sandbox.delegated.userPassword }
      : { flow, step: 'consent', decision: options.decision ?? 'accept' };
    response = await httpsRequest(action, { ca: sandbox.caPem, method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...(cookie ? { cookie } : {}) }, body: new URLSearchParams(fields).toString() });
    cookie = response.headers['set-cookie']?.split(';')[0] ?? cookie;
  }
  if (response.status !== 302) throw new Error(`the sandbox did not send the browser back: ${response.status} ${response.text.slice(0, 300)}`);
  return { location: response.headers['location']!, cookie };
}
