// Named targets and the routing rules (src/app/routing.ts, the config in src/app/config.ts): every form, the order
// (first match wins, in the order written), the default, the CSV file and its errors, and what the config refuses.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseConfig, targetConfigs, withTarget } from '../../src/app/config.ts';
import { compileRouting, globMatches, readRoutingCsv, staticRoute } from '../../src/app/routing.ts';

const graph = { kind: 'graph', tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'X' } } };
const ews = { kind: 'ews', url: 'https://mail.contoso.edu/EWS/Exchange.asmx', access: 'delegate', auth: 'ntlm', accounts: [{ username: 'svc@contoso.edu', password: { env: 'Y' } }] };
const dav = { kind: 'caldav', baseUrl: 'https://dav.contoso.edu/', calendarUrlTemplate: '/calendars/{localpart}/timetable/', auth: { kind: 'basic', username: 'calpush', password: { env: 'Z' } } };

function config(extra: Record<string, unknown>) {
  return parseConfig({ instance: 'routing-test', ...extra });
}

function route(raw: Record<string, unknown>, mailbox: string, baseDir = tmpdir()) {
  const parsed = config(raw);
  return staticRoute(compileRouting(parsed.routing, [...targetConfigs(parsed).keys()], baseDir), mailbox);
}

const targets = { online: graph, onprem: ews, dav };

describe('named targets in the config', () => {
  it('the single `target` keeps working: it is the target named "default", and every mailbox goes there', () => {
    const parsed = config({ target: graph });
    expect([...targetConfigs(parsed).keys()]).toEqual(['default']);
    expect(route({ target: graph }, 'anyone@example.org')).toEqual({ kind: 'target', target: 'default', reason: 'the only target' });
  });

  it('`targets` names them; one named target needs no routing', () => {
    expect(route({ targets: { online: graph } }, 's1@contoso.edu')).toMatchObject({ kind: 'target', target: 'online' });
    expect(withTarget(config({ targets, routing: { default: 'online' } }), 'onprem').target).toMatchObject({ kind: 'ews' });
  });

  it('`target` and `targets` together: the single one is "default", the fallback of mailboxes no rule matches', () => {
    const raw = { target: graph, targets: { onprem: ews }, routing: { rules: [{ match: ['*@staff.contoso.edu'], target: 'onprem' }] } };
    expect(route(raw, 't1@staff.contoso.edu')).toMatchObject({ target: 'onprem' });
    expect(route(raw, 's1@contoso.edu')).toEqual({ kind: 'target', target: 'default', reason: 'no rule matched: the default target' });
  });

  it.each([
    [{}, 'target: is required'],
    [{ targets: {} }, 'targets: names no target'],
    [{ target: graph, targets: { default: ews } }, 'targets.default: "default" is the name of `target`'],
    [{ targets }, 'routing: is required with several targets (online, onprem, dav)'],
    [{ targets, routing: { rules: [{ mailboxes: ['a@contoso.edu'], target: 'cloud' }] } }, 'routing.rules.0.target: names target "cloud", which is not configured (online, onprem, dav)'],
    [{ targets, routing: { default: 'nowhere' } }, 'routing.default: names target "nowhere"'],
    [{ targets, routing: { rules: [{ lookup: 'exchange-hybrid', onPremises: 'online', online: 'onprem' }] } }, 'routing.rules.0.onPremises: must name an EWS target (the on-premises Exchange organisation); "online" is graph'],
    [{ targets, routing: { rules: [{ lookup: 'exchange-hybrid', onPremises: 'onprem', online: 'dav' }] } }, 'routing.rules.0.online: must name a Microsoft Graph target (Exchange Online); "dav" is caldav'],
    [{ targets: { 'On Prem': ews } }, 'targets.On Prem: is not a target name: must be 1–32 lower-case letters'],
    [{ targets, routing: { rules: [{ match: ['a b'], target: 'dav' }] } }, 'must not contain spaces'],
    [{ targets, routing: { rules: [{ target: 'dav' }] } }, 'each rule is {"mailboxes"'],
  ])('refuses %j naming the field', (raw, message) => {
    expect(() => config(raw as Record<string, unknown>)).toThrow(message);
  });
});

describe('routing rules', () => {
  const rules = [
    { mailboxes: ['room-1@contoso.edu'], target: 'onprem' },
    { match: ['*@lab.contoso.edu', 'guest-??@contoso.edu'], target: 'dav' },
    { match: ['contoso.edu'], target: 'online' },
  ];
  const raw = { targets, routing: { rules } };

  it('explicit lists, globs (* and ?) and bare domains; the reason names the rule', () => {
    expect(route(raw, 'room-1@contoso.edu')).toEqual({ kind: 'target', target: 'onprem', reason: 'rule 1 (1 mailbox → onprem)' });
    expect(route(raw, 'ROOM-1@Contoso.EDU')).toMatchObject({ target: 'onprem' });
    expect(route(raw, 'x@lab.contoso.edu')).toEqual({ kind: 'target', target: 'dav', reason: 'rule 2 (match → dav): *@lab.contoso.edu' });
    expect(route(raw, 'guest-07@contoso.edu')).toMatchObject({ target: 'dav' });
    expect(route(raw, 'guest-100@contoso.edu')).toMatchObject({ target: 'online', reason: 'rule 3 (match → online): contoso.edu' });
    expect(route(raw, 's1@contoso.edu')).toMatchObject({ target: 'online' });
    // A bare domain is that domain, not its subdomains (those need *.domain).
    expect(route(raw, 'x@sub.contoso.edu')).toEqual({ kind: 'none', reason: 'no routing rule matches x@sub.contoso.edu and routing.default is not set' });
    expect(route({ targets, routing: { rules: [{ match: ['*.contoso.edu'], target: 'dav' }] } }, 'x@sub.contoso.edu')).toMatchObject({ target: 'dav' });
  });

  it('the first rule that matches wins, in the order written', () => {
    const broadFirst = { targets, routing: { rules: [rules[2], rules[0]] } };
    expect(route(broadFirst, 'room-1@contoso.edu')).toMatchObject({ target: 'online', reason: expect.stringMatching(/^rule 1 /) });
    expect(route(raw, 'room-1@contoso.edu')).toMatchObject({ target: 'onprem' });
  });

  it('routing.default takes what no rule matches', () => {
    expect(route({ targets, routing: { rules, default: 'onprem' } }, 'x@elsewhere.org')).toEqual({ kind: 'target', target: 'onprem', reason: 'no rule matched: the default target' });
  });

  it('the hybrid lookup rule answers "ask", only for the mailboxes its match names', () => {
    const lookup = { lookup: 'exchange-hybrid', onPremises: 'onprem', online: 'online', match: ['contoso.edu'] };
    const hybrid = { targets, routing: { rules: [rules[1], lookup], default: 'dav' } };
    const answer = route(hybrid, 's1@contoso.edu');
    expect(answer).toMatchObject({ kind: 'lookup', reason: 'rule 2 (exchange-hybrid lookup: onprem or online)' });
    expect(answer.kind === 'lookup' && answer.rule).toMatchObject({ ask: ['autodiscover', 'graph'], refreshMinutes: 1440 });
    expect(route(hybrid, 'x@lab.contoso.edu')).toMatchObject({ kind: 'target', target: 'dav' });
    expect(route(hybrid, 'x@other.org')).toMatchObject({ kind: 'target', target: 'dav', reason: 'no rule matched: the default target' });
  });

  it('a CSV file of mailbox,target lines (header, comments and blank lines skipped), relative to the config', () => {
    const dir = mkdtempSync(join(tmpdir(), 'calpush-routing-'));
    writeFileSync(join(dir, 'routes.csv'), '\uFEFFmailbox,target\r\n# rooms stay on-premises\r\nroom-2@contoso.edu,onprem\r\n\r\nS9@Contoso.edu , dav\r\n');
    const csv = { targets, routing: { rules: [{ csv: 'routes.csv' }, rules[2]] } };
    expect(route(csv, 'room-2@contoso.edu', dir)).toEqual({ kind: 'target', target: 'onprem', reason: 'rule 1 (CSV routes.csv)' });
    expect(route(csv, 's9@contoso.edu', dir)).toMatchObject({ target: 'dav' });
    expect(route(csv, 's1@contoso.edu', dir)).toMatchObject({ target: 'online', reason: expect.stringMatching(/^rule 2 /) });
  });

  it.each([
    ['a@contoso.edu,onprem,extra', 'line 1: has 3 fields, expected 2 (mailbox,target)'],
    ['a@contoso.edu;onprem', 'line 1: has 1 fields'],
    ['not-an-address,onprem', 'line 1: mailbox "not-an-address" is not an email address'],
    ['a@contoso.edu,cloud', 'line 1: target "cloud" is not a configured target (online, onprem, dav)'],
    ['a@contoso.edu,onprem\nA@contoso.edu,online', 'line 2: a@contoso.edu is routed to onprem on an earlier line'],
  ])('a bad CSV line refuses the config, naming the file, the line and the field: %j', (text, message) => {
    const dir = mkdtempSync(join(tmpdir(), 'calpush-routing-'));
    const path = join(dir, 'bad.csv');
    writeFileSync(path, text);
    expect(() => readRoutingCsv(path, new Set(Object.keys(targets)))).toThrow(`routing CSV ${path}, ${message}`);
  });

  it('a CSV file that cannot be read is a config error naming it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'calpush-routing-'));
    const parsed = config({ targets, routing: { rules: [{ csv: 'missing.csv' }] } });
    expect(() => compileRouting(parsed.routing, Object.keys(targets), dir)).toThrow(`cannot read routing CSV ${join(dir, 'missing.csv')}: ENOENT`);
  });
});

describe('globMatches', () => {
  const reference = (glob: string, address: string) => new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`, 's').test(address);

  it('agrees with a regular-expression reference on globs with @', () => {
    const alphabet = fc.constantFrom('a', 'b', '.', '@', '*', '?', '-');
    fc.assert(
      fc.property(fc.string({ unit: alphabet, maxLength: 12 }), fc.string({ unit: fc.constantFrom('a', 'b', '.', '@', '-'), maxLength: 14 }), (glob, address) => {
        fc.pre(glob.includes('@'));
        expect(globMatches(glob, address)).toBe(reference(glob, address));
      }),
      { numRuns: 3000 },
    );
  });

  it('stays fast on a hostile pattern (no backtracking blow-up)', () => {
    const pattern = `${'*a'.repeat(150)}*@x`;
    const address = `${'a'.repeat(300)}@y`;
    const started = performance.now();
    expect(globMatches(pattern, address)).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
  });
});
