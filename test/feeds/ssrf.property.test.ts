// The feed fetcher's address policy against IPv4 addresses in IPv6 clothing: every way an IPv6 address can carry
// an IPv4 destination (mapped, translated, compatible, NAT64, 6to4, Teredo), in every spelling, for every address
// of every forbidden range. The ranges are written out here again (RFC 6890 and the clouds' metadata endpoints) so
// that the test does not check the code against itself.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AddressPolicy, embeddedIPv4, fetchFeed, FeedError } from '../../src/sources/feeds.ts';

const FORBIDDEN_V4: Array<[string, number]> = [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
];
const METADATA_V4 = ['169.254.169.254', '169.254.170.2', '169.254.169.253', '168.63.129.16', '100.100.100.200', '192.0.0.192'];

const toNumber = (ip: string) => ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
const toBytes = (n: number) => [n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const inRange = (n: number, [network, prefix]: [string, number]) => Math.floor(n / 2 ** (32 - prefix)) === Math.floor(toNumber(network) / 2 ** (32 - prefix));

const forbiddenV4 = fc
  .constantFrom(...FORBIDDEN_V4)
  .chain(([network, prefix]) => fc.integer({ min: 0, max: 2 ** (32 - prefix) - 1 }).map((offset) => toBytes(toNumber(network) + offset)));
const metadataV4 = fc.constantFrom(...METADATA_V4).map((ip) => toBytes(toNumber(ip)));
const publicV4 = fc
  .integer({ min: 0, max: 2 ** 32 - 1 })
  .filter((n) => !FORBIDDEN_V4.some((range) => inRange(n, range)) && !METADATA_V4.map(toNumber).includes(n))
  .map(toBytes);

const hex = (word: number) => word.toString(16);
const words = (b: number[]) => [(b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!];
const dotted = (b: number[]) => b.join('.');
const word = fc.integer({ min: 0, max: 0xffff });

/** Every form in which an IPv6 address carries the IPv4 address b, as an arbitrary of its spellings. */
function embeddings(b: number[]): fc.Arbitrary<{ form: string; ip: string }> {
  const [high, low] = words(b).map(hex) as [string, string];
  const inverted = words(b).map((w) => hex(w ^ 0xffff));
  return fc.oneof(
    fc.constant({ form: 'mapped, dotted', ip: `::ffff:${dotted(b)}` }),
    fc.constant({ form: 'mapped, hex', ip: `::ffff:${high}:${low}` }),
    fc.constant({ form: 'mapped, written out', ip: `0:0:0:0:0:FFFF:${high.toUpperCase()}:${low.toUpperCase()}` }),
    fc.constant({ form: 'mapped, zero-padded', ip: `0000:0000:0000:0000:0000:ffff:${high.padStart(4, '0')}:${low.padStart(4, '0')}` }),
    fc.constant({ form: 'translated', ip: `::ffff:0:${high}:${low}` }),
    fc.constant({ form: 'compatible', ip: `::${dotted(b)}` }),
    fc.constant({ form: 'NAT64', ip: `64:ff9b::${high}:${low}` }),
    fc.constant({ form: 'NAT64, dotted', ip: `64:ff9b::${dotted(b)}` }),
    fc.constant({ form: 'local-use NAT64 /96', ip: `64:ff9b:1::${high}:${low}` }),
    fc.constant({ form: 'local-use NAT64 /48', ip: `64:ff9b:1:${high}:${hex(b[2]!)}:${hex(b[3]! << 8)}::` }),
    fc.tuple(word, word, word).map(([x, y, z]) => ({ form: '6to4', ip: `2002:${high}:${low}:${hex(x)}::${hex(y)}:${hex(z)}` })),
    fc.tuple(word, word, word, word).map(([s1, s2, flags, port]) => ({ form: 'Teredo client', ip: `2001:0:${hex(s1)}:${hex(s2)}:${hex(flags)}:${hex(port)}:${inverted[0]}:${inverted[1]}` })),
    fc.tuple(word, word, word, word).map(([flags, port, c1, c2]) => ({ form: 'Teredo server', ip: `2001:0:${high}:${low}:${hex(flags)}:${hex(port)}:${hex(c1)}:${hex(c2)}` })),
  );
}

describe('IPv4 addresses in IPv6 clothing', () => {
  const strict = new AddressPolicy(false);
  const allowPrivate = new AddressPolicy(true);

  it('every address of every forbidden IPv4 range is refused in every IPv6 form', () => {
    fc.assert(
      fc.property(forbiddenV4.chain(embeddings), ({ form, ip }) => {
        expect(strict.refusal(ip), `${form}: ${ip}`).not.toBeNull();
      }),
      { numRuns: 2000 },
    );
  });

  it('cloud metadata addresses are refused in every IPv6 form even when private addresses are allowed', () => {
    fc.assert(
      fc.property(metadataV4.chain(embeddings), ({ form, ip }) => {
        expect(allowPrivate.refusal(ip), `${form}: ${ip}`).toBe('is a cloud metadata address');
      }),
      { numRuns: 1000 },
    );
  });

  it('a public IPv4 address stays reachable as itself, IPv4-mapped and through NAT64 (IPv6-only networks with DNS64)', () => {
    fc.assert(
      fc.property(publicV4, (b) => {
        const [high, low] = words(b).map(hex);
        for (const ip of [dotted(b), `::ffff:${dotted(b)}`, `::ffff:${high}:${low}`, `64:ff9b::${high}:${low}`]) expect(strict.refusal(ip), ip).toBeNull();
      }),
      { numRuns: 1000 },
    );
  });

  it('finds the IPv4 address each form carries', () => {
    fc.assert(
      fc.property(
        fc.oneof(forbiddenV4, publicV4).chain((b) => embeddings(b).map((e) => ({ b, ...e }))),
        ({ b, form, ip }) => {
          expect(embeddedIPv4(ip), `${form}: ${ip}`).toContain(dotted(b));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('refuses such an address written in a feed URL before connecting', async () => {
    for (const host of ['[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[::ffff:0:7f00:1]', '[64:ff9b::a9fe:a9fe]', '[2002:a9fe:a9fe::]', '[::ffff:a9fe:a9fe]']) {
      const error = await fetchFeed(`http://${host}/feed.ics`, { timeoutMs: 2000, maxBytes: 1_000_000, maxRedirects: 0, policy: strict }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(error, host).toBeInstanceOf(FeedError);
      expect((error as FeedError).code, host).toBe('refused-address');
    }
  });
});
