// The `watch` section: defaults, the drift policy per calendar, and errors that name the field.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.ts';
import { driftPolicyOf } from '../../src/app/watch.ts';

const base = { target: { kind: 'caldav', baseUrl: 'https://dav.example.edu/', calendarUrlTemplate: '{localpart}/timetable/', auth: { kind: 'basic', username: 'svc', password: { env: 'DAV_PASSWORD' } } } };

describe('the watch section', () => {
  it('defaults to watching every 5 minutes, a full listing daily, and restoring both edits and deletions', () => {
    const { watch } = parseConfig(base);
    expect(watch).toMatchObject({ enabled: true, intervalSeconds: 300, reconcileHours: 24, pastDays: 1, futureDays: 400, drift: 'restore', rules: [] });
    expect(driftPolicyOf(watch)('s0001@contoso.edu')).toEqual({ edited: 'restore', deleted: 'restore' });
  });

  it('takes a policy per kind and per calendar; the first rule that matches wins; a domain matches its addresses', () => {
    const { watch } = parseConfig({
      ...base,
      watch: {
        drift: { edited: 'respect' },
        rules: [
          { match: ['t0001@contoso.edu', '*@staff.contoso.edu'], drift: 'detach' },
          { match: ['rooms.contoso.edu'], drift: { deleted: 'respect', edited: 'restore' } },
        ],
      },
    });
    const policyOf = driftPolicyOf(watch);
    expect(policyOf('s0001@contoso.edu')).toEqual({ edited: 'respect', deleted: 'restore' });
    expect(policyOf('T0001@Contoso.edu')).toEqual({ edited: 'detach', deleted: 'detach' });
    expect(policyOf('ann@staff.contoso.edu')).toEqual({ edited: 'detach', deleted: 'detach' });
    expect(policyOf('lib-1@rooms.contoso.edu')).toEqual({ edited: 'restore', deleted: 'respect' });
  });

  it('refuses a bad policy, interval or rule, naming the field', () => {
    expect(() => parseConfig({ ...base, watch: { drift: 'ignore' } })).toThrow(/watch\.drift/);
    expect(() => parseConfig({ ...base, watch: { drift: { edited: 'keep' } } })).toThrow(/watch\.drift/);
    expect(() => parseConfig({ ...base, watch: { intervalSeconds: 5 } })).toThrow(/watch\.intervalSeconds: must be at least 30/);
    expect(() => parseConfig({ ...base, watch: { rules: [{ match: [], drift: 'restore' }] } })).toThrow(/watch\.rules\.0\.match/);
    expect(() => parseConfig({ ...base, watch: { rules: [{ match: ['a@b.c'], drift: 'restore', extra: 1 }] } })).toThrow(/watch\.rules\.0/);
    expect(() => parseConfig({ ...base, watch: { everySeconds: 60 } })).toThrow(/watch/);
  });
});
