// A process that dies between the agent's answer and its record (issue #15 review): the answer has reached the
// organiser, but nothing after it happened. The next pass completes it — full mode's joining instructions into the
// organiser's meeting, once, with the alias decided before the crash — over Graph and EWS alike.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { findBlock } from '../../src/agent/instructions.ts';
import { meeting, organizerView, responses, startWorld, VMR, type AgentWorld, type Protocol } from './harness.ts';

const T1 = 't0001@contoso.edu';
const STUDENT = 's0040@contoso.edu';
const PROTOCOLS: Protocol[] = ['graph', 'ews'];

describe.each(PROTOCOLS)('the agent over %s, killed between its answer and its record', (protocol) => {
  let world: AgentWorld | undefined;
  afterEach(async () => {
    await world?.close();
    world = undefined;
  });

  /** The next answer is sent, then the process "dies" (a throw no handler expects) before anything else happens. */
  function crashAfterNextAnswer(agent: AgentWorld): void {
    const respond = agent.desk.respond.bind(agent.desk);
    vi.spyOn(agent.desk, 'respond').mockImplementationOnce(async (...args) => {
      await respond(...args);
      throw new Error('the process died here');
    });
  }

  it('the next pass puts the joining instructions into the organiser’s meeting once, with the same alias, and answers nothing twice', async () => {
    world = await startWorld(protocol);
    const booked = world.sandbox.outlook(T1).createEvent(meeting('Crash review', [[STUDENT, 'required'], [VMR, 'resource']]));
    crashAfterNextAnswer(world);
    const crashed = await world.pass();
    expect(crashed.mailboxes.find((m) => m.mailbox === VMR)!.error).toMatchObject({ code: 'InternalError' });
    expect(organizerView(world, T1, booked.iCalUId, VMR).response).toBe('accepted');

    const completed = await world.pass();
    expect(completed.outcomes.filter((o) => o.subject === 'Crash review')).toContainEqual(expect.objectContaining({ outcome: 'unchanged', alias: 'vmr1001', instructions: 'body' }));
    await world.pass();
    const organizer = organizerView(world, T1, booked.iCalUId, VMR);
    const content = organizer.event!.body.content as string;
    expect(content.match(/calpush-joining-instructions v1/g)).toHaveLength(1);
    expect(findBlock({ contentType: 'html', content }, 'agent-test').state).toBe('ours');
    expect(content).toContain('https://vmr.contoso.edu/vmr1001');
    expect(content).toContain('<p>Crash review: agenda</p>');
    expect(await world.store.agentMeeting(VMR, booked.iCalUId)).toMatchObject({ answer: 'accepted', alias: 'vmr1001', instructions: 'body', settled: true });
    expect(await world.store.unsettledAgentMeetings(VMR)).toEqual([]);
    expect(responses(world, T1, 'Crash review').map((m) => m.type)).toEqual(['meetingAccepted']);
  });

  it('an answer the service refuses leaves no decision behind to complete', async () => {
    world = await startWorld(protocol);
    const booked = world.sandbox.outlook(T1).createEvent(meeting('Refused answer', [[VMR, 'resource']]));
    const { TargetError } = await import('../../src/targets/target.ts');
    vi.spyOn(world.desk, 'respond').mockRejectedValueOnce(new TargetError('item', 'ErrorItemNotFound', 'the request is gone'));
    const summary = await world.pass();
    expect(summary.outcomes.filter((o) => o.subject === 'Refused answer')).toMatchObject([{ outcome: 'failed' }]);
    expect(await world.store.agentMeeting(VMR, booked.iCalUId)).toBeNull();
    expect(await world.store.unsettledAgentMeetings(VMR)).toEqual([]);
    expect(organizerView(world, T1, booked.iCalUId, VMR).event!.body.content).not.toContain('calpush-joining-instructions');
  });

  /** A timeout, as the HTTP client reports one: the request left, no answer came. */
  async function timeout() {
    const { NetworkError } = await import('../../src/targets/http.ts');
    return new NetworkError('timeout', 'https://outlook.example/respond', 'transient', 'ETIMEDOUT', 'POST respond: no answer within 30000 ms (ETIMEDOUT)', {});
  }

  it('an answer that timed out after the service applied it is kept: the next pass completes its instructions, and answers nothing twice', async () => {
    world = await startWorld(protocol);
    const booked = world.sandbox.outlook(T1).createEvent(meeting('Timed-out answer', [[STUDENT, 'required'], [VMR, 'resource']]));
    const respond = world.desk.respond.bind(world.desk);
    const lost = await timeout();
    // The first attempt lands, its answer is lost; the scheduler's retries get no answer either.
    vi.spyOn(world.desk, 'respond')
      .mockImplementationOnce(async (...args) => {
        await respond(...args);
        throw lost;
      })
      .mockRejectedValue(lost);
    const failed = await world.pass();
    expect(failed.outcomes.filter((o) => o.subject === 'Timed-out answer')).toMatchObject([{ outcome: 'failed', error: { code: 'AnswerUncertain' } }]);
    expect(organizerView(world, T1, booked.iCalUId, VMR).response).toBe('accepted');
    expect(await world.store.agentMeeting(VMR, booked.iCalUId)).toMatchObject({ answer: 'accepted', alias: 'vmr1001', settled: false });
    vi.restoreAllMocks();

    const completed = await world.pass();
    expect(completed.outcomes.filter((o) => o.subject === 'Timed-out answer')).toContainEqual(expect.objectContaining({ outcome: 'unchanged', alias: 'vmr1001', instructions: 'body' }));
    const content = organizerView(world, T1, booked.iCalUId, VMR).event!.body.content as string;
    expect(content.match(/calpush-joining-instructions v1/g)).toHaveLength(1);
    expect(content).toContain('https://vmr.contoso.edu/vmr1001');
    expect(await world.store.agentMeeting(VMR, booked.iCalUId)).toMatchObject({ answer: 'accepted', alias: 'vmr1001', instructions: 'body', settled: true });
    expect(await world.store.unsettledAgentMeetings(VMR)).toEqual([]);
    expect(responses(world, T1, 'Timed-out answer').map((m) => m.type)).toEqual(['meetingAccepted']);
  });

  it('an answer that timed out before the service acted is given again by the next pass, with the same alias', async () => {
    world = await startWorld(protocol);
    const booked = world.sandbox.outlook(T1).createEvent(meeting('Unanswered timeout', [[STUDENT, 'required'], [VMR, 'resource']]));
    vi.spyOn(world.desk, 'respond').mockRejectedValue(await timeout());
    const failed = await world.pass();
    expect(failed.outcomes.filter((o) => o.subject === 'Unanswered timeout')).toMatchObject([{ outcome: 'failed', error: { code: 'AnswerUncertain' } }]);
    expect(organizerView(world, T1, booked.iCalUId, VMR).response).not.toBe('accepted');
    vi.restoreAllMocks();

    const answered = await world.pass();
    expect(answered.outcomes.filter((o) => o.subject === 'Unanswered timeout')).toContainEqual(expect.objectContaining({ outcome: 'accepted', alias: 'vmr1001', instructions: 'body' }));
    expect(organizerView(world, T1, booked.iCalUId, VMR).response).toBe('accepted');
    const content = organizerView(world, T1, booked.iCalUId, VMR).event!.body.content as string;
    expect(content.match(/calpush-joining-instructions v1/g)).toHaveLength(1);
    expect(await world.store.agentMeeting(VMR, booked.iCalUId)).toMatchObject({ answer: 'accepted', alias: 'vmr1001', instructions: 'body', settled: true });
    expect(responses(world, T1, 'Unanswered timeout').map((m) => m.type)).toEqual(['meetingAccepted']);
  });
});
