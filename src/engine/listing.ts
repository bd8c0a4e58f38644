// Listing a mailbox's tagged items, page by page, each page one request through the scheduler (so the mailbox's
// limits and Retry-After hold for listings too). First in the mailbox's line: planning waits for it.
import type { DeliveredRow } from '../model/rows.ts';
import type { CalendarTarget } from '../targets/target.ts';
import type { DeliveryScheduler } from './run.ts';

/** Every item of `calendar` that carries this instance's tag; `onRequest` is called (and awaited) before each request. */
export async function listOwned(scheduler: DeliveryScheduler, target: CalendarTarget, calendar: string, onRequest?: () => void | Promise<void>): Promise<DeliveredRow[]> {
  const owned: DeliveredRow[] = [];
  let cursor: string | undefined;
  do {
    const page = await scheduler.submit(
      calendar,
      async () => {
        await onRequest?.();
        return target.listOwned(calendar, cursor);
      },
      { priority: Number.MIN_SAFE_INTEGER, lane: target.laneFor?.(calendar) ?? null },
    );
    for (const item of page.items) owned.push({ calendar, ...item });
    cursor = page.next;
  } while (cursor);
  return owned;
}
