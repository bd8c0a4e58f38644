// What the store keeps for alerts (src/alerts): which conditions are firing — so that each is announced once until
// it clears, then once as resolved, across restarts and across processes sharing the store — and an outbox of the
// notifications still to send, with their next attempt (the retries' back-off is a time in a row, not a sleep).

export interface AlertRow {
  /** The condition: `<kind>:<subject>`, e.g. `access-lost:alice@contoso.edu`. */
  key: string;
  kind: string;
  subject: string;
  firedAt: string;
}

export interface AlertDeliveryRow {
  id: number;
  alertKey: string;
  /** A configured channel: `webhook:<n>` or `email`. */
  channel: string;
  /** The notification (JSON), as it is sent. */
  payload: string;
  attempts: number;
  nextAttemptAtMs: number;
  lastError: string | null;
}

export interface AlertStore {
  firingAlerts(): Promise<AlertRow[]>;
  /**
   * Opens the alert unless it is firing already, and queues its notification for each channel — in one transaction.
   * false (nothing queued) when it was firing.
   */
  fireAlert(alert: AlertRow, notifications: Array<{ channel: string; payload: string }>, nowMs: number): Promise<boolean>;
  /** Closes a firing alert and queues its "resolved" notifications; false when it was not firing. */
  resolveAlert(key: string, notifications: Array<{ channel: string; payload: string }>, nowMs: number): Promise<boolean>;
  /**
   * Notifications due now, claimed for `leaseMs` (their next attempt moved past it), so that another process does not
   * send them meanwhile; a sender that dies leaves them to be sent once the lease has passed.
   */
  claimAlertDeliveries(nowMs: number, leaseMs: number, limit: number): Promise<AlertDeliveryRow[]>;
  /** Sent: the notification leaves the outbox. Failed: tried again at `nextAttemptAtMs`, or dropped when null. */
  recordAlertDelivery(id: number, outcome: { ok: true } | { ok: false; error: string; nextAttemptAtMs: number | null }): Promise<void>;
}
