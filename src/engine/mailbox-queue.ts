// The mailboxes of one delivery waiting for a worker, the ones being delivered, and the ones that changed while
// they were: a changed mailbox goes to the front of the line, or again once its current delivery ends.

/**
 * The mailboxes of one delivery: which wait, which run, which are done, and changes that arrive meanwhile.
 * Workers take mailboxes with next(); it resolves undefined once nothing is waiting and nothing runs.
 */
export class MailboxQueue {
  private readonly waiting: string[];
  private readonly running = new Set<string>();
  private readonly again = new Set<string>();
  private wakers: Array<() => void> = [];

  constructor(calendars: string[]) {
    this.waiting = [...calendars];
  }

  async next(): Promise<string | undefined> {
    for (;;) {
      const calendar = this.waiting.shift();
      if (calendar !== undefined) {
        this.running.add(calendar);
        return calendar;
      }
      if (this.running.size === 0) {
        this.wake();
        return undefined;
      }
      await new Promise<void>((resolve) => this.wakers.push(resolve));
    }
  }

  hasWaiting(): boolean {
    return this.waiting.length > 0;
  }

  /** Takes a mailbox that is not running (waiting, or not queued at all) to deliver it now; false if it runs. */
  take(calendar: string): boolean {
    if (this.running.has(calendar)) return false;
    const index = this.waiting.indexOf(calendar);
    if (index >= 0) this.waiting.splice(index, 1);
    this.running.add(calendar);
    return true;
  }

  finished(calendar: string): void {
    this.running.delete(calendar);
    if (this.again.delete(calendar)) this.waiting.unshift(calendar);
    this.wake();
  }

  /** The mailbox's desired state changed: deliver it next (or again, once its current delivery ends). */
  changed(calendar: string): void {
    if (this.running.has(calendar)) {
      this.again.add(calendar);
      return;
    }
    const index = this.waiting.indexOf(calendar);
    if (index >= 0) this.waiting.splice(index, 1);
    this.waiting.unshift(calendar);
    this.wake();
  }

  private wake(): void {
    const wakers = this.wakers;
    this.wakers = [];
    for (const resolve of wakers) resolve();
  }
}
