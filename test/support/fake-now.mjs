// A fake "now" for a whole test run, child processes included: preloaded with
//   NODE_OPTIONS=--import=<this file>  CALPUSH_FAKE_NOW=2026-01-15T02:30:00Z
// it moves Date (Date.now(), new Date(), Date()) by a constant offset, so that the run starts at that instant and
// time still passes (timeouts, elapsed-time checks and the sandbox's token lifetimes keep working). The first
// process computes the offset and leaves it in CALPUSH_FAKE_NOW_OFFSET_MS; every process started from it (vitest's
// workers, the CLI and the sandbox the tests spawn) inherits that and uses the same offset, so they agree on the
// time to the millisecond. performance.now() and timers are untouched. Run by `npm run test:clocks`
// (scripts/test-clocks.ts). What is not moved: the clocks of other programs (Radicale, Xandikos, xmllint) and the
// one OpenSSL checks certificate dates with, which is why the sandbox's certificates are valid for years around
// their own "now" (src/sandbox/tls.ts).
const fakeNow = process.env.CALPUSH_FAKE_NOW;

if (fakeNow) {
  const RealDate = globalThis.Date;
  let offset = Number(process.env.CALPUSH_FAKE_NOW_OFFSET_MS);
  if (!process.env.CALPUSH_FAKE_NOW_OFFSET_MS || !Number.isFinite(offset)) {
    const target = RealDate.parse(fakeNow);
    if (Number.isNaN(target)) throw new Error(`CALPUSH_FAKE_NOW=${fakeNow} is not a date (use ISO 8601, e.g. 2026-01-15T02:30:00Z)`);
    offset = target - RealDate.now();
    process.env.CALPUSH_FAKE_NOW_OFFSET_MS = String(offset);
  }
  const now = () => RealDate.now() + offset;

  /** Date with the offset: `new Date()` and `Date()` give the fake now; every other form is the real Date's. */
  function FakeDate(...args) {
    if (!new.target) return new RealDate(now()).toString();
    return Reflect.construct(RealDate, args.length === 0 ? [now()] : args, new.target);
  }
  // Same prototype (instanceof Date, subclasses), same static methods (parse, UTC), a moved now().
  FakeDate.prototype = RealDate.prototype;
  Object.setPrototypeOf(FakeDate, RealDate);
  Object.defineProperty(FakeDate, 'now', { value: now, writable: true, configurable: true });
  Object.defineProperty(FakeDate, 'name', { value: 'Date' });
  Object.defineProperty(FakeDate, 'length', { value: 7 });
  globalThis.Date = FakeDate;
}
