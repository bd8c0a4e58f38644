// The resource agent assembled from the config (docs/agent.md): its target's meeting desk and room directory, the
// scheduler every request goes through, the room lists resolved into mailboxes, and a pass over all of them. Used by
// `calpush agent` (one pass, or --watch), `calpush serve` (with an `agent` section) and `calpush demo --agent`.
import { agentMailboxes, type RoomListProblem } from '../agent/mailboxes.ts';
import { runAgentPass, type AgentLeases, type AgentOutcome, type AgentSummary } from '../agent/run.ts';
import type { AgentLedger } from '../agent/ledger.ts';
import { ConferenceProvider } from '../agent/provider.ts';
import { resolveProxy } from '../config/proxy.ts';
import { ConfigError, readSecret } from '../config/secrets.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import { GroupResolver } from '../engine/groups.ts';
import { RoomListResolver } from '../engine/room-lists.ts';
import type { Scheduler } from '../engine/scheduler.ts';
import type { AgentStore } from '../store/agent.ts';
import { EwsTarget } from '../targets/ews/target.ts';
import { GraphTarget } from '../targets/graph/target.ts';
import type { CalendarTarget } from '../targets/target.ts';
import type { Config } from './config.ts';

/** One pass's summary, with the room lists that could not be read (their rooms were not answered for). */
export interface AgentRun extends AgentSummary {
  roomLists: RoomListProblem[];
}

export interface Agent {
  /**
   * One pass over every mailbox (room lists read again when `refreshMs` has passed), or over those of `only` (the
   * mailboxes a streaming notification named, any case; engine/cadence.ts).
   */
  pass(only?: ReadonlySet<string> | null): Promise<AgentRun>;
}

export interface AgentParts {
  /** The configured target named by agent.target (the command's, or serve's shared one). */
  target: CalendarTarget;
  /** The scheduler of that target: the agent's requests share its budgets with delivery. */
  scheduler: Scheduler;
  store: AgentStore;
  clock?: Clock;
  /** How long a room list's rooms are kept (default: agent.roomListRefreshMinutes; a one-shot pass reads once anyway). */
  refreshMs?: number;
  onOutcome?: (outcome: AgentOutcome) => void;
  /** The mailbox leases each mailbox's pass holds (serve and the command: workers sharing a store). */
  leases?: AgentLeases;
  /** The config file's folder: where a conference provider's secret file is found (default: the working folder). */
  baseDir?: string;
  /**
   * The store's request ledger and the name this agent's requests are charged under (one per scheduler,
   * engine/lease.ts ledgerName): Outlook's per-mailbox budget counts them across workers (agent/ledger.ts).
   */
  ledger?: AgentLedger;
}

/** The smallest shared secret taken for a provider's signature: 32 characters (openssl rand -hex 32 gives 64). */
const MIN_SECRET_LENGTH = 32;

/** The conference providers of the VMR mailboxes that name one, their secrets read now (config/secrets.ts). */
export function conferenceProviders(config: Pick<Config, 'agent' | 'proxy'>, baseDir: string, clock: Clock): Map<string, ConferenceProvider> {
  const providers = new Map<string, ConferenceProvider>();
  for (const [address, mailbox] of Object.entries(config.agent?.mailboxes ?? {})) {
    const provider = mailbox.vmr?.provider;
    if (!provider) continue;
    const what = `agent.mailboxes.${address}.vmr.provider.secret`;
    const secret = readSecret(provider.secret, baseDir, what);
    if (secret.length < MIN_SECRET_LENGTH) throw new ConfigError(`${what}: the secret is shorter than ${MIN_SECRET_LENGTH} characters`, 'make a longer one: openssl rand -hex 32');
    const proxy = resolveProxy([config.proxy], baseDir, 'proxy');
    providers.set(address.toLowerCase(), new ConferenceProvider({ url: provider.url, secret, timeoutMs: provider.timeoutMs, proxy, clock }));
  }
  return providers;
}

export function createAgent(config: Config, parts: AgentParts): Agent {
  const agent = config.agent;
  if (!agent) throw new ConfigError('the config has no "agent" section: name the room and equipment mailboxes to answer for (docs/agent.md)');
  const { target, scheduler, store } = parts;
  if (!(target instanceof GraphTarget || target instanceof EwsTarget)) throw new ConfigError(`agent.target "${agent.target}" is not a Graph (app-only) or EWS target`);
  const clock = parts.clock ?? systemClock;
  const desk = target.meetings();
  const refreshMs = parts.refreshMs ?? agent.roomListRefreshMinutes * 60_000;
  const resolver = new RoomListResolver({ directory: target.rooms(), scheduler, clock, refreshMs });
  // Groups' members are kept as long as room lists are: read again when the refresh interval has passed.
  const groups = new GroupResolver({ directory: target.groups(), scheduler, clock, refreshMs });
  const providers = conferenceProviders(config, parts.baseDir ?? process.cwd(), clock);
  return {
    async pass(only) {
      const wanted = only ? new Set([...only].map((m) => m.toLowerCase())) : null;
      const all = await agentMailboxes(agent, resolver);
      const mailboxes = wanted ? all.mailboxes.filter((m) => wanted.has(m.address.toLowerCase())) : all.mailboxes;
      const problems = wanted ? [] : all.problems;
      const summary = await runAgentPass({
        instance: config.instance,
        desk,
        scheduler,
        store,
        mailboxes,
        groups,
        lookBackDays: agent.lookBackDays,
        clock,
        ...(parts.onOutcome ? { onOutcome: parts.onOutcome } : {}),
        ...(parts.leases ? { leases: parts.leases } : {}),
        ...(providers.size ? { providers } : {}),
        ...(parts.ledger ? { ledger: parts.ledger } : {}),
      });
      return { ...summary, roomLists: problems };
    },
  };
}

/** A pass that needs looking at: a mailbox, a request or a room list failed (the command's exit 1). */
export function passFailed(run: AgentRun): boolean {
  return run.roomLists.length > 0 || run.mailboxes.some((m) => m.error || m.counts.failed > 0);
}
