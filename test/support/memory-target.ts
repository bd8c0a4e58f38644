// The in-memory calendar target: a CalendarTarget over plain maps, held to the same contract suite as Graph, EWS and
// CalDAV (test/targets/memory.test.ts), and the engine tests' stand-in for a server (it records the write requests,
// can be slow, forbid mailboxes, or fail for everyone as bad credentials do).
//
// It lives with the tests, not in src/: nothing in production delivers to memory, and production code may not import
// test/. Several targets may share one MemoryCalendars (as deployments share a mailbox): each sees only the items its
// own instance tagged. `kind` says "graph" because the engine never reads it and the engine tests began as Graph's.
import { randomUUID } from 'node:crypto';
import type { DesiredEvent } from '../../src/model/event.ts';
import { TargetError, type BatchCapability, type BatchOp, type BatchOutcome, type CalendarTarget, type ItemRef, type OwnedItem, type OwnedPage } from '../../src/targets/target.ts';

/** One stored item: ours (a tag with instance, key and hash) or a foreign one (no tag). */
export interface MemoryItem {
  itemId: string;
  changeKey: string;
  /** Null for an item calpush did not write. */
  tag: { instance: string; key: string; contentHash: string } | null;
  transactionId: string | null;
  /** What was delivered (or, for a foreign item, what its owner wrote). */
  event: DesiredEvent['event'];
}

/** The calendars of one "server", shared by the targets (instances) that write to it. */
export class MemoryCalendars {
  private readonly calendars = new Map<string, Map<string, MemoryItem>>();
  private version = 0;
  private readonly lostAnswers = new Set<string>();

  names(): string[] {
    return [...this.calendars.keys()];
  }

  calendar(name: string): Map<string, MemoryItem> {
    let items = this.calendars.get(name);
    if (!items) this.calendars.set(name, (items = new Map()));
    return items;
  }

  /** A new change key, as a server gives one on every write. */
  nextChangeKey(): string {
    return `ck-${++this.version}`;
  }

  /** The next create in the calendar is done, but its answer is lost (the connection drops). */
  loseNextCreateAnswer(calendar: string): void {
    this.lostAnswers.add(calendar);
  }

  /** Whether this create's answer is to be lost (once). */
  takeLostAnswer(calendar: string): boolean {
    return this.lostAnswers.delete(calendar);
  }

  /** A person changes the item in their client: its content and change key move on, the tag stays. */
  edit(calendar: string, itemId: string, change: Partial<DesiredEvent['event']>): void {
    const item = this.calendar(calendar).get(itemId);
    if (!item) throw new Error(`no item ${itemId} in ${calendar}`);
    item.event = { ...item.event, ...change };
    item.changeKey = this.nextChangeKey();
  }
}

export interface MemoryTargetOptions {
  instance?: string;
  /** Shared with other targets to put several instances (or foreign items) in one calendar. */
  calendars?: MemoryCalendars;
  /** Items per listOwned page. */
  pageSize?: number;
}

export class MemoryTarget implements CalendarTarget {
  readonly kind = 'graph' as const;
  readonly instance: string;
  readonly calendars: MemoryCalendars;
  private readonly pageSize: number;
  readonly forbidden = new Set<string>();
  /** Calendars that do not exist (404 on every request). */
  readonly missing = new Set<string>();
  fatal: TargetError | null = null;
  delayMs = 0;
  /** What the engine is told one request may take at most (CalendarTarget.requestTimeoutMs); the delay is not cut. */
  requestTimeoutMs?: number;
  /**
   * Whether a create repeated with the same transactionId returns the first item, as Graph does (true), or makes a
   * second one, as EWS's CreateItem does across processes (false: EWS has no transactionId of its own).
   */
  honoursTransactionIds = true;
  requests = 0;
  /** Every write request in order: the subjects it carried (a batch: several). */
  readonly writes: string[][] = [];
  batch?: BatchCapability;
  /** The mode each batch request was sent in. */
  readonly batchModes: string[] = [];

  constructor(options: MemoryTargetOptions = {}) {
    this.instance = options.instance ?? 'test';
    this.calendars = options.calendars ?? new MemoryCalendars();
    this.pageSize = options.pageSize ?? 1000;
  }

  /** Turns on a $batch-like capability of up to `maxOps` operations per request. */
  enableBatch(maxOps = 20, mode: BatchCapability['mode'] = 'chain'): this {
    this.batch = { maxOps, mode, parallelism: 4, run: (calendar, ops, chosen) => this.runBatch(calendar, ops, mode === 'auto' ? (chosen ?? 'chain') : mode) };
    return this;
  }

  private async runBatch(calendar: string, ops: BatchOp[], mode: string): Promise<BatchOutcome[]> {
    this.batchModes.push(mode);
    await this.gate(calendar);
    this.writes.push(ops.map((op) => (op.kind === 'delete' ? `(delete ${op.item.itemId})` : op.desired.event.subject)));
    const outcomes: BatchOutcome[] = [];
    for (const op of ops) {
      try {
        if (op.kind === 'create') outcomes.push({ ok: true, item: this.write(op.desired, op.transactionId) });
        else if (op.kind === 'update') outcomes.push({ ok: true, item: this.change(op.desired, op.item) });
        else {
          this.drop(calendar, op.item);
          outcomes.push({ ok: true });
        }
      } catch (error) {
        if (!(error instanceof TargetError)) throw error;
        outcomes.push({ ok: false, error });
      }
    }
    return outcomes;
  }

  private async gate(calendar: string): Promise<void> {
    this.requests++;
    if (this.delayMs) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.fatal) throw this.fatal;
    if (this.forbidden.has(calendar)) throw new TargetError('mailbox', 'ErrorAccessDenied', 'Access to OData is disabled.', { status: 403 });
    if (this.missing.has(calendar)) throw new TargetError('mailbox', 'ErrorInvalidUser', `The requested user '${calendar}' is invalid.`, { status: 404 });
  }

  private mailbox(calendar: string): Map<string, MemoryItem> {
    return this.calendars.calendar(calendar);
  }

  private ours(item: MemoryItem | undefined): item is MemoryItem & { tag: NonNullable<MemoryItem['tag']> } {
    return item?.tag?.instance === this.instance;
  }

  /** The subjects of this instance's items in a calendar, sorted. */
  subjects(calendar: string): string[] {
    return [...this.mailbox(calendar).values()].filter((item) => this.ours(item)).map((item) => item.event.subject).sort();
  }

  /** This instance's items of a calendar (for assertions). */
  get items(): Map<string, Map<string, OwnedItem & { subject: string }>> {
    const view = new Map<string, Map<string, OwnedItem & { subject: string }>>();
    for (const calendar of this.calendars.names()) {
      const own = new Map<string, OwnedItem & { subject: string }>();
      for (const item of this.mailbox(calendar).values()) if (this.ours(item)) own.set(item.itemId, { ...this.owned(item), subject: item.event.subject });
      view.set(calendar, own);
    }
    return view;
  }

  private owned(item: MemoryItem & { tag: NonNullable<MemoryItem['tag']> }): OwnedItem {
    return { key: item.tag.key, itemId: item.itemId, changeKey: item.changeKey, contentHash: item.tag.contentHash, transactionId: item.transactionId };
  }

  async listOwned(calendar: string, cursor?: string): Promise<OwnedPage> {
    await this.gate(calendar);
    const all = [...this.mailbox(calendar).values()].filter((item) => this.ours(item));
    const from = cursor === undefined ? 0 : Number(cursor);
    const items = all.slice(from, from + this.pageSize).map((item) => this.owned(item as MemoryItem & { tag: NonNullable<MemoryItem['tag']> }));
    return from + this.pageSize < all.length ? { items, next: String(from + this.pageSize) } : { items };
  }

  async create(desired: DesiredEvent, transactionId: string): Promise<ItemRef> {
    await this.gate(desired.event.calendar);
    this.writes.push([desired.event.subject]);
    const ref = this.write(desired, transactionId);
    if (this.calendars.takeLostAnswer(desired.event.calendar)) {
      throw new TargetError('transient', 'ECONNRESET', 'the connection was closed before an answer came (ECONNRESET)');
    }
    return ref;
  }

  /** Idempotent per transactionId, as Graph's transactionId is. */
  private write(desired: DesiredEvent, transactionId: string): ItemRef {
    const calendar = this.mailbox(desired.event.calendar);
    const existing = this.honoursTransactionIds ? [...calendar.values()].find((item) => this.ours(item) && item.transactionId === transactionId) : undefined;
    if (existing) return { itemId: existing.itemId, changeKey: existing.changeKey };
    const item: MemoryItem = {
      itemId: randomUUID(),
      changeKey: this.calendars.nextChangeKey(),
      tag: { instance: this.instance, key: desired.key, contentHash: desired.contentHash },
      transactionId,
      event: structuredClone(desired.event),
    };
    calendar.set(item.itemId, item);
    return { itemId: item.itemId, changeKey: item.changeKey };
  }

  async update(desired: DesiredEvent, item: ItemRef): Promise<ItemRef> {
    await this.gate(desired.event.calendar);
    this.writes.push([desired.event.subject]);
    return this.change(desired, item);
  }

  /**
   * A stale change key is the conflict every server reports (412, ErrorStaleObject); the fallback of the real
   * targets — read the item, check it is still ours, write again — comes to this: the source wins while the item
   * carries our tag, and an item that no longer does is "gone" to us and left alone.
   */
  private change(desired: DesiredEvent, ref: ItemRef): ItemRef {
    const current = this.mailbox(desired.event.calendar).get(ref.itemId);
    if (!current) throw new TargetError('gone', 'ErrorItemNotFound', 'The specified object was not found in the store.', { status: 404 });
    if (!this.ours(current)) throw new TargetError('gone', 'NotOurs', `item ${ref.itemId} no longer carries this instance's tag`);
    current.event = structuredClone(desired.event);
    current.tag = { instance: this.instance, key: desired.key, contentHash: desired.contentHash };
    current.changeKey = this.calendars.nextChangeKey();
    return { itemId: current.itemId, changeKey: current.changeKey };
  }

  async remove(calendar: string, item: ItemRef): Promise<void> {
    await this.gate(calendar);
    this.writes.push([`(delete ${item.itemId})`]);
    this.drop(calendar, item);
  }

  /** Already gone counts as deleted; an item that is not ours is left alone. */
  private drop(calendar: string, ref: ItemRef): void {
    const current = this.mailbox(calendar).get(ref.itemId);
    if (this.ours(current)) this.mailbox(calendar).delete(ref.itemId);
  }

  async close(): Promise<void> {}
}
