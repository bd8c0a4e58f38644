// The sandbox converts wall clocks with its own Intl-based code (src/sandbox/graph/timezones.ts), not calpush's
// src/model/time.ts, so that the two check each other: a bug in calpush's conversion now disagrees with the
// sandbox instead of being shared by both sides (issue #19, case 6). This property test holds them together.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { utcMsToZoned, zonedToUtcMs } from '../../src/model/time.ts';
import { formatWall, instantToWall, intlOffsetMs, wallToInstant } from '../../src/sandbox/graph/timezones.ts';

/** Zones with DST north and south, none, half- and quarter-hour offsets, a date-line jumper and rule changes. */
const ZONES = [
  'Europe/Amsterdam', 'Europe/London', 'Europe/Moscow', 'America/New_York', 'America/Sao_Paulo', 'America/St_Johns', 'America/Santiago',
  'Australia/Sydney', 'Australia/Lord_Howe', 'Asia/Kolkata', 'Asia/Kathmandu', 'Asia/Tehran', 'Pacific/Chatham', 'Pacific/Apia',
  'Africa/Casablanca', 'Etc/UTC', 'Asia/Tokyo',
];
// 1972 to 2099 (America/St_Johns changed at 00:01 local time until 2011: not on a quarter hour).
const instant = fc.integer({ min: Date.UTC(1972, 0, 1), max: Date.UTC(2099, 11, 31) });
const zone = fc.constantFrom(...ZONES);
const seconds = (ms: number) => Math.floor(ms / 1000) * 1000;

describe('the sandbox’s time zones agree with calpush’s (fast-check)', () => {
  it('instant → wall clock', () => {
    fc.assert(
      fc.property(zone, instant, (z, at) => {
        expect(formatWall(instantToWall(seconds(at), z)).slice(0, 19)).toBe(utcMsToZoned(seconds(at), z));
      }),
      { numRuns: 3000 },
    );
  });

  it('wall clock → instant, also in a spring-forward gap (forwards) and a fall-back overlap (the first)', () => {
    fc.assert(
      fc.property(zone, instant, fc.integer({ min: -3 * 3_600_000, max: 3 * 3_600_000 }), (z, at, nudge) => {
        // Around the real wall clocks of random instants, and around DST changes when the nudge lands in one.
        const local = utcMsToZoned(seconds(at) + nudge, z);
        const [date, time] = local.split('T') as [string, string];
        const [year, month, day] = date.split('-').map(Number) as [number, number, number];
        const [hour, minute, second] = time.split(':').map(Number) as [number, number, number];
        const wall = { year, month, day, hour, minute, second, ticks: 0 };
        expect(wallToInstant(wall, z)).toBe(zonedToUtcMs(local, z));
      }),
      { numRuns: 3000 },
    );
  });

  it('a change that is not on a quarter hour: Newfoundland fell back at 00:01 NDT on 26 October 1997 (02:31 UTC)', () => {
    // Found by the property above (seed 401887062): the sandbox remembered the offset per quarter hour and kept NDT
    // for the minute after the change.
    const change = Date.UTC(1997, 9, 26, 2, 31);
    for (const probe of [change - 60_000, change, change + 60_000]) {
      expect(formatWall(instantToWall(probe, 'America/St_Johns')).slice(0, 19)).toBe(utcMsToZoned(probe, 'America/St_Johns'));
    }
    expect(formatWall(instantToWall(change, 'America/St_Johns')).slice(0, 19)).toBe('1997-10-25T23:01:00');
    // 00:01 on the 26th happens once, in NST (UTC−3:30).
    const wall = { year: 1997, month: 10, day: 26, hour: 0, minute: 1, second: 0, ticks: 0 };
    expect(new Date(wallToInstant(wall, 'America/St_Johns')).toISOString()).toBe('1997-10-26T03:31:00.000Z');
  });

  it('at the exact DST transitions of a year, both sides see the same offsets and resolve the same gaps and overlaps', () => {
    const QUARTER = 15 * 60_000;
    const STEP = 24 * QUARTER;
    for (const z of ZONES) {
      for (let from = Date.UTC(2026, 0, 1); from < Date.UTC(2027, 0, 1); from += STEP) {
        if (intlOffsetMs(z, from) === intlOffsetMs(z, from + STEP)) continue;
        // The offset changes within these six hours: find the quarter hour it changes at.
        let at = from;
        while (intlOffsetMs(z, at + QUARTER) === intlOffsetMs(z, from)) at += QUARTER;
        at += QUARTER;
        for (const probe of [at - 1000, at, at + 1000]) expect(formatWall(instantToWall(probe, z)).slice(0, 19), `${z} ${new Date(probe).toISOString()}`).toBe(utcMsToZoned(probe, z));
        // Every wall clock from an hour before the change to two hours after, in quarter hours: the gap (skipped
        // times) and the overlap (times that happen twice) included.
        const before = Date.parse(`${utcMsToZoned(at - 1000, z)}Z`) + 1000;
        for (let wallMs = before - 4 * QUARTER; wallMs <= before + 8 * QUARTER; wallMs += QUARTER) {
          const local = new Date(wallMs).toISOString().slice(0, 19);
          const d = new Date(wallMs);
          const wall = { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate(), hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: 0, ticks: 0 };
          expect(wallToInstant(wall, z), `${z} ${local}`).toBe(zonedToUtcMs(local, z));
        }
      }
    }
  });
});
