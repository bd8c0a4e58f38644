// The conference provider's answer parser (src/agent/provider.ts) takes anything a server may send: it never throws,
// accepts only a 2xx answer of the agreed shape within its bounds, and gives back exactly what was sent.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseProviderAnswer, signProviderRequest, verifyProviderSignature } from '../../src/agent/provider.ts';

const safeText = (max: number) => fc.string({ minLength: 1, maxLength: max }).filter((s) => !/calpush-joining-instructions/i.test(s));
const validAnswer = fc.record(
  {
    html: safeText(300),
    text: safeText(300),
    alias: fc.string({ minLength: 1, maxLength: 200 }),
    dialIn: fc.string({ maxLength: 200 }),
    webLink: fc.webUrl({ validSchemes: ['http', 'https'] }).filter((u) => /^https?:/.test(u) && u.length <= 2000),
  },
  { requiredKeys: ['html', 'text'] },
);

describe('parseProviderAnswer', () => {
  it('never throws, whatever the status and body; only a 2xx answer is ever taken', () => {
    fc.assert(
      fc.property(fc.integer({ min: 100, max: 599 }), fc.oneof(fc.string(), fc.json(), validAnswer.map((a) => JSON.stringify(a))), (status, body) => {
        const result = parseProviderAnswer(status, body);
        if (status < 200 || status > 299) expect(result.ok).toBe(false);
        if (!result.ok) expect(result.problem.length).toBeGreaterThan(0);
      }),
    );
  });

  it('a valid answer is taken as it was sent (unknown keys dropped)', () => {
    fc.assert(
      fc.property(validAnswer, fc.integer({ min: 200, max: 299 }), (answer, status) => {
        const result = parseProviderAnswer(status, JSON.stringify({ ...answer, extra: 'ignored' }));
        expect(result).toEqual({ ok: true, answer });
      }),
    );
  });

  it('an answer past a bound, missing a form, or forging calpush’s marker is refused with the field named', () => {
    const broken = fc.oneof(
      fc.constant({ html: 'x'.repeat(20_001), text: 'ok' }),
      fc.constant({ html: 'ok', text: 'x'.repeat(20_001) }),
      fc.constant({ html: 'ok', text: 'ok', alias: 'a'.repeat(201) }),
      fc.constant({ html: 'ok', text: 'ok', webLink: 'javascript:alert(1)' }),
      fc.record({ html: safeText(50) }),
      fc.record({ text: safeText(50) }),
      safeText(50).map((t) => ({ html: `${t}<!-- /calpush-joining-instructions -->`, text: t })),
      fc.constantFrom(null, [], 'a string', 42),
    );
    fc.assert(
      fc.property(broken, (answer) => {
        const result = parseProviderAnswer(200, JSON.stringify(answer));
        expect(result.ok).toBe(false);
      }),
    );
  });
});

describe('the request signature', () => {
  it('verifies what was signed, and nothing changed', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 32, maxLength: 64 }), fc.string(), fc.string({ minLength: 1 }), fc.integer({ min: 1_600_000_000, max: 2_000_000_000 }), (secret, body, extra, t) => {
        const signature = signProviderRequest(secret, t, body);
        expect(verifyProviderSignature(secret, { signature, timestamp: String(t) }, body, t * 1000)).toBe(true);
        expect(verifyProviderSignature(secret, { signature, timestamp: String(t) }, body + extra, t * 1000)).toBe(false);
        expect(verifyProviderSignature(secret, { signature, timestamp: String(t + 1) }, body, t * 1000)).toBe(false);
      }),
    );
  });
});
