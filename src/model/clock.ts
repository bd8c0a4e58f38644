// "Now", injected. Everything in calpush that asks what time it is asks a Clock it was handed, so that tests can
// run at any fixed moment (a night in winter, a summer afternoon) and never depend on the machine's hour.
// Timers (setTimeout) are not the clock's business: the scheduler owns every wait.

export interface Clock {
  /** Milliseconds since the epoch, like Date.now(). */
  now(): number;
}

/** The machine's clock: the default everywhere outside tests. */
export const systemClock: Clock = { now: () => Date.now() };

/** A clock that stands still at `at` until moved; for tests. */
export function fixedClock(at: number | string | Date): Clock & { set(at: number | string | Date): void; advance(ms: number): void } {
  let current = new Date(at).getTime();
  if (Number.isNaN(current)) throw new RangeError(`fixedClock: ${String(at)} is not a date`);
  return {
    now: () => current,
    set(to) {
      current = new Date(to).getTime();
    },
    advance(ms) {
      current += ms;
    },
  };
}
