// Debian's Chromium (/usr/bin/chromium, `apt-get install chromium`) driven by playwright-core, which never
// downloads a browser of its own. Headless, without the sandbox (CI runs as root), and without the background
// connections Chromium makes on its own (component updates, sync, field trials, QUIC): this machine's network is
// closed, and those connections would only be refused. playwright-core gives every launch a fresh profile
// (--user-data-dir) in the tests' own temporary folder.
import { chromium, type Browser } from 'playwright-core';
import { requireTool } from '../support/tools.ts';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Starts Chromium, or throws the one-line "install chromium" hint (test/support/tools.ts) when it is missing. */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: requireTool('chromium'), headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}
