// `calpush demo --serve`: after the demo's syncs, the sandbox and calpush serve stay up, the dashboard's URL and a
// one-time admin sign-in key are printed, the key signs in, and Ctrl-C (SIGINT) or SIGTERM stops both cleanly.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startCli } from './harness.ts';

async function waitFor(read: () => string, pattern: RegExp, timeoutMs = 90_000): Promise<RegExpExecArray> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const match = pattern.exec(read());
    if (match) return match;
    if (performance.now() > deadline) throw new Error(`not printed in time: ${pattern}\n${read()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('calpush demo --serve', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('leaves the dashboard running with a sign-in key, and stops on %s', async (signal) => {
    const dir = join(mkdtempSync(join(tmpdir(), 'calpush-demo-serve-')), 'demo');
    const { child, done } = startCli(['demo', '--serve', '--port', '0', '--students', '3', '--rooms', '1', '--dir', dir]);
    let stdout = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    const url = (await waitFor(() => stdout, /^The dashboard: (http:\/\/127\.0\.0\.1:\d+)\/$/m))[1]!;
    const key = (await waitFor(() => stdout, /^Sign in with this key \(an admin key, shown once\): (cpk_\S+)$/m))[1]!;

    const form = await fetch(`${url}/sign-in`);
    const cookie = form.headers.getSetCookie()[0]!.split(';')[0]!;
    const token = /name="_csrf" value="([^"]+)"/.exec(await form.text())![1]!;
    const signedIn = await fetch(`${url}/sign-in`, {
      method: 'POST',
      redirect: 'manual',
      headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ _csrf: token, key }).toString(),
    });
    expect(signedIn.status).toBe(303);
    const session = signedIn.headers.getSetCookie().find((c) => c.startsWith('calpush_session='))!.split(';')[0]!;
    const overview = await fetch(`${url}/`, { headers: { cookie: session } });
    expect(overview.status).toBe(200);
    const page = await fetch(`${url}/mailboxes/outofscope%40contoso.edu`, { headers: { cookie: session } });
    expect(await page.text()).toContain('ErrorAccessDenied');

    child.kill(signal);
    const result = await done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`${signal}: stopping calpush serve and the sandbox`);
    await expect(fetch(`${url}/`)).rejects.toThrow();
  }, 120_000);
});
