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

  it('soon(keys) runs a pass of those keys only, gathered into one pass; the full pass stays on the interval', async () => {
    const time = manualTime();
    const passes: Array<{ at: number; only: string[] | null }> = [];
    const loop = new Cadence({
      intervalMs: 60_000,
      clock: time.clock,
      wait: time.wait,
      pass: async (only) => {
        passes.push({ at: (time.clock.now() - Date.parse(NOW)) / 1000, only: only ? [...only].sort() : null });
        time.clock.advance(1_000);
        return passes.length;
      },
    });
    loop.start();
    await new Promise((r) => setImmediate(r)); // the first pass (a full one) runs; the loop waits for the next
    time.clock.advance(10_000);
    loop.soon(['room-b@contoso.edu']);
    loop.soon(['room-a@contoso.edu', 'room-b@contoso.edu']); // before the pass starts: the same pass
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    await time.tick(); // the wait left until the full pass (60 s after the first) runs out
    await loop.stop(1_000);
    expect(passes.slice(0, 3)).toEqual([
      { at: 0, only: null },
      { at: 11, only: ['room-a@contoso.edu', 'room-b@contoso.edu'] },
      { at: 60, only: null },
    ]);
    // Counted from the start of the full pass, not from the pass of the notified keys.
    expect(time.waits.slice(0, 2)).toEqual([59_000, 48_000]);
  });

  it('soon() without keys asks for a full pass, whatever keys were asked for before', async () => {
    const time = manualTime();
    const only: Array<string[] | null> = [];
    const loop = new Cadence({ intervalMs: 60_000, clock: time.clock, wait: time.wait, pass: async (keys) => only.push(keys ? [...keys] : null) });
    loop.start();
    await new Promise((r) => setImmediate(r));
    loop.soon(['room-a@contoso.edu']);
    loop.soon();
    await new Promise((r) => setImmediate(r));
    await new Promise((r) => setImmediate(r));
    await loop.stop(1_000);
    expect(only.slice(0, 2)).toEqual([null, null]);
  });
});
