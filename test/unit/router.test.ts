// The router (src/app/router.ts): the Exchange hybrid lookup — who is asked, in which order, what each answer
// means — its answers remembered in the store for the rule's refresh interval, asked again when told to (fresh),
// a remembered answer used when asking fails, a dry run recording nothing, and lookups going through the target's
// scheduler.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/app/config.ts';
import { directScheduler, explainRoutes, Router } from '../../src/app/router.ts';
import { compileRouting } from '../../src/app/routing.ts';
import type { DeliveryScheduler } from '../../src/engine/run.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock, type Clock } from '../../src/model/clock.ts';
import { SqliteStore } from '../../src/store/sqlite.ts';
import { TargetError, type CalendarTarget, type MailboxLocation } from '../../src/targets/target.ts';

type Answer = MailboxLocation | TargetError;

/** A target whose only talent is saying where a mailbox lives, as scripted; it counts the questions. */
function locator(kind: 'graph' | 'ews', answers: Map<string, Answer>): CalendarTarget & { asked: string[] } {
  const asked: string[] = [];
  return {
    kind,
    asked,
    async locate(mailbox: string) {
      asked.push(mailbox);
      const answer = answers.get(mailbox) ?? { found: 'nowhere', answer: `${kind} does not know ${mailbox}` };
      if (answer instanceof TargetError) throw answer;
      return answer;
    },
    listOwned: async () => ({ items: [] }),
    create: async () => ({ itemId: 'x', changeKey: null }),
    update: async () => ({ itemId: 'x', changeKey: null }),
    remove: async () => {},
    close: async () => {},
  };
}

const graph = { kind: 'graph', tenantId: 't', clientId: 'c', credential: { kind: 'secret', secret: { env: 'X' } } };
const ews = { kind: 'ews', url: 'https://mail.contoso.edu/EWS/Exchange.asmx', access: 'delegate', auth: 'ntlm', accounts: [{ username: 'svc@contoso.edu', password: { env: 'Y' } }] };

function setup(options: { lookup?: Record<string, unknown>; clock?: Clock; record?: boolean; scheduler?: () => DeliveryScheduler } = {}) {
  const config = parseConfig({
    targets: { online: graph, onprem: ews },
    routing: { rules: [{ mailboxes: ['room@contoso.edu'], target: 'onprem' }, { lookup: 'exchange-hybrid', onPremises: 'onprem', online: 'online', ...options.lookup }] },
  });
  const autodiscover = new Map<string, Answer>();
  const graphSays = new Map<string, Answer>();
  const onprem = locator('ews', autodiscover);
  const online = locator('graph', graphSays);
  const store = new SqliteStore(':memory:');
  const scheduler = options.scheduler ?? directScheduler;
  const router = new Router({
    routing: compileRouting(config.routing, ['online', 'onprem'], '.'),
    targets: new Map([
      ['online', { target: online, scheduler: scheduler() }],
      ['onprem', { target: onprem, scheduler: scheduler() }],
    ]),
    cache: store,
    ...(options.record !== undefined ? { record: options.record } : {}),
    clock: options.clock ?? fixedClock('2026-09-01T08:00:00Z'),
  });
  return { config, router, store, autodiscover, graphSays, onprem, online };
}

const here = (answer: string): MailboxLocation => ({ found: 'here', answer });
const elsewhere = (answer: string): MailboxLocation => ({ found: 'elsewhere', answer });

describe('the Exchange hybrid lookup', () => {
  it('asks on-premises Autodiscover first: its mailbox → on-premises, its redirect → online; Graph is not asked', async () => {
    const { router, autodiscover, online } = setup();
    autodiscover.set('a@contoso.edu', here('Autodiscover: settings'));
    autodiscover.set('b@contoso.edu', elsewhere('Autodiscover: RedirectAddress'));
    expect(await router.route('a@contoso.edu')).toMatchObject({ name: 'onprem', lookedUp: true, reason: 'rule 2 (exchange-hybrid lookup: onprem or online): Autodiscover: settings' });
    expect(await router.route('b@contoso.edu')).toMatchObject({ name: 'online', lookedUp: true });
    expect(online.asked).toEqual([]);
  });

  it('an address on-premises does not know is asked of Graph: there → online; MailboxNotEnabledForRESTAPI → on-premises', async () => {
    const { router, graphSays, onprem, online } = setup();
    graphSays.set('cloud@contoso.edu', here('Graph: its calendar answered'));
    graphSays.set('legacy@contoso.edu', elsewhere('Graph: MailboxNotEnabledForRESTAPI'));
    expect((await router.route('cloud@contoso.edu')).name).toBe('online');
    expect((await router.route('legacy@contoso.edu')).name).toBe('onprem');
    expect(onprem.asked).toEqual(['cloud@contoso.edu', 'legacy@contoso.edu']);
    expect(online.asked).toEqual(['cloud@contoso.edu', 'legacy@contoso.edu']);
  });

  it('nobody knows the address: a mailbox failure naming both answers', async () => {
    const { router } = setup();
    const error = await router.route('ghost@contoso.edu').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TargetError);
    expect(error).toMatchObject({ scope: 'mailbox', code: 'MailboxNotFound', message: 'neither side of the hybrid organisation knows ghost@contoso.edu: ews does not know ghost@contoso.edu; graph does not know ghost@contoso.edu' });
  });

  it('`ask` sets who is asked and in which order', async () => {
    const { router, autodiscover, graphSays, onprem } = setup({ lookup: { ask: ['graph'] } });
    autodiscover.set('a@contoso.edu', here('would say on-premises'));
    graphSays.set('a@contoso.edu', here('Graph: online'));
    expect((await router.route('a@contoso.edu')).name).toBe('online');
    expect(onprem.asked).toEqual([]);
  });

  it('rules before the lookup are not looked up; a lookup rule with `match` is asked only for those mailboxes', async () => {
    const { router, onprem } = setup({ lookup: { match: ['*@staff.contoso.edu'] } });
    expect(await router.route('room@contoso.edu')).toMatchObject({ name: 'onprem', lookedUp: false, reason: 'rule 1 (1 mailbox → onprem)' });
    await expect(router.route('s1@contoso.edu')).rejects.toMatchObject({ code: 'NoRoute', scope: 'mailbox' });
    expect(onprem.asked).toEqual([]);
  });
});

describe('remembered lookup answers', () => {
  it('are kept in the store and used until refreshMinutes have passed, then asked again', async () => {
    let now = Date.parse('2026-09-01T08:00:00Z');
    const clock: Clock = { now: () => now };
    const { router, store, autodiscover, onprem } = setup({ clock, lookup: { refreshMinutes: 60 } });
    autodiscover.set('a@contoso.edu', here('on-premises'));
    await router.route('a@contoso.edu');
    expect(await store.routeLookup('a@contoso.edu')).toEqual({ calendar: 'a@contoso.edu', target: 'onprem', answer: 'on-premises', checkedAt: '2026-09-01T08:00:00.000Z' });
    now += 59 * 60_000;
    autodiscover.set('a@contoso.edu', elsewhere('moved'));
    expect((await router.route('a@contoso.edu')).name).toBe('onprem');
    expect(onprem.asked).toHaveLength(1);
    now += 2 * 60_000;
    expect((await router.route('a@contoso.edu')).name).toBe('online');
    expect(onprem.asked).toHaveLength(2);
    expect(await store.routeLookup('a@contoso.edu')).toMatchObject({ target: 'online', answer: 'moved', checkedAt: '2026-09-01T09:01:00.000Z' });
  });

  it('fresh: asked again at once (delivery does this when the looked-up target refuses the mailbox)', async () => {
    const { router, autodiscover } = setup();
    autodiscover.set('a@contoso.edu', here('on-premises'));
    expect((await router.route('a@contoso.edu')).name).toBe('onprem');
    autodiscover.set('a@contoso.edu', elsewhere('moved'));
    expect((await router.route('a@contoso.edu')).name).toBe('onprem');
    expect((await router.route('a@contoso.edu', { fresh: true })).name).toBe('online');
  });

  it('when asking fails, the remembered answer is used; without one the mailbox fails with the cause', async () => {
    const { router, autodiscover } = setup();
    autodiscover.set('a@contoso.edu', here('on-premises'));
    await router.route('a@contoso.edu');
    const down = new TargetError('transient', 'ECONNREFUSED', 'connection refused', { remedy: 'is Exchange up?' });
    autodiscover.set('a@contoso.edu', down);
    autodiscover.set('b@contoso.edu', down);
    expect(await router.route('a@contoso.edu', { fresh: true })).toMatchObject({ name: 'onprem', reason: expect.stringContaining('asking again failed: connection refused') });
    await expect(router.route('b@contoso.edu')).rejects.toMatchObject({ scope: 'mailbox', code: 'RouteLookupFailed', message: 'could not find out where b@contoso.edu lives: connection refused', remedy: 'is Exchange up?' });
  });

  it('a dry run (record: false) asks but records nothing', async () => {
    const { router, store, autodiscover } = setup({ record: false });
    autodiscover.set('a@contoso.edu', here('on-premises'));
    expect((await router.route('a@contoso.edu')).name).toBe('onprem');
    expect(await store.routeLookup('a@contoso.edu')).toBeNull();
  });

  it('status explains routes without asking anyone: rules, remembered answers, or "not looked up yet"', async () => {
    const { router, config, store, autodiscover, onprem } = setup();
    autodiscover.set('a@contoso.edu', here('on-premises Autodiscover answered'));
    await router.route('a@contoso.edu');
    const explained = await explainRoutes(config, '.', store, ['room@contoso.edu', 'a@contoso.edu', 'b@contoso.edu']);
    expect(Object.fromEntries(explained)).toEqual({
      'room@contoso.edu': { target: 'onprem', kind: 'ews', reason: 'rule 1 (1 mailbox → onprem)' },
      'a@contoso.edu': { target: 'onprem', kind: 'ews', reason: 'rule 2 (exchange-hybrid lookup: onprem or online): on-premises Autodiscover answered (asked 2026-09-01T08:00:00.000Z)' },
      'b@contoso.edu': { target: null, kind: null, reason: 'rule 2 (exchange-hybrid lookup: onprem or online): not looked up yet (the next delivery asks)' },
    });
    expect(onprem.asked).toEqual(['a@contoso.edu']);
  });
});

describe('lookups and the schedulers', () => {
  it('each target has its own scheduler, and a lookup is a request through the asked target\'s', async () => {
    const schedulers: Scheduler[] = [];
    const { router, autodiscover } = setup({
      scheduler: () => {
        const scheduler = new Scheduler();
        schedulers.push(scheduler);
        return scheduler;
      },
    });
    autodiscover.set('a@contoso.edu', here('on-premises'));
    await router.route('a@contoso.edu');
    const [online, onprem] = schedulers;
    expect(router.schedulers()).toEqual([online, onprem]);
    expect(onprem!.stats().started).toBe(1);
    expect(online!.stats().started).toBe(0);
  });

  it('lookups of a target that answers one at a time wait in its lookup lane, one in flight, holding no global place: a delivery of another mailbox starts at once', async () => {
    const scheduler = new Scheduler({ globalConcurrency: 4 });
    const { router, autodiscover, onprem } = setup({ scheduler: () => scheduler });
    const lookups = Array.from({ length: 6 }, (_, n) => `user${n}@contoso.edu`);
    for (const mailbox of lookups) autodiscover.set(mailbox, here('on-premises'));
    let inFlight = 0;
    let maxInFlight = 0;
    let answered = 0;
    const ask = onprem.locate!.bind(onprem);
    onprem.locateLane = () => ({ key: 'autodiscover:mail.contoso.edu:svc@contoso.edu', concurrency: 1 });
    onprem.locate = async (mailbox) => {
      maxInFlight = Math.max(maxInFlight, ++inFlight);
      await new Promise((r) => setTimeout(r, 40));
      inFlight--;
      answered++;
      return ask(mailbox);
    };
    const routed = Promise.all(lookups.map((mailbox) => router.route(mailbox)));
    for (let i = 0; i < 100 && onprem.asked.length + inFlight === 0; i++) await new Promise((r) => setTimeout(r, 2));
    // A delivery request of another mailbox, while the lookups wait.
    const answeredWhenDelivered = await scheduler.submit('teacher@contoso.edu', async () => answered);
    expect(answeredWhenDelivered).toBe(0);
    expect((await routed).map((route) => route.name)).toEqual(lookups.map(() => 'onprem'));
    expect(maxInFlight).toBe(1);
  });
});
