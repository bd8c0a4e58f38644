// calpush agent: the resource agent (src/agent/) — the meeting requests of the configured room and equipment
// mailboxes (and of the rooms of the configured room lists) read, decided by their policy, answered, the VMR joining
// instructions given; per mailbox the count of each outcome, and each outcome with its reason. Once (exit 1 when a
// mailbox, a request or a room list failed), or with --watch a pass every agent.intervalSeconds until SIGTERM/SIGINT.
import type { Command } from 'commander';
import { createAgent, passFailed, type AgentRun } from '../../app/agent.ts';
import { loadConfig } from '../../app/config.ts';
import { openStore } from '../../app/store.ts';
import { createTargets } from '../../app/targets.ts';
import { Cadence } from '../../engine/cadence.ts';
import { agentLeaseOwner, type AgentOutcome } from '../../agent/run.ts';
import { defaultWorkerId, ledgerName } from '../../engine/lease.ts';
import { ConfigError } from '../../config/secrets.ts';
import { systemClock } from '../../model/clock.ts';
import { createScheduler } from '../../engine/limits.ts';
import { agentStreaming, type AgentStreaming } from '../../engine/ews-streaming.ts';
import { reportFailure } from '../failure.ts';
import { integerArgument } from '../options.ts';

interface AgentOptions {
  config: string;
  json?: boolean;
  watch?: boolean;
  interval?: number;
}

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('answer the meeting requests of the room and equipment mailboxes in the config’s "agent" section, once or with --watch on a cadence (docs/agent.md)')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--json', 'print the outcome as JSON (with --watch: one line per pass)')
    .option('--watch', 'run a pass every agent.intervalSeconds until SIGTERM/SIGINT')
    .option('--interval <seconds>', 'seconds between passes with --watch (overrides agent.intervalSeconds)', integerArgument('--interval', 5, 3600))
    .action(async (options: AgentOptions) => {
      try {
        const { config, baseDir } = loadConfig(options.config);
        if (!config.agent) throw new ConfigError(`${options.config} has no "agent" section: name the room and equipment mailboxes to answer for (docs/agent.md)`);
        const store = await openStore(config.store, baseDir);
        const targets = await createTargets(config, baseDir, { store });
        try {
          const target = targets.get(config.agent.target);
          if (!target) throw new ConfigError(`agent.target "${config.agent.target}" is not configured`);
          const scheduler = createScheduler(config.limits);
          const workerId = defaultWorkerId();
          const agent = createAgent(config, { target, scheduler, store, baseDir, leases: { store, owner: agentLeaseOwner(workerId) }, ledger: { store, id: ledgerName(workerId) } });
          if (options.watch) await watch(agent.pass, (options.interval ?? config.agent.intervalSeconds) * 1000, options.json ?? false, (soon) => agentStreaming(target, scheduler, soon, streamingFailed));
          else {
            const run = await agent.pass();
            process.stdout.write(options.json ? `${JSON.stringify(run, null, 2)}\n` : describe(run));
            if (passFailed(run)) process.exitCode = 1;
          }
        } finally {
          await Promise.all([...targets.values()].map((t) => t.close()));
          await store.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}

/** Passes until SIGTERM/SIGINT: the wait ends at once, a running pass gets a few seconds to finish (engine/cadence.ts). */
async function watch(pass: (only: ReadonlySet<string> | null) => Promise<AgentRun>, intervalMs: number, json: boolean, streamingFor: (soon: (mailbox: string) => void) => AgentStreaming | null): Promise<void> {
  // EWS streaming notifications (engine/ews-streaming.ts): a meeting request asks for a pass of its mailbox at once.
  const streaming = streamingFor((mailbox) => loop.soon([mailbox]));
  const loop: Cadence<AgentRun> = new Cadence({
    pass,
    intervalMs,
    onPass: (run, only) => {
      // A pass of the notified mailboxes only reads no more than those: the subscriptions are armed after a full one.
      if (only === null) streaming?.afterPass(run.mailboxes.map((m) => m.mailbox));
      const changed: AgentRun = { ...run, outcomes: run.outcomes.filter((o) => o.outcome !== 'unchanged') };
      if (json) process.stdout.write(`${JSON.stringify({ at: new Date(systemClock.now()).toISOString(), ...changed })}\n`);
      else if (changed.outcomes.length || run.roomLists.length || run.mailboxes.some((m) => m.error || m.newRound)) process.stdout.write(describe(changed, true));
    },
    onError: (error) => process.stderr.write(`calpush agent: the pass failed: ${(error as Error).message}\n`),
  });
  process.stderr.write(`calpush agent: watching, a pass every ${intervalMs / 1000} s (SIGTERM or Ctrl-C stops)\n`);
  const stop = (signal: NodeJS.Signals) => {
    process.stderr.write(`calpush agent: ${signal}, stopping\n`);
    void loop.stop();
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  loop.start();
  await loop.done().catch(() => {});
  await loop.stop();
  await streaming?.stop();
  process.off('SIGTERM', stop);
  process.off('SIGINT', stop);
  process.stderr.write('calpush agent: stopped\n');
}

function streamingFailed(mailbox: string | null, error: { code: string; message: string }): void {
  process.stderr.write(`calpush agent: streaming notifications${mailbox ? ` of ${mailbox}` : ''}: ${error.code}: ${error.message} (polling goes on)\n`);
}

function line(outcome: AgentOutcome): string {
  const alias = outcome.alias ? `  ${outcome.alias}${outcome.instructions && outcome.instructions !== 'none' ? ` (instructions: ${outcome.instructions})` : ''}` : '';
  const provider = outcome.providerProblem ? `    conference provider failed (${outcome.instructionsFrom === 'template' ? 'the template’s instructions were sent' : 'answered tentatively'}): ${outcome.providerProblem}\n` : '';
  return `  ${outcome.outcome.padEnd(9)} "${outcome.subject}" from ${outcome.organizer}${alias} — ${outcome.reason}\n${provider}`;
}

/** Per mailbox its counts and each outcome but "unchanged"; `quiet`: mailboxes with nothing new left out. */
export function describe(run: AgentRun, quiet = false): string {
  let text = '';
  for (const problem of run.roomLists) text += `room list ${problem.roomList}: failed: ${problem.error.code}: ${problem.error.message}${problem.error.remedy ? `\n  fix: ${problem.error.remedy}` : ''}\n`;
  for (const mailbox of run.mailboxes) {
    const counts = Object.entries(mailbox.counts).filter(([k, n]) => n > 0 && !(quiet && k === 'unchanged')).map(([k, n]) => `${k} ${n}`).join(', ');
    if (quiet && !counts && !mailbox.error && !mailbox.newRound) continue;
    text += `${mailbox.mailbox}: ${counts || 'nothing new'}\n`;
    if (mailbox.newRound) text += `  new round: the stored cursor could not be used (${mailbox.newRound.code}: ${mailbox.newRound.message}); read from the start\n`;
    if (mailbox.error) text += `  failed: ${mailbox.error.code}: ${mailbox.error.message}${mailbox.error.remedy ? `\n  fix: ${mailbox.error.remedy}` : ''}\n`;
    for (const outcome of run.outcomes.filter((o) => o.mailbox === mailbox.mailbox && o.outcome !== 'unchanged')) text += line(outcome);
  }
  return text;
}
