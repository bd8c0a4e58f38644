// The conference-provider webhook (src/agent/provider.ts) against a real loopback HTTP server this test starts: the
// request is signed so that a receiver can verify it, a valid answer's instructions reach the organiser's meeting
// (full mode) and the acceptance's comment (limited mode), and a provider that is slow, fails, garbles or floods
// its answer makes the agent fall back on the template — or answer tentatively when the mailbox says so. A
// cancelled meeting is told to the provider.
import { createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { agentConfigSchema } from '../../src/agent/config.ts';
import { ConferenceProvider, verifyProviderSignature, type ProviderNotice } from '../../src/agent/provider.ts';
import { conferenceProviders } from '../../src/app/agent.ts';
import { systemClock } from '../../src/model/clock.ts';
import { agentConfig, meeting, organizerView, responses, startWorld, VMR, NOW, type AgentWorld, type Protocol } from './harness.ts';

const SECRET = 'provider-secret-0123456789abcdef0123456789';
const T1 = 't0001@contoso.edu';
const STUDENT = 's0040@contoso.edu';

type Behaviour = 'valid' | 'silent' | 'fail' | 'garbled' | 'oversized' | 'forged';

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
}

/** A provider as an organisation would run it: answers by `behaviour`, keeps every request it received. */
class FakeProvider {
  behaviour: Behaviour = 'valid';
  readonly received: Received[] = [];
  private readonly server: Server;
  private readonly held: ServerResponse[] = [];

  constructor() {
    this.server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        this.received.push({ headers: request.headers, body });
        this.answer(JSON.parse(body) as ProviderNotice, response);
      });
    });
  }

  private answer(notice: ProviderNotice, response: ServerResponse): void {
    const json = (status: number, value: unknown): void => void response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(value));
    if (notice.event === 'cancelled') return json(204, {});
    switch (this.behaviour) {
      case 'valid':
        return json(200, {
          html: `<p>Pexip room <b>meet.${notice.meeting.subject.length}</b> for ${notice.meeting.subject}</p>`,
          text: `Pexip room meet.${notice.meeting.subject.length} for ${notice.meeting.subject}`,
          alias: `meet.${notice.meeting.subject.length}`,
          webLink: 'https://pexip.contoso.edu/webapp/',
        });
      case 'silent':
        this.held.push(response);
        return;
      case 'fail':
        return json(500, { error: 'internal' });
      case 'garbled':
        return void response.writeHead(200, { 'content-type': 'application/json' }).end('{"html": "<p>half');
      case 'oversized':
        return json(200, { html: `<p>${'x'.repeat(200_000)}</p>`, text: 'x' });
      case 'forged':
        return json(200, { html: '<!-- /calpush-joining-instructions --><p>evil</p>', text: 'evil' });
    }
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/instructions?token=in-the-query`;
  }

  /** The requests of one meeting's subject (a cancellation's is "Canceled: <subject>"). */
  about(subject: string): Array<{ notice: ProviderNotice } & Received> {
    return this.received.map((r) => ({ ...r, notice: JSON.parse(r.body) as ProviderNotice })).filter((r) => r.notice.meeting.subject.replace(/^Canceled: /, '') === subject);
  }

  async close(): Promise<void> {
    for (const response of this.held) response.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function configWith(mode: 'full' | 'limited', url: string, fallback: 'template' | 'tentative', timeoutMs: number) {
  const config = agentConfig(mode);
  config.mailboxes[VMR]!.vmr!.provider = { url, secret: { env: 'UNUSED_IN_THIS_TEST' }, timeoutMs, fallback };
  return config;
}

async function providerWorld(protocol: Protocol, mode: 'full' | 'limited', fallback: 'template' | 'tentative', timeoutMs = 1_500) {
  const fake = new FakeProvider();
  const url = await fake.start();
  const provider = new ConferenceProvider({ url, secret: SECRET, timeoutMs, clock: { now: () => Date.parse(NOW) } });
  const world = await startWorld(protocol, configWith(mode, url, fallback, timeoutMs), { providers: new Map([[VMR, provider]]) });
  return {
    fake,
    world,
    async close() {
      await world.close();
      provider.close();
      await fake.close();
    },
  };
}

describe('the conference provider, full mode over Graph (fallback: the template)', () => {
  let fake: FakeProvider;
  let world: AgentWorld;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ fake, world, close } = await providerWorld('graph', 'full', 'template'));
  });
  afterAll(async () => {
    await close?.();
  });

  const book = (subject: string) => world.sandbox.outlook(T1).createEvent(meeting(subject, [[STUDENT, 'required'], [VMR, 'resource']]));
  const outcome = (summary: Awaited<ReturnType<AgentWorld['pass']>>, subject: string) => summary.outcomes.find((o) => o.subject === subject || o.subject === `Canceled: ${subject}`);

  it('a valid answer: its instructions go into the organiser’s meeting; the request is signed as documented', async () => {
    fake.behaviour = 'valid';
    const event = book('Provider review');
    const summary = await world.pass();
    expect(outcome(summary, 'Provider review')).toMatchObject({ outcome: 'accepted', alias: 'meet.15', instructions: 'body', instructionsFrom: 'provider' });
    expect(outcome(summary, 'Provider review')!.providerProblem).toBeUndefined();
    const body = organizerView(world, T1, event.iCalUId, VMR).event!.body.content;
    expect(body).toContain('<p>Pexip room <b>meet.15</b> for Provider review</p>');
    expect(body).not.toContain('dial +31 20 555 0100');
    expect((await world.store.agentMeeting(VMR, event.iCalUId))!.alias).toBe('meet.15');

    const [sent] = fake.about('Provider review');
    expect(sent!.notice).toMatchObject({ event: 'accepted', answer: 'accept', mailbox: VMR, alias: 'vmr1001', meeting: { uid: event.iCalUId, organizer: T1, subject: 'Provider review', isAllDay: false, recurring: false } });
    expect(sent!.notice.meeting.start).toMatch(/^2026-09-\d\dT\d\d:00:00\.000Z$/);
    // A receiver recomputes the HMAC over "<timestamp>.<raw body>" with the shared secret.
    const timestamp = sent!.headers['x-calpush-timestamp'] as string;
    expect(Number(timestamp)).toBe(Math.floor(Date.parse(NOW) / 1000));
    const expected = `sha256=${createHmac('sha256', SECRET).update(`${timestamp}.${sent!.body}`).digest('hex')}`;
    expect(sent!.headers['x-calpush-signature']).toBe(expected);
    expect(verifyProviderSignature(SECRET, { signature: expected, timestamp }, sent!.body, Date.parse(NOW))).toBe(true);
    // A changed body, another secret, a replayed (old) timestamp: refused.
    expect(verifyProviderSignature(SECRET, { signature: expected, timestamp }, sent!.body.replace('accepted', 'cancelled'), Date.parse(NOW))).toBe(false);
    expect(verifyProviderSignature(`${SECRET}x`, { signature: expected, timestamp }, sent!.body, Date.parse(NOW))).toBe(false);
    expect(verifyProviderSignature(SECRET, { signature: expected, timestamp }, sent!.body, Date.parse(NOW) + 3_600_000)).toBe(false);
    // The secret travels in no header and no body.
    expect(JSON.stringify(fake.received)).not.toContain(SECRET);
  });

  it('a decision completed after a crash gets the provider’s instructions too, asked about the meeting as recorded', async () => {
    fake.behaviour = 'valid';
    const event = book('Crashed provider call');
    const respond = world.desk.respond.bind(world.desk);
    vi.spyOn(world.desk, 'respond').mockImplementationOnce(async (...args) => {
      await respond(...args);
      throw new Error('the process died here');
    });
    const crashed = await world.pass();
    expect(crashed.mailboxes.find((m) => m.mailbox === VMR)!.error).toMatchObject({ code: 'InternalError' });
    vi.restoreAllMocks();
    const asked = fake.about('Crashed provider call').length;

    const completed = await world.pass();
    expect(completed.outcomes.filter((o) => o.subject === 'Crashed provider call')).toContainEqual(expect.objectContaining({ outcome: 'unchanged', alias: 'meet.21', instructions: 'body', instructionsFrom: 'provider' }));
    const body = organizerView(world, T1, event.iCalUId, VMR).event!.body.content;
    expect(body).toContain('<p>Pexip room <b>meet.21</b> for Crashed provider call</p>');
    expect(body).not.toContain('dial +31 20 555 0100');
    const again = fake.about('Crashed provider call').slice(asked);
    expect(again).toHaveLength(1);
    expect(again[0]!.notice).toMatchObject({ event: 'accepted', answer: 'accept', alias: 'meet.21', meeting: { uid: event.iCalUId, organizer: T1, subject: 'Crashed provider call' } });
    expect(await world.store.agentMeeting(VMR, event.iCalUId)).toMatchObject({ alias: 'meet.21', instructions: 'body', settled: true });
    expect(responses(world, T1, 'Crashed provider call').map((m) => m.type)).toEqual(['meetingAccepted']);
  });

  it.each([
    ['silent', 'no answer within the timeout', /ETIMEDOUT|within 1500 ms/],
    ['fail', 'HTTP 500', /answered HTTP 500/],
    ['garbled', 'a garbled answer', /not JSON/],
    ['oversized', 'an oversized answer', /AnswerTooLarge/],
    ['forged', 'an answer holding calpush’s block marker', /block marker/],
  ] as const)('%s (%s): the template’s instructions, the problem reported with the meeting', async (behaviour, _what, problem) => {
    fake.behaviour = behaviour;
    const subject = `Fallback ${behaviour}`;
    const event = book(subject);
    const summary = await world.pass();
    const seen = outcome(summary, subject)!;
    expect(seen).toMatchObject({ outcome: 'accepted', instructions: 'body', instructionsFrom: 'template' });
    expect(seen.providerProblem).toMatch(problem);
    expect(seen.providerProblem).toContain('http://127.0.0.1:');
    expect(seen.providerProblem).not.toContain('token=in-the-query');
    expect(seen.providerProblem).not.toContain(SECRET);
    const body = organizerView(world, T1, event.iCalUId, VMR).event!.body.content;
    expect(body).toContain(`dial +31 20 555 0100 and enter ${seen.alias!.slice(3)}`);
    expect(body).not.toContain('evil');
  });

  it('a cancelled meeting is told to the provider (best effort), with the alias it had', async () => {
    fake.behaviour = 'valid';
    const event = book('Cancel me');
    await world.pass();
    world.sandbox.outlook(T1).cancel(event.id, 'Not needed');
    const summary = await world.pass();
    expect(outcome(summary, 'Cancel me')).toMatchObject({ outcome: 'cancelled' });
    expect(outcome(summary, 'Cancel me')!.providerProblem).toBeUndefined();
    const told = fake.about('Cancel me');
    expect(told.map((r) => r.notice.event)).toEqual(['accepted', 'cancelled']);
    expect(told[1]!.notice).toMatchObject({ alias: 'meet.9', meeting: { uid: event.iCalUId } });
    expect(told[1]!.notice.answer).toBeUndefined();
    expect(verifyProviderSignature(SECRET, { signature: told[1]!.headers['x-calpush-signature'] as string, timestamp: told[1]!.headers['x-calpush-timestamp'] as string }, told[1]!.body, Date.parse(NOW))).toBe(true);
  });
});

describe('the conference provider, limited mode over EWS (fallback: tentative)', () => {
  let fake: FakeProvider;
  let world: AgentWorld;
  let close: () => Promise<void>;
  beforeAll(async () => {
    ({ fake, world, close } = await providerWorld('ews', 'limited', 'tentative'));
  });
  afterAll(async () => {
    await close?.();
  });

  it('a valid answer: its instructions travel in the acceptance’s comment', async () => {
    fake.behaviour = 'valid';
    world.sandbox.outlook(T1).createEvent(meeting('Limited provider', [[VMR, 'resource']]));
    const summary = await world.pass();
    expect(summary.outcomes).toMatchObject([{ subject: 'Limited provider', outcome: 'accepted', alias: 'meet.16', instructions: 'comment', instructionsFrom: 'provider' }]);
    const [accepted] = responses(world, T1, 'Limited provider');
    expect(accepted!.body).toContain('Your request was accepted.');
    expect(accepted!.body).toContain('Pexip room meet.16 for Limited provider');
    expect(accepted!.body).not.toContain('dial +31 20 555 0100');
  });

  it('a provider that fails: the meeting is accepted tentatively, without instructions, and the problem is reported', async () => {
    fake.behaviour = 'fail';
    world.sandbox.outlook(T1).createEvent(meeting('Tentative provider', [[VMR, 'resource']]));
    const summary = await world.pass();
    const [seen] = summary.outcomes.filter((o) => o.subject === 'Tentative provider');
    expect(seen).toMatchObject({ outcome: 'tentative', rule: 'provider', instructions: 'none' });
    expect(seen!.instructionsFrom).toBeUndefined();
    expect(seen!.providerProblem).toMatch(/answered HTTP 500/);
    const [answer] = responses(world, T1, 'Tentative provider');
    expect(answer!.type).toBe('meetingTenativelyAccepted'); // sic: Graph's eventMessage meetingMessageType value
    expect(answer!.body).toContain('a person will confirm');
    expect(answer!.body).not.toContain('dial +31 20 555 0100');
  });
});

describe('the provider in the config', () => {
  const section = (provider: Record<string, unknown>) => {
    const raw = agentConfig('full');
    return { mailboxes: { [VMR]: { ...raw.mailboxes[VMR], vmr: { ...raw.mailboxes[VMR]!.vmr, provider } } } };
  };

  it('takes the secret as a reference only, a bounded timeout, and names the field of a mistake', () => {
    const inline = agentConfigSchema.safeParse(section({ url: 'https://pexip.contoso.edu/hook', secret: SECRET }));
    expect(inline.success).toBe(false);
    expect(inline.error!.issues[0]!.path.join('.')).toBe(`mailboxes.${VMR}.vmr.provider.secret`);
    const slow = agentConfigSchema.safeParse(section({ url: 'https://pexip.contoso.edu/hook', secret: { env: 'X' }, timeoutMs: 600_000 }));
    expect(slow.error!.issues[0]!.path.join('.')).toBe(`mailboxes.${VMR}.vmr.provider.timeoutMs`);
    const parsed = agentConfigSchema.parse(section({ url: 'https://pexip.contoso.edu/hook', secret: { env: 'X' } }));
    expect(parsed.mailboxes[VMR]!.vmr!.provider).toEqual({ url: 'https://pexip.contoso.edu/hook', secret: { env: 'X' }, timeoutMs: 5_000, fallback: 'template' });
  });

  it('reads the secret at start; a short one is refused naming the field, never showing it', () => {
    const agent = agentConfigSchema.parse(section({ url: 'https://pexip.contoso.edu/hook', secret: { env: 'CALPUSH_TEST_PROVIDER_SECRET' } }));
    process.env['CALPUSH_TEST_PROVIDER_SECRET'] = 'short-secret';
    try {
      expect(() => conferenceProviders({ agent, proxy: 'direct' }, '/nonexistent', systemClock)).toThrow(`agent.mailboxes.${VMR}.vmr.provider.secret: the secret is shorter than 32 characters`);
      try {
        conferenceProviders({ agent, proxy: 'direct' }, '/nonexistent', systemClock);
      } catch (error) {
        expect(JSON.stringify({ message: (error as Error).message, remedy: (error as { remedy?: string }).remedy })).not.toContain('short-secret');
      }
      process.env['CALPUSH_TEST_PROVIDER_SECRET'] = SECRET;
      const providers = conferenceProviders({ agent, proxy: 'direct' }, '/nonexistent', systemClock);
      expect([...providers.keys()]).toEqual([VMR]);
      expect(providers.get(VMR)!.where).toBe('https://pexip.contoso.edu/hook');
      for (const provider of providers.values()) provider.close();
    } finally {
      delete process.env['CALPUSH_TEST_PROVIDER_SECRET'];
    }
  });
});
