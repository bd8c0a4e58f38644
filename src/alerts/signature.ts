// The signature of an alert webhook: `Calpush-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
// The timestamp is signed with the body, so a receiver that refuses timestamps older than its replay window (five
// minutes is advised: docs/api.md) and remembers the Calpush-Delivery ids it has seen within it cannot be fooled by
// a recorded request sent again. The scheme is the one Stripe and GitHub-style receivers already know.
import { createHmac, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'calpush-signature';
/** The replay window advised to receivers, and what verifyAlertSignature takes by default. */
export const REPLAY_WINDOW_SECONDS = 300;

export function signAlert(secret: string, body: string, nowMs: number): string {
  const t = Math.floor(nowMs / 1000);
  return `t=${t},v1=${createHmac('sha256', secret).update(`${t}.${body}`).digest('hex')}`;
}

/** A receiver's check: the signature matches and its timestamp is within the window of `nowMs`. */
export function verifyAlertSignature(secret: string, header: string | undefined, body: string, nowMs: number, toleranceSeconds = REPLAY_WINDOW_SECONDS): boolean {
  const parts = new Map((header ?? '').split(',').map((p) => p.trim().split('=') as [string, string]));
  const t = Number(parts.get('t'));
  const given = parts.get('v1') ?? '';
  if (!Number.isInteger(t) || !/^[0-9a-f]{64}$/.test(given)) return false;
  if (Math.abs(nowMs / 1000 - t) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${t}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(given, 'hex'));
}
