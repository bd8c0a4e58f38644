// --dry-run: what a sync or import would do, per mailbox, with nothing sent and nothing recorded.
//
// The input is staged exactly as for a real run and the store's replacement is run and rolled back
// (DesiredImport.preview), so duplicates, holds, calendar scope, managed-by-source and retention are decided by the
// same code. Each mailbox a real run would deliver is then planned by the real planner (previewMailbox).
//
// Where a real run lists a mailbox before planning (no record of it, a create whose answer never arrived, or
// --reinventory), the dry run lists it too — read-only GETs through the scheduler, which honours the mailbox's
// limits and Retry-After as always — and keeps the listing in memory only. Without that listing the dry run could
// not say what a first run would adopt or delete. With no target to list (the API), such a mailbox is shown as
// "not-listed".
import type { DeliveredRow, DriftDecision } from '../model/rows.ts';
import type { DesiredImport, DesiredImportFinish, DesiredImportResult, DesiredPreviewCalendar } from '../store/store.ts';
import { listingReason } from '../planner/listing.ts';
import { previewMailbox, type MailboxPreview } from '../planner/preview.ts';
import { listOwned } from './listing.ts';
import type { MailboxRoute, MailboxRoutes } from './routes.ts';
import { TargetError } from '../targets/target.ts';

export interface DryRunPlan {
  /** The mailboxes a real run would work on (others have nothing to do). */
  mailboxes: MailboxPreview[];
  /** Mailboxes in scope with nothing to do: delivered, unchanged. */
  unchangedMailboxes: number;
  totals: { create: number; update: number; delete: number; unchanged: number; notListed: number; failedMailboxes: number };
  /** A failure no mailbox can get past (credentials, endpoint) stopped the listing. */
  fatal?: { code: string; message: string; remedy?: string };
}

export interface DryRunOptions {
  importer: DesiredImport;
  finish: DesiredImportFinish;
  instance: string;
  /** List every mailbox in scope again, as sync --reinventory does. */
  reinventory?: boolean;
  /**
   * Lists mailboxes read-only where a real run would list them first, each through its route (a route lookup is
   * asked, not recorded); without one they are "not-listed" and no target is named.
   */
  lister?: { routes: MailboxRoutes; parallelMailboxes: number };
  /** The watch's recorded findings of a mailbox (store.driftFor), read only: the plan applies them as a delivery does. */
  driftFor?: (calendar: string) => Promise<readonly DriftDecision[]>;
}

/** Whether a real delivery lists the mailbox before planning it (the very rule of its inventory step). */
function needsListing(view: DesiredPreviewCalendar, reinventory: boolean): boolean {
  return listingReason({ reinventory, inventoriedAt: view.mailbox.inventoriedAt, pending: () => view.pendingOps() }) !== null;
}

export async function dryRun(options: DryRunOptions): Promise<{ imported: DesiredImportResult; plan: DryRunPlan }> {
  const reinventory = options.reinventory ?? false;
  const previews = new Map<string, MailboxPreview>();
  /** Mailboxes in scope with work: whether a real run lists them first, and the target that delivered them so far. */
  const inScope = new Map<string, { listing: boolean; deliveredBy: string | null }>();
  let unchangedMailboxes = 0;
  const drift = new Map<string, readonly DriftDecision[]>();
  const previewOf = (view: DesiredPreviewCalendar, delivered: DeliveredRow[], basis: MailboxPreview['basis']) =>
    previewMailbox({ instance: options.instance, calendar: view.calendar, desired: view.desired(), delivered, generations: view.generations(), removedIds: view.removedIds(), basis, drift: drift.get(view.calendar) ?? [] });

  const imported = await options.importer.preview(options.finish, (view) => {
    if (!view.needsDelivery && !reinventory) {
      unchangedMailboxes++;
      return;
    }
    const listing = needsListing(view, reinventory);
    inScope.set(view.calendar, { listing, deliveredBy: view.mailbox.target ?? null });
    previews.set(view.calendar, previewOf(view, view.delivered(), listing ? 'not-listed' : 'store'));
  });

  // The drift of the mailboxes with work, read after the first pass (its inspect cannot wait for the store).
  for (const calendar of options.driftFor ? inScope.keys() : []) {
    const found = await options.driftFor!(calendar);
    if (found.length) drift.set(calendar, found);
  }
  let fatal: TargetError | undefined;
  let listedItems = new Map<string, DeliveredRow[]>();
  if (inScope.size && options.lister) {
    const listed = await listMailboxes(inScope, options.lister);
    fatal = listed.fatal;
    for (const [calendar, route] of listed.routes) {
      const preview = previews.get(calendar)!;
      preview.target = route.name;
      const deliveredBy = inScope.get(calendar)!.deliveredBy;
      if (deliveredBy && deliveredBy !== route.name) preview.movedFrom = deliveredBy;
    }
    // A run-wide failure is reported once (plan.fatal), not on every mailbox it stopped.
    for (const [calendar, error] of listed.errors) {
      if (error.scope === 'fatal') continue;
      previews.get(calendar)!.error = { code: error.code, message: error.message, ...(error.remedy ? { remedy: error.remedy } : {}) };
    }
    listedItems = listed.items;
  }
  if (listedItems.size || drift.size) {
    // The same replacement again, now planned against what the target holds and with the drift applied.
    await options.importer.preview(options.finish, (view) => {
      const items = listedItems.get(view.calendar);
      if (!items && !drift.has(view.calendar)) return;
      const { target, movedFrom, basis, error } = previews.get(view.calendar)!;
      const preview = items ? previewOf(view, items, 'listed') : previewOf(view, view.delivered(), basis);
      previews.set(view.calendar, { ...preview, ...(target ? { target } : {}), ...(movedFrom ? { movedFrom } : {}), ...(error ? { error } : {}) });
    });
  }

  const mailboxes = [...previews.values()].sort((a, b) => a.calendar.localeCompare(b.calendar));
  const totals = { create: 0, update: 0, delete: 0, unchanged: 0, notListed: 0, failedMailboxes: 0 };
  for (const m of mailboxes) {
    totals.create += m.create.count;
    totals.update += m.update.count;
    totals.delete += m.delete.count;
    totals.unchanged += m.unchanged;
    if (m.basis === 'not-listed') totals.notListed++;
    if (m.error) totals.failedMailboxes++;
  }
  const plan: DryRunPlan = { mailboxes, unchangedMailboxes, totals };
  if (fatal) plan.fatal = { code: fatal.code, message: fatal.message, ...(fatal.remedy ? { remedy: fatal.remedy } : {}) };
  return { imported, plan };
}

/**
 * Routes each mailbox and lists the tagged items of those a real run would list first — because its record is
 * incomplete, or because it moved to another target (a real run then forgets the old target's rows and adopts what
 * the new one holds) — `parallelMailboxes` at a time, GET only; the store is not told.
 */
async function listMailboxes(
  inScope: Map<string, { listing: boolean; deliveredBy: string | null }>,
  lister: NonNullable<DryRunOptions['lister']>,
): Promise<{ routes: Map<string, MailboxRoute>; items: Map<string, DeliveredRow[]>; errors: Map<string, TargetError>; fatal?: TargetError }> {
  const calendars = [...inScope.keys()];
  const routes = new Map<string, MailboxRoute>();
  const items = new Map<string, DeliveredRow[]>();
  const errors = new Map<string, TargetError>();
  let fatal: TargetError | undefined;
  let next = 0;
  const worker = async () => {
    while (next < calendars.length && !fatal) {
      const calendar = calendars[next++]!;
      let route: MailboxRoute | undefined;
      try {
        route = await lister.routes.route(calendar);
        routes.set(calendar, route);
        const { listing, deliveredBy } = inScope.get(calendar)!;
        if (listing || (deliveredBy !== null && deliveredBy !== route.name)) items.set(calendar, await listOwned(route.scheduler, route.target, calendar));
      } catch (error) {
        if (!(error instanceof TargetError)) throw error;
        errors.set(calendar, error);
        if (error.scope === 'fatal') {
          fatal ??= error;
          route?.scheduler.abandonAll(error);
        } else route?.scheduler.abandonMailbox(calendar, error);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(lister.parallelMailboxes, calendars.length) }, worker));
  return { routes, items, errors, ...(fatal ? { fatal } : {}) };
}
