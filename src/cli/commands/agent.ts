// calpush agent: one pass of the resource agent (src/agent/) — the meeting requests of the configured room and
// equipment mailboxes read, decided by their policy, answered, the VMR joining instructions given; per mailbox the
// count of each outcome, and each outcome with its reason. Exit 1 when a mailbox or a request failed.
import type { Command } from 'commander';
import { policyOf } from '../../agent/config.ts';
import { runAgentPass, type AgentOutcome, type AgentSummary } from '../../agent/run.ts';
import { loadConfig } from '../../app/config.ts';
import { openStore } from '../../app/store.ts';
import { createTargets } from '../../app/targets.ts';
import { ConfigError } from '../../config/secrets.ts';
import { createScheduler } from '../../engine/limits.ts';
import { EwsTarget } from '../../targets/ews/target.ts';
import { GraphTarget } from '../../targets/graph/target.ts';
import { reportFailure } from '../failure.ts';

export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('answer the meeting requests of the room and equipment mailboxes in the config’s "agent" section, once (docs/agent.md)')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--json', 'print the outcome as JSON')
    .action(async (options: { config: string; json?: boolean }) => {
      try {
        const { config, baseDir } = loadConfig(options.config);
        if (!config.agent) throw new ConfigError(`${options.config} has no "agent" section: name the room and equipment mailboxes to answer for (docs/agent.md)`);
        const store = await openStore(config.store, baseDir);
        const targets = await createTargets(config, baseDir, { store });
        try {
          const target = targets.get(config.agent.target);
          if (!(target instanceof GraphTarget || target instanceof EwsTarget)) throw new ConfigError(`agent.target "${config.agent.target}" is not a Graph (app-only) or EWS target`);
          const mailboxes = Object.entries(config.agent.mailboxes).map(([address, mailbox]) => ({ address: address.toLowerCase(), config: mailbox, policy: policyOf(mailbox) }));
          const summary = await runAgentPass({ instance: config.instance, desk: target.meetings(), scheduler: createScheduler(config.limits), store, mailboxes, lookBackDays: config.agent.lookBackDays });
          process.stdout.write(options.json ? `${JSON.stringify(summary, null, 2)}\n` : describe(summary));
          if (summary.mailboxes.some((m) => m.error || m.counts.failed > 0)) process.exitCode = 1;
        } finally {
          await Promise.all([...targets.values()].map((t) => t.close()));
          await store.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}

function line(outcome: AgentOutcome): string {
  const alias = outcome.alias ? `  ${outcome.alias}${outcome.instructions && outcome.instructions !== 'none' ? ` (instructions: ${outcome.instructions})` : ''}` : '';
  return `  ${outcome.outcome.padEnd(9)} "${outcome.subject}" from ${outcome.organizer}${alias} — ${outcome.reason}\n`;
}

export function describe(summary: AgentSummary): string {
  let text = '';
  for (const mailbox of summary.mailboxes) {
    const counts = Object.entries(mailbox.counts).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ') || 'nothing new';
    text += `${mailbox.mailbox}: ${counts}\n`;
    if (mailbox.error) text += `  failed: ${mailbox.error.code}: ${mailbox.error.message}${mailbox.error.remedy ? `\n  fix: ${mailbox.error.remedy}` : ''}\n`;
    for (const outcome of summary.outcomes.filter((o) => o.mailbox === mailbox.mailbox && o.outcome !== 'unchanged')) text += line(outcome);
  }
  return text;
}
