// An in-memory calendar target for delivery-loop tests: records items, can be slow, forbid mailboxes, or fail
// for everyone (bad credentials).
import { randomUUID } from 'node:crypto';
import type { DesiredEvent } from '../../src/model/event.ts';
import { TargetError, type BatchCapability, type BatchOp, type BatchOutcome, type CalendarTarget, type ItemRef, type OwnedItem, type OwnedPage } from '../../src/targets/target.ts';

export class FakeTarget implements CalendarTarget {
  readonly kind = 'graph' as const;
  readonly items = new Map<string, Map<string, OwnedItem & { subject: string }>>();
  readonly forbidden = new Set<string>();
  fatal: TargetError | null = null;
  delayMs = 0;
  requests = 0;
  /** Every write request in order: the subjects it carried (a batch: several). */
  readonly writes: string[][] = [];
  batch?: BatchCapability;

  /** The mode each batch request was sent in. */
  readonly batchModes: string[] = [];

  /** Turns on a $batch-like capability of up to `maxOps` operations per request. */
  enableBatch(maxOps = 20, mode: BatchCapability['mode'] = 'chain'): this {
    this.batch = {
      maxOps,
      mode,
      parallelism: 4,
      run: async (calendar: string, ops: BatchOp[], chosen?: 'chain' | 'parallel'): Promise<BatchOutcome[]> => {
        this.batchModes.push(mode === 'auto' ? (chosen ?? 'chain') : mode);
        await this.gate(calendar);
        this.writes.push(ops.map((op) => (op.kind === 'delete' ? `(delete ${op.item.itemId})` : op.desired.event.subject)));
        const outcomes: BatchOutcome[] = [];
        for (const op of ops) {
          try {
            if (op.kind === 'create') outcomes.push({ ok: true, item: this.write(op.desired, op.transactionId) });
            else if (op.kind === 'update') outcomes.push({ ok: true, item: this.change(op.desired, op.item) });
            else {
              this.mailbox(calendar).delete(op.item.itemId);
              outcomes.push({ ok: true });
            }
          } catch (error) {
            outcomes.push({ ok: false, error: error as TargetError });
          }
        }
        return outcomes;
      },
    };
    return this;
  }

  private async gate(calendar: string): Promise<void> {
    this.requests++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.fatal) throw this.fatal;
    if (this.forbidden.has(calendar)) throw new TargetError('mailbox', 'ErrorAccessDenied', 'Access to OData is disabled.', { status: 403 });
  }

  private mailbox(calendar: string) {
    let items = this.items.get(calendar);
    if (!items) this.items.set(calendar, (items = new Map()));
    return items;
  }

  subjects(calendar: string): string[] {
    return [...this.mailbox(calendar).values()].map((i) => i.subject).sort();
  }

  async listOwned(calendar: string): Promise<OwnedPage> {
    await this.gate(calendar);
    return { items: [...this.mailbox(calendar).values()].map(({ subject: _s, ...item }) => item) };
  }

  async create(desired: DesiredEvent, transactionId: string): Promise<ItemRef> {
    await this.gate(desired.event.calendar);
    this.writes.push([desired.event.subject]);
    return this.write(desired, transactionId);
  }

  private write(desired: DesiredEvent, transactionId: string): ItemRef {
    const calendar = desired.event.calendar;
    const existing = [...this.mailbox(calendar).values()].find((i) => i.transactionId === transactionId);
    if (existing) return { itemId: existing.itemId, changeKey: null };
    const itemId = randomUUID();
    this.mailbox(calendar).set(itemId, { key: desired.key, itemId, changeKey: null, contentHash: desired.contentHash, transactionId, subject: desired.event.subject });
    return { itemId, changeKey: null };
  }

  async update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
    await this.gate(desired.event.calendar);
    this.writes.push([desired.event.subject]);
    return this.change(desired, item);
  }

  private change(desired: DesiredEvent, item: ItemRef): ItemRef {
    const calendar = desired.event.calendar;
    const current = this.mailbox(calendar).get(item.itemId);
    if (!current) throw new TargetError('gone', 'ErrorItemNotFound', 'The specified object was not found in the store.', { status: 404 });
    this.mailbox(calendar).set(item.itemId, { ...current, contentHash: desired.contentHash, subject: desired.event.subject });
    return { itemId: item.itemId, changeKey: null };
  }

  async remove(calendar: string, item: ItemRef): Promise<void> {
    await this.gate(calendar);
    this.writes.push([`(delete ${item.itemId})`]);
    this.mailbox(calendar).delete(item.itemId);
  }

  async close(): Promise<void> {}
}
