// A pass on a cadence (engine/cadence.ts: the resource agent, room lists re-read) with an injected clock and wait: a pass every interval from the start of the
// previous one, a long pass followed at once, a failing pass reported and the next one still run, and stop() ending
// the wait at once and giving a running pass its grace period, no more.
import { describe, expect, it } from 'vitest';
import { Cadence } from '../../src/engine/cadence.ts';
import { fixedClock } from '../../src/model/clock.ts';
const NOW = '2026-09-01T08:00:00Z';

/** A wait that moves the clock by what was asked, unless stopped first; records each wait asked for. */
function manualTime() {
  const clock = fixedClock(NOW);
  const waits: number[] = [];
  let release: (() => void) | null = null;
  const wait = (ms: number, signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      waits.push(ms);
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', () => resolve(), { once: true });
      release = () => {
        clock.advance(ms);
        resolve();
      };
    });
  const tick = async () => {
    await new Promise((r) => setImmediate(r));
    const go = release;
    release = null;
    go?.();
    await new Promise((r) => setImmediate(r));
  };
  return { clock, waits, wait, tick };
}

describe('a pass on a cadence', () => {
  it('runs a pass every interval, counted from the start of the pass before', async () => {
    const time = manualTime();
    const started: number[] = [];
    const loop = new Cadence({
      intervalMs: 60_000,
      clock: time.clock,
      wait: time.wait,
      pass: async () => {
        started.push(time.clock.now());
        time.clock.advance(started.length === 2 ? 70_000 : 15_000); // the second pass takes longer than the interval
        return started.length;
      },
    });
    loop.start();
    await time.tick();
    await time.tick();
    await time.tick();
    await loop.stop(1_000);
    const t0 = Date.parse(NOW);
    // 1st at 0, takes 15 s, waits 45 s; 2nd at 60 s, takes 70 s, no wait; 3rd at 130 s, …
    expect(started.slice(0, 3).map((t) => (t - t0) / 1000)).toEqual([0, 60, 130]);
    expect(time.waits.slice(0, 2)).toEqual([45_000, 45_000]);
    expect(loop.status()).toMatchObject({ state: 'stopped' });
  });

  it('a pass that throws is reported; the next pass comes at its time', async () => {
    const time = manualTime();
    const errors: string[] = [];
    let n = 0;
    const loop = new Cadence({
      intervalMs: 30_000,
      clock: time.clock,
      wait: time.wait,
      pass: async () => {
        n++;
        if (n === 1) throw new Error('the store is locked');
        return n;
      },
      onError: (error) => errors.push((error as Error).message),
    });
    loop.start();
    await time.tick();
    await time.tick();
    expect(errors).toEqual(['the store is locked']);
    expect(n).toBeGreaterThanOrEqual(2);
    expect(loop.status().lastError).toBeNull();
    await loop.stop(1_000);
  });

  it('stop() ends the wait at once, and a running pass gets the grace period, no more', async () => {
    const time = manualTime();
    let passes = 0;
    const idle = new Cadence({ intervalMs: 3_600_000, clock: time.clock, wait: time.wait, pass: async () => ++passes });
    idle.start();
    await new Promise((r) => setImmediate(r)); // the first pass runs; the loop waits for the next
    const before = time.clock.now();
    await idle.stop(5_000); // waiting for the next pass: ends without the clock moving
    expect(time.clock.now()).toBe(before);
    expect(passes).toBe(1);

    let hang: () => void = () => {};
    const busy = new Cadence({ intervalMs: 60_000, wait: (ms, signal) => (signal.aborted ? Promise.resolve() : new Promise<void>((r) => setTimeout(r, Math.min(ms, 50)))), pass: () => new Promise<number>((r) => (hang = () => r(0))) });
    busy.start();
    const t = performance.now();
    await busy.stop(5_000); // the pass hangs: stop returns after the (shortened) grace
    expect(performance.now() - t).toBeLessThan(2_000);
    expect(busy.status().state).toBe('stopped');
    hang();
    await busy.done();
  });
});
