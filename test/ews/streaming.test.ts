// EWS streaming notifications against the sandbox on loopback (src/targets/ews/streaming.ts,
// src/engine/ews-streaming.ts, src/sandbox/ews/streaming.ts): a change in a subscribed folder is heard within a
// second, over NTLM (a delegate account) and Basic with impersonation; the server closing the connection reopens it;
// a lost subscription is subscribed again; a garbled or oversized stream is a bounded TargetError that leaves the
// connection down until it is armed again; stop() unsubscribes. Every request is schema-checked by the sandbox, and
// the three request bodies by xmllint here.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EwsStreams } from '../../src/engine/ews-streaming.ts';
import { Scheduler } from '../../src/engine/scheduler.ts';
import { fixedClock } from '../../src/model/clock.ts';
import { defaultTenantSeed, EQUIPMENT_MAILBOX, EWS_DELEGATE_ACCOUNTS, EWS_PASSWORD, EWS_SCHEDULING_ACCOUNT, startSandbox, type SandboxInternals } from '../../src/sandbox/index.ts';
import { envelope, type RequestContext } from '../../src/targets/ews/requests.ts';
import { DEFAULT_EWS_STREAMING, getStreamingEventsBody, StreamReader, subscribeBody, unsubscribeBody, type StreamPart } from '../../src/targets/ews/streaming.ts';
import { EwsTarget } from '../../src/targets/ews/target.ts';
import { ewsTargetSchema } from '../../src/targets/ews/config.ts';
import { TargetError } from '../../src/targets/target.ts';
import { usableStudents } from '../e2e/harness.ts';
import { startProxy } from '../support/test-proxy.ts';
import { resolveProxy } from '../../src/config/proxy.ts';
import { validateEnvelopes } from './xmllint.ts';

afterEach(async () => {
  // Each test starts without the connections of the one before (the sandbox notices a closed socket a moment later).
  await until(() => sandbox.ews.streaming.stats().open === 0, 'the connections closed');
});

const STUDENT = usableStudents(defaultTenantSeed())[0]!;
const clock = fixedClock('2026-09-01T08:00:00Z');
let sandbox: SandboxInternals;

beforeAll(async () => {
  sandbox = await startSandbox({ clock });
  // A "minute" of ConnectionTimeout lasts a second here, a heartbeat every 100 ms.
  sandbox.ews.streaming.setTiming({ minuteMs: 1_000, heartbeatMs: 100 });
});
afterAll(async () => {
  await sandbox?.close();
});

function target(kind: 'delegate' | 'impersonation', streaming: Record<string, number> = {}): EwsTarget {
  return new EwsTarget({
    instance: 'streaming-test',
    url: sandbox.ewsUrl,
    caPem: sandbox.caPem,
    access: kind,
    auth: kind === 'delegate' ? 'ntlm' : 'basic',
    accounts: [{ username: kind === 'delegate' ? EWS_DELEGATE_ACCOUNTS[0]! : EWS_SCHEDULING_ACCOUNT, password: EWS_PASSWORD }],
    serverVersion: 'Exchange2013_SP1',
    allDayTimeZone: 'Europe/Amsterdam',
    streaming: { connectionTimeoutMinutes: 1, ...streaming },
  });
}

/** Streams of one target, with what they heard. */
function streamsOf(ews: EwsTarget) {
  const heard: string[] = [];
  const errors: TargetError[] = [];
  const scheduler = new Scheduler({ clock, baseBackoffMs: 10, maxBackoffMs: 50 });
  const streams = new EwsStreams({ channel: ews.streamingChannel(), scheduler, connectionsPerAccount: 1, onChange: (m) => heard.push(m), onError: (_m, e) => errors.push(e) });
  return { streams, heard, errors, scheduler };
}

async function until(seen: () => boolean, what: string, ms = 5_000): Promise<void> {
  const started = performance.now();
  while (!seen()) {
    if (performance.now() - started > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

let hour = 8;
function lecture(): Record<string, unknown> {
  hour++;
  return { subject: `Streamed ${hour}`, start: { dateTime: `2026-09-14T${String(hour).padStart(2, "0")}:00:00`, timeZone: "UTC" }, end: { dateTime: `2026-09-14T${String(hour).padStart(2, "0")}:30:00`, timeZone: "UTC" } };
}

describe('EWS streaming notifications', () => {
  it('hears a student’s change to a watched calendar within a second (delegate, NTLM), and a delete too', async () => {
    const ews = target('delegate');
    const { streams, heard, errors } = streamsOf(ews);
    await streams.arm([{ mailbox: STUDENT, folders: ['calendar'] }]);
    await until(() => sandbox.ews.streaming.stats().open === 1, 'a connection');
    heard.length = 0;
    const started = performance.now();
    const event = sandbox.outlook(STUDENT).createEvent(lecture());
    await until(() => heard.includes(STUDENT), 'the created event', 2_000);
    heard.length = 0;
    sandbox.outlook(STUDENT).deleteEvent(event.id);
    await until(() => heard.includes(STUDENT), 'the deleted event', 2_000);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(errors).toEqual([]);
    await streams.stop();
    await ews.close();
  });

  it('goes through the outbound proxy: NTLM inside a CONNECT tunnel, like every other EWS request', async () => {
    const proxy = await startProxy();
    const ews = new EwsTarget({
      instance: 'streaming-test',
      url: sandbox.ewsUrl,
      caPem: sandbox.caPem,
      access: 'delegate',
      auth: 'ntlm',
      accounts: [{ username: EWS_DELEGATE_ACCOUNTS[1]!, password: EWS_PASSWORD }],
      serverVersion: 'Exchange2013_SP1',
      allDayTimeZone: 'Europe/Amsterdam',
      proxy: resolveProxy([{ url: proxy.url }], '.', 'target.proxy', {}),
    });
    try {
      const { streams, heard } = streamsOf(ews);
      await streams.arm([{ mailbox: STUDENT, folders: ['calendar'] }]);
      await until(() => sandbox.ews.streaming.stats().open === 1, 'a connection');
      heard.length = 0;
      sandbox.outlook(STUDENT).createEvent(lecture());
      await until(() => heard.includes(STUDENT), 'the change through the tunnel', 2_000);
      // The ordinary requests' tunnel and the hanging connection's own.
      expect(proxy.tunnels().every((tunnel) => tunnel === `CONNECT ${new URL(sandbox.url).host}`)).toBe(true);
      expect(proxy.tunnels().length).toBeGreaterThanOrEqual(2);
      await streams.stop();
    } finally {
      await ews.close();
      await proxy.close();
    }
  });

  it('opens the connection again when the server closes it, and subscribes again when the subscription is lost', async () => {
    const ews = target('impersonation');
    const { streams, heard, errors } = streamsOf(ews);
    await streams.arm([{ mailbox: EQUIPMENT_MAILBOX, folders: ['inbox', 'calendar'] }]);
    await until(() => sandbox.ews.streaming.stats().open === 1, 'a connection');
    const before = sandbox.ews.streaming.stats();
    sandbox.ews.streaming.closeConnections();
    await until(() => sandbox.ews.streaming.stats().connections > before.connections && sandbox.ews.streaming.stats().open === 1, 'the connection reopened');
    heard.length = 0;
    sandbox.outlook(EQUIPMENT_MAILBOX).createEvent(lecture());
    await until(() => heard.includes(EQUIPMENT_MAILBOX), 'a change on the reopened connection', 2_000);

    sandbox.ews.streaming.expireSubscriptions();
    await until(() => sandbox.ews.streaming.stats().subscribes > before.subscribes && sandbox.ews.streaming.stats().open === 1, 'subscribed again');
    heard.length = 0;
    sandbox.outlook(EQUIPMENT_MAILBOX).createEvent(lecture());
    await until(() => heard.includes(EQUIPMENT_MAILBOX), 'a change on the new subscription', 2_000);
    expect(errors).toEqual([]);
    await streams.stop();
    await ews.close();
  });

  it('the server ending the connection at ConnectionTimeout is reopened, heartbeats keep it', async () => {
    const ews = target('impersonation');
    const { streams, heard } = streamsOf(ews);
    const before = sandbox.ews.streaming.stats().connections;
    await streams.arm([{ mailbox: EQUIPMENT_MAILBOX, folders: ['inbox'] }]);
    // ConnectionTimeout 1 "minute" = 1 s here: at least two connections within 2.5 s.
    await until(() => sandbox.ews.streaming.stats().connections >= before + 2, 'a second connection after the timeout', 4_000);
    heard.length = 0;
    sandbox.outlook('t0001@contoso.edu').createEvent({ ...lecture(), attendees: [{ emailAddress: { address: EQUIPMENT_MAILBOX }, type: 'resource' }] });
    await until(() => heard.includes(EQUIPMENT_MAILBOX), 'the meeting request in the inbox', 2_000);
    await streams.stop();
    await ews.close();
  });

  it.each([
    ['a garbled', () => sandbox.ews.streaming.garbleNext(), 'UnreadableStream'],
    ['an oversized', () => sandbox.ews.streaming.floodNext(20_000), 'StreamPartTooLarge'],
  ] as const)('%s stream is a bounded TargetError; the connection stays down until armed again', async (_what, fault, code) => {
    const ews = target('impersonation', { maxEnvelopeBytes: 8_192 });
    const { streams, heard, errors } = streamsOf(ews);
    await until(() => sandbox.ews.streaming.stats().open === 0, 'the connections of earlier tests gone');
    const before = sandbox.ews.streaming.stats().connections;
    await streams.arm([{ mailbox: EQUIPMENT_MAILBOX, folders: ['calendar'] }]);
    await until(() => sandbox.ews.streaming.stats().open === 1 && sandbox.ews.streaming.stats().connections > before, 'a connection');
    fault();
    await until(() => errors.length > 0, 'the error');
    expect(errors[0]).toBeInstanceOf(TargetError);
    expect(errors[0]!.code).toBe(code);
    await until(() => sandbox.ews.streaming.stats().open === 0, 'the connection closed');
    expect(streams.status()).toMatchObject({ subscribed: 1, running: 0 });
    // Armed again (the next poll does this): streaming goes on.
    await streams.arm([{ mailbox: EQUIPMENT_MAILBOX, folders: ['calendar'] }]);
    await until(() => sandbox.ews.streaming.stats().open === 1, 'the connection reopened');
    heard.length = 0;
    sandbox.outlook(EQUIPMENT_MAILBOX).createEvent(lecture());
    await until(() => heard.includes(EQUIPMENT_MAILBOX), 'a change after re-arming', 2_000);
    await streams.stop();
    await ews.close();
  });

  it('subscribes a mailbox once when two passes arm it at the same time', async () => {
    const ews = target('impersonation');
    const { streams } = streamsOf(ews);
    const before = sandbox.ews.streaming.stats();
    const wanted = [{ mailbox: EQUIPMENT_MAILBOX, folders: ['inbox'] as const }];
    await Promise.all([streams.arm(wanted), streams.arm(wanted)]);
    await until(() => sandbox.ews.streaming.stats().open === 1, 'a connection');
    expect(sandbox.ews.streaming.stats().subscribes - before.subscribes).toBe(1);
    await streams.stop();
    expect(sandbox.ews.streaming.stats().subscriptions).toBe(before.subscriptions);
    await ews.close();
  });

  it('stop() ends the connection and unsubscribes', async () => {
    const ews = target('impersonation');
    const { streams } = streamsOf(ews);
    const before = sandbox.ews.streaming.stats();
    await streams.arm([{ mailbox: EQUIPMENT_MAILBOX, folders: ['inbox'] }]);
    await until(() => sandbox.ews.streaming.stats().open === 1, 'a connection');
    await streams.stop();
    const after = sandbox.ews.streaming.stats();
    expect(after.unsubscribes - before.unsubscribes).toBe(1);
    expect(after.subscriptions).toBe(before.subscriptions);
    await until(() => sandbox.ews.streaming.stats().open === 0, 'no connection');
    await ews.close();
  });

  it('holds one hanging connection per account in the scheduler’s streaming lane (target.streaming.hangingConnections)', async () => {
    const ews = target('impersonation');
    const lane = ews.streamLaneFor(EQUIPMENT_MAILBOX);
    expect(lane).toEqual({ key: `${ews.laneFor(EQUIPMENT_MAILBOX).key}:streaming`, concurrency: 1 });
    const { streams, scheduler } = streamsOf(ews);
    await streams.arm([{ mailbox: EQUIPMENT_MAILBOX, folders: ['inbox'] }]);
    await until(() => scheduler.accountLanes().some((l) => l.key === lane.key && l.inFlight === 1), 'the connection in its lane');
    await streams.stop();
    await ews.close();
  });
});

describe('target.streaming', () => {
  const raw = (streaming: unknown) => ({ kind: 'ews', url: 'https://mail.contoso.edu/EWS/Exchange.asmx', access: 'impersonation', auth: 'basic', accounts: [{ username: 'svc', password: { env: 'X' } }], streaming });

  it('takes the defaults when left out, and refuses a ConnectionTimeout the schema does not allow, naming the field', () => {
    const plain = new EwsTarget({ instance: 'x', url: sandbox.ewsUrl, access: 'impersonation', auth: 'basic', accounts: [{ username: 'svc', password: 'pw' }], serverVersion: 'Exchange2013_SP1', allDayTimeZone: 'UTC' });
    expect(plain.streamingOptions).toEqual(DEFAULT_EWS_STREAMING);
    expect(ewsTargetSchema.safeParse(raw({ watchMailboxes: 5 })).success).toBe(true);
    const refused = ewsTargetSchema.safeParse(raw({ connectionTimeoutMinutes: 45 }));
    expect(refused.success).toBe(false);
    expect(refused.error!.issues.map((i) => `${i.path.join('.')}: ${i.message}`)).toEqual(['streaming.connectionTimeoutMinutes: must be 1–30 (GetStreamingEvents ConnectionTimeout)']);
    expect(ewsTargetSchema.safeParse(raw({ hangingConnection: 2 })).success).toBe(false);
  });
});

describe('the stream reader', () => {
  const part = (message: string) =>
    `<?xml version="1.0"?><s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><m:GetStreamingEventsResponse xmlns:m="m" xmlns:t="t"><m:ResponseMessages>${message}</m:ResponseMessages></m:GetStreamingEventsResponse></s:Body></s:Envelope>`;
  const refused = (code: string, message: string) => new TargetError('transient', code, message);

  it('reads envelopes split anywhere, even inside a UTF-8 character', () => {
    const parts: StreamPart[] = [];
    const reader = new StreamReader({ maxEnvelopeBytes: 65_536, onPart: (p) => parts.push(p), refused });
    const text =
      part('<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:ConnectionStatus>OK</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>') +
      part('<m:GetStreamingEventsResponseMessage ResponseClass="Success"><m:ResponseCode>NoError</m:ResponseCode><m:Notifications><t:Notification><t:SubscriptionId>ä1</t:SubscriptionId><t:ModifiedEvent><t:TimeStamp>2026-09-01T08:00:00Z</t:TimeStamp><t:ItemId Id="x"/><t:ParentFolderId Id="y"/></t:ModifiedEvent></t:Notification></m:Notifications></m:GetStreamingEventsResponseMessage>') +
      part('<m:GetStreamingEventsResponseMessage ResponseClass="Error"><m:MessageText>gone</m:MessageText><m:ResponseCode>ErrorSubscriptionNotFound</m:ResponseCode><m:ErrorSubscriptionIds><t:SubscriptionId>b2</t:SubscriptionId></m:ErrorSubscriptionIds><m:ConnectionStatus>Closed</m:ConnectionStatus></m:GetStreamingEventsResponseMessage>');
    const bytes = Buffer.from(text);
    for (let at = 0; at < bytes.length; at += 7) reader.feed(bytes.subarray(at, at + 7));
    reader.end();
    expect(parts).toEqual([
      { changed: [], lost: [], closed: false },
      { changed: ['ä1'], lost: [], closed: false },
      { changed: [], lost: ['b2'], closed: true },
    ]);
  });

  it('refuses an envelope past its bound and an answer that ends inside one', () => {
    const reader = new StreamReader({ maxEnvelopeBytes: 4_096, onPart: () => {}, refused });
    expect(() => reader.feed(Buffer.from(`<s:Envelope>${'x'.repeat(5_000)}`))).toThrow(expect.objectContaining({ code: 'StreamPartTooLarge', scope: 'mailbox' }));
    const cut = new StreamReader({ maxEnvelopeBytes: 4_096, onPart: () => {}, refused });
    cut.feed(Buffer.from('<s:Envelope><s:Body>'));
    expect(() => cut.end()).toThrow(expect.objectContaining({ code: 'UnreadableStream' }));
  });

  it('sends Subscribe, GetStreamingEvents and Unsubscribe valid against the EWS schema (delegate and impersonation)', () => {
    const envelopes = (['delegate', 'impersonation'] as const).flatMap((access) => {
      const context: RequestContext = { access, serverVersion: 'Exchange2013_SP1', mailbox: 'room-1@contoso.edu' };
      return [envelope(context, subscribeBody(context, ['calendar', 'inbox'])), envelope(context, getStreamingEventsBody(['AAA=', 'BBB='], 30)), envelope(context, unsubscribeBody('AAA='))];
    });
    expect(validateEnvelopes(envelopes)).toEqual([]);
  });
});
