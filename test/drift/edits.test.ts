// What counts as an edit (docs/drift.md): the managed fields compared, and which changes are read back at all.
import { describe, expect, it } from 'vitest';
import { withoutNonEdits } from '../../src/engine/edits.ts';
import { validateEvent, type DesiredEvent } from '../../src/model/event.ts';
import { changedFields, plainText, writtenFields } from '../../src/model/managed.ts';
import type { DeliveredRow, DesiredRow } from '../../src/model/rows.ts';
import type { WatchCapability, WatchChange } from '../../src/targets/target.ts';

function desiredEvent(n: number): DesiredEvent {
  const result = validateEvent({ calendar: 'a@contoso.edu', id: `e-${n}`, subject: `Lecture ${n}`, start: '2026-09-08T09:00', end: '2026-09-08T10:45', timeZone: 'Europe/Amsterdam', reminderMinutes: 15 });
  if (!result.ok) throw new Error('bad event');
  return result.desired;
}

describe('managed fields', () => {
  it('compares bodies by their words: markup, entities and spacing a server rewrites do not count', () => {
    expect(plainText('<html><head><style>p{}</style></head><body><p>Bring&nbsp;the <b>lab</b> book &amp; pen</p>\r\n</body></html>', 'html')).toBe('Bring the lab book & pen');
    expect(plainText('  Bring the\r\nlab book ', 'text')).toBe('Bring the lab book');
  });

  it('names the fields that differ; the reminder and categories are not among them', () => {
    const desired = desiredEvent(1);
    const written = writtenFields(desired, 'Europe/Amsterdam', { showAs: 'busy', sensitivity: 'normal' });
    expect(written.start).toBe(Date.parse('2026-09-08T07:00:00Z'));
    expect(changedFields(written, { ...written })).toEqual([]);
    expect(changedFields(written, { ...written, subject: 'Mine', end: written.end + 60_000 })).toEqual(['subject', 'end']);
    expect(Object.keys(written)).not.toContain('reminder');
    expect(Object.keys(written)).not.toContain('categories');
  });
});

describe('withoutNonEdits', () => {
  const rows = Array.from({ length: 45 }, (_, i) => desiredEvent(i));
  const desired: DesiredRow[] = rows.map((d) => ({ ...d, calendar: 'a@contoso.edu', sourceId: d.event.id }));
  const delivered: DeliveredRow[] = rows.map((d, i) => ({ calendar: 'a@contoso.edu', key: d.key, itemId: `item-${i}`, changeKey: 'k1', transactionId: null, contentHash: d.contentHash }));
  const changed = (i: number, changeKey = 'k2'): WatchChange => ({ kind: 'changed', itemId: `item-${i}`, changeKey });

  it('reads back the items whose key moved, at most 20 a request, and drops those with nothing managed changed', async () => {
    const batches: number[] = [];
    const watch: WatchCapability = {
      changes: () => Promise.reject(new Error('unused')),
      edits: async (_calendar, items) => {
        batches.push(items.length);
        return new Map(items.map((item) => [item.itemId, item.itemId === 'item-7' ? ['subject'] : []]));
      },
    };
    const changes = [...rows.map((_, i) => changed(i)), changed(44, 'k1'), { kind: 'removed' as const, itemId: 'item-3' }];
    let costs = 0;
    const kept = await withoutNonEdits(changes, { calendar: 'a@contoso.edu', watch, delivered, desired, submit: (run, cost) => ((costs += cost), run()) });
    expect(batches).toEqual([20, 20, 3]); // item-3 ends removed, item-44 ends with calpush's own key
    expect(costs).toBe(43);
    expect(kept).toEqual([changed(3), changed(7), changed(44), changed(44, 'k1'), { kind: 'removed', itemId: 'item-3' }]);
  });

  it('keeps a new key as an edit where what calpush wrote is not known, or the target cannot read back', async () => {
    const watch: WatchCapability = { changes: () => Promise.reject(new Error('unused')), edits: async () => new Map() };
    const stale = delivered.map((row, i) => (i === 0 ? { ...row, contentHash: 'f'.repeat(32) } : row));
    let reads = 0;
    const submit = <T>(run: () => Promise<T>) => (reads++, run());
    expect(await withoutNonEdits([changed(0)], { calendar: 'a@contoso.edu', watch, delivered: stale, desired, submit })).toEqual([changed(0)]);
    expect(reads).toBe(0);
    expect(await withoutNonEdits([changed(1)], { calendar: 'a@contoso.edu', watch: { changes: watch.changes }, delivered, desired, submit })).toEqual([changed(1)]);
  });
});
