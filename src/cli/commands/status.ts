// calpush status: what the store knows per mailbox — desired, delivered, pending work, last error — and which
// target serves it: the one that delivered it, and where the routing sends it now (rules, and a lookup's
// remembered answer; status asks no one).
import type { Command } from 'commander';
import { loadConfig } from '../../app/config.ts';
import { explainRoutes } from '../../app/router.ts';
import { reportFailure } from '../failure.ts';
import { openStore } from '../../app/store.ts';
import type { Store } from '../../store/store.ts';
import type { SubscriptionRow } from '../../store/watch.ts';
import { subscriptionStatus, type SubscriptionTargetStatus } from '../../engine/notifications.ts';
import { systemClock } from '../../model/clock.ts';

/** The mailbox's drift: counts by kind and policy, each event with when it was seen, and where its watch stands. */
async function driftOf(store: Store, calendar: string) {
  const rows = await store.driftFor(calendar);
  const counts: Record<string, number> = {};
  for (const row of rows) counts[`${row.kind}:${row.policy}`] = (counts[`${row.kind}:${row.policy}`] ?? 0) + 1;
  const state = await store.watchState(calendar);
  return {
    counts,
    events: rows.map((row) => ({ key: row.key, kind: row.kind, policy: row.policy, seenAt: row.seenAt })),
    watchedAt: state?.updatedAt ?? null,
    lastFullRoundAt: state?.fullAt ?? null,
  };
}

function driftLine(drift: Awaited<ReturnType<typeof driftOf>>): string {
  const counts = Object.entries(drift.counts).map(([key, n]) => `${key.replace(':', ' → ')} ${n}`);
  return counts.length ? `\n    drift: ${counts.join(', ')}${drift.watchedAt ? ` (watched ${drift.watchedAt})` : ''}` : '';
}

/** A mailbox's Graph change-notification subscription as serve last recorded it (docs/drift.md); null: none. */
function subscriptionOf(row: SubscriptionRow | undefined) {
  if (!row) return null;
  return { target: row.target, id: row.subscriptionId, expiresAt: row.expiresAt, lastError: row.lastError, lastErrorAt: row.lastErrorAt };
}

/** One line per target: its subscriptions by state, the last failure, and the notifications received and rejected. */
function subscriptionLines(targets: SubscriptionTargetStatus[]): string {
  if (!targets.length) return '';
  const lines = targets.map(
    (t) =>
      `  ${t.target || '(no route)'}: ${t.active} active, ${t.expiring} expiring, ${t.failed} failed; notifications ${t.notifications.received} received, ${t.notifications.rejected} rejected (clientState not ours)` +
      (t.lastError ? `\n    last error ${t.lastError.at} (${t.lastError.calendar}): ${t.lastError.message}` : ''),
  );
  return `change notifications (Graph):\n${lines.join('\n')}\n`;
}

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show per-mailbox delivery status from the configured store (sends no request)')
    .requiredOption('-c, --config <file>', 'configuration file (JSON)')
    .option('--json', 'print as JSON')
    .option('--subscriptions', 'only the Graph change-notification subscriptions and notifications, per target')
    .action(async (options: { config: string; json?: boolean; subscriptions?: boolean }) => {
      try {
        const { config, baseDir } = loadConfig(options.config);
        const store = await openStore(config.store, baseDir);
        try {
          const subscriptionRows = await store.subscriptionRows();
          const targets = subscriptionStatus(subscriptionRows, await store.notificationCounts(), systemClock.now());
          if (options.subscriptions) {
            process.stdout.write(options.json ? `${JSON.stringify({ targets }, null, 2)}\n` : subscriptionLines(targets) || 'no change-notification subscriptions recorded\n');
            return;
          }
          const subscriptionByCalendar = new Map(subscriptionRows.map((row) => [row.calendar, row]));
          const rows = [];
          const calendars = await store.calendars();
          const routes = await explainRoutes(config, baseDir, store, calendars);
          for (const calendar of calendars) {
            const mailbox = await store.mailbox(calendar);
            const pending = await store.pendingOps(calendar);
            const route = routes.get(calendar)!;
            rows.push({
              calendar,
              state: mailbox?.state ?? 'pending',
              /** The target that delivered it (its delivered rows belong to that one); null before the first delivery. */
              target: mailbox?.target ?? null,
              /** Where the routing sends it now, and why. */
              route: { target: route.target, reason: route.reason },
              desired: (await store.desiredFor(calendar)).length,
              delivered: (await store.deliveredFor(calendar)).length,
              pending: pending.length,
              failedEvents: pending.filter((op) => op.lastError).length,
              lastSyncAt: mailbox?.lastSyncAt ?? null,
              lastError: mailbox?.lastError ? `${mailbox.lastErrorCode}: ${mailbox.lastError}` : null,
              /** What people did to our events, found by the watch, and the policy that answered (docs/drift.md). */
              drift: await driftOf(store, calendar),
              /** Its Graph change-notification subscription, as serve last recorded it (docs/drift.md). */
              subscription: subscriptionOf(subscriptionByCalendar.get(calendar)),
            });
          }
          if (options.json) {
            process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
            return;
          }
          for (const row of rows) {
            const moving = row.target && row.route.target && row.route.target !== row.target ? ` (next delivery moves it to ${row.route.target})` : '';
            process.stdout.write(
              `${row.calendar}  ${row.state}  target ${row.target ?? row.route.target ?? '?'}${moving}  desired ${row.desired}  delivered ${row.delivered}  pending ${row.pending}` +
                `${row.lastSyncAt ? `  last sync ${row.lastSyncAt}` : ''}\n    route: ${row.route.target ?? 'unknown'} — ${row.route.reason}` +
                `${row.lastError ? `\n    last error: ${row.lastError}` : ''}${driftLine(row.drift)}\n`,
            );
          }
          if (!rows.length) process.stdout.write('the store has no mailboxes yet: run calpush sync\n');
          const notifications = subscriptionLines(targets);
          if (notifications) process.stdout.write(`\n${notifications}`);
        } finally {
          await store.close();
        }
      } catch (error) {
        process.exitCode = reportFailure(error, options.json ?? false);
      }
    });
}
