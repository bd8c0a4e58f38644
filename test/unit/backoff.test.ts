// The serve loop's back-offs (src/engine/backoff.ts), at a clock the test moves.
import { describe, expect, it } from 'vitest';
import { Backoffs } from '../../src/engine/backoff.ts';
import type { Clock } from '../../src/model/clock.ts';
import { TargetError } from '../../src/targets/target.ts';

const movable = (at: number): Clock & { at: number } => {
  const clock: Clock & { at: number } = { at, now: () => clock.at };
  return clock;
};

describe('serve back-offs', () => {
  it('a failing mailbox waits min · 2^(n-1), at most max; a delivery clears it', () => {
    const clock = movable(Date.UTC(2026, 0, 15));
    const backoffs = new Backoffs(clock, 1_000, 5_000);
    const waits: number[] = [];
    for (let n = 0; n < 5; n++) {
      backoffs.mailboxFailed('a');
      let wait = 0;
      while (backoffs.waiting('a', clock.now() + wait)) wait += 500;
      waits.push(wait);
    }
    expect(waits).toEqual([1_000, 2_000, 4_000, 5_000, 5_000]);
    expect(backoffs.waiting('b', clock.now())).toBe(false);
    backoffs.mailboxDelivered('a');
    expect(backoffs.waiting('a', clock.now())).toBe(false);
    backoffs.mailboxFailed('a');
    expect(backoffs.waiting('a', clock.now() + 999)).toBe(true);
    expect(backoffs.waiting('a', clock.now() + 1_000)).toBe(false);
  });

  it('a mailbox another process delivers waits the fixed time and keeps its failure count', () => {
    const clock = movable(0);
    const backoffs = new Backoffs(clock, 1_000, 60_000);
    backoffs.mailboxFailed('a');
    backoffs.mailboxBusy('a', 200);
    expect(backoffs.waiting('a', 199)).toBe(true);
    expect(backoffs.waiting('a', 200)).toBe(false);
    backoffs.mailboxFailed('a');
    expect(backoffs.waiting('a', 1_999)).toBe(true);
  });

  it('a failure no mailbox can get past pauses everything, longer each time, until a run goes through after the pause', () => {
    const clock = movable(0);
    const backoffs = new Backoffs(clock, 1_000, 60_000);
    const error = new TargetError('fatal', 'invalid_client', 'the secret is wrong');
    backoffs.pauseAll(error);
    expect(backoffs.paused()).toMatchObject({ error, until: 1_000 });
    backoffs.resumed();
    expect(backoffs.paused()).not.toBeNull();
    clock.at = 1_000;
    expect(backoffs.paused()).toBeNull();
    backoffs.pauseAll(error);
    expect(backoffs.paused()?.until).toBe(3_000);
    clock.at = 3_000;
    backoffs.resumed();
    backoffs.pauseAll(error);
    expect(backoffs.paused()?.until).toBe(4_000);
  });
});
