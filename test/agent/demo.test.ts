// `calpush demo --agent --json`: the resource agent's walk-through against the sandbox — VMR bookings accepted with
// their own aliases and the joining instructions in the organiser's meeting and the attendee's copy, an outsider
// declined, a move that keeps everything, a room found through its room list booked and then declined for a clash,
// and a student's deleted and edited lectures put back by a watch round (drift policy restore) — every count checked.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AgentDemoReport } from '../../src/cli/commands/demo-agent.ts';
import { runCli } from '../e2e/harness.ts';

const demoDir = () => join(mkdtempSync(join(tmpdir(), 'calpush-demo-agent-')), 'demo');

describe('calpush demo --agent', () => {
  it('--json: each step as expected, and every count', async () => {
    const result = await runCli(['demo', '--agent', '--json', '--dir', demoDir()]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as AgentDemoReport;
    expect(report.ok).toBe(true);
    expect(report.steps.map((s) => [s.step.replace(/"[^"]*"/g, '"…"'), s.status])).toEqual([
      ['t0001 books the VMR mailbox for "…"', 'ok'],
      ['t0002 books the VMR mailbox at the same time', 'ok'],
      ['visitor@partner.example (another organisation) books the VMR mailbox', 'ok'],
      ['t0001 moves "…" to 14:00', 'ok'],
      ['t0003 books room-lib-103@contoso.edu, named in no config but in the room list', 'ok'],
      ['t0004 books room-lib-103@contoso.edu at the same time', 'ok'],
      ['s0001@contoso.edu deletes "…"', 'ok'],
      ['s0001@contoso.edu renames "…" to "…"', 'ok'],
    ]);
    expect(report.steps[2]!.seen).toContain('is not allowed to book this resource');
    expect(report.steps[5]!.seen).toContain('already booked');
    expect(report.counts).toEqual({
      // Two VMR meetings, the moved one again, the room: accepted; the outsider and the clash: declined. Unchanged:
      // copies the agent looked at again after its own answers and updates, with nothing to do.
      accepted: 4,
      tentative: 0,
      declined: 2,
      cancelled: 0,
      unchanged: 4,
      failed: 0,
      instructionsInOrganizerMeetings: 1,
      attendeesWithInstructions: 1,
      aliases: 2,
      roomsFromRoomList: 2,
      lecturesDeleted: 1,
      lecturesEdited: 1,
      lecturesRestored: 2,
    });
  }, 180_000);

  it('--agent with --serve is refused with exit 2', async () => {
    const result = await runCli(['demo', '--agent', '--serve', '--dir', demoDir()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe('calpush demo: --agent is a demo of its own: run it without --serve or --hybrid\n');
  });
});
