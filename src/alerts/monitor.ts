// The alert monitor of `calpush serve`: every `alerts.intervalSeconds` it looks at the conditions (conditions.ts),
// opens an alert for each new one and resolves those that cleared — once each, through the store, so that several
// processes and restarts announce a condition once — and sends the notifications that are due. A notification that
// fails is tried again later with a back-off kept in its outbox row (30 s doubling to 1 h, 12 attempts): the monitor's
// cadence sends it when it is due, nothing sleeps. What the monitor is sent to: HMAC-signed webhooks (signature.ts)
// and email over SMTP (nodemailer).
import { readFileSync } from 'node:fs';
import type { Transporter } from 'nodemailer';
import { readSecret, resolvePath } from '../config/secrets.ts';
import { systemClock, type Clock } from '../model/clock.ts';
import type { AlertDeliveryRow, AlertStore } from '../store/alerts.ts';
import type { ConnectionStore } from '../store/connections.ts';
import type { Store } from '../store/store.ts';
import type { AlertsConfig } from './config.ts';
import { evaluate, StallTracker, type Condition, type CredentialExpiry } from './conditions.ts';
import { signAlert } from './signature.ts';

const MAX_ATTEMPTS = 12;
const CLAIM_LEASE_MS = 120_000;
const WEBHOOK_TIMEOUT_MS = 10_000;

/** The notification as webhooks receive it (JSON) and email shows it. */
export interface AlertNotification {
  id: string;
  event: 'firing' | 'resolved';
  kind: string;
  subject: string;
  summary: string;
  remedy: string;
  instance: string;
  at: string;
  details: Record<string, unknown>;
}

export interface AlertMonitorOptions {
  config: AlertsConfig;
  baseDir: string;
  instance: string;
  store: Store & AlertStore & Partial<ConnectionStore>;
  /** The configured feeds' calendars (their failures are watched). */
  feedCalendars: string[];
  credentials: CredentialExpiry[];
  connectUrl: (calendar: string) => string;
  clock?: Clock;
  log?: { info(fields: object, message: string): void; warn(fields: object, message: string): void; error(fields: object, message: string): void };
}

interface Channel {
  name: string;
  send(notification: AlertNotification, body: string, deliveryId: number): Promise<void>;
}

/** Where a webhook URL points, for logs (its path may hold a token). */
const originOf = (url: string) => {
  try {
    return new URL(url).origin;
  } catch {
    return '(invalid URL)';
  }
};

function webhookChannels(config: AlertsConfig, baseDir: string, clock: Clock): Channel[] {
  return config.webhooks.map((hook, index) => {
    const url = typeof hook.url === 'string' ? hook.url : readSecret(hook.url, baseDir, `alerts.webhooks[${index}].url`);
    const secret = readSecret(hook.secret, baseDir, `alerts.webhooks[${index}].secret`);
    return {
      name: `webhook:${index}`,
      async send(notification, body, deliveryId) {
        let response: Response;
        try {
          response = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'user-agent': 'calpush-alerts', 'calpush-signature': signAlert(secret, body, clock.now()), 'calpush-event': notification.event, 'calpush-delivery': String(deliveryId) },
            body,
            redirect: 'error',
            signal: AbortSignal.timeout(WEBHOOK_TIMEOUT_MS),
          });
        } catch (error) {
          throw new Error(`${originOf(url)}: ${(error as Error).name === 'TimeoutError' ? 'no answer within 10 s' : ((error as { cause?: Error }).cause?.message ?? (error as Error).message)}`);
        }
        await response.body?.cancel();
        if (response.status < 200 || response.status >= 300) throw new Error(`${originOf(url)} answered HTTP ${response.status}`);
      },
    };
  });
}

async function emailChannel(config: AlertsConfig, baseDir: string): Promise<Channel | null> {
  const email = config.email;
  if (!email) return null;
  const { createTransport } = await import('nodemailer');
  const loopback = /^(127\.|localhost$|::1$)/.test(email.smtp.host);
  const transport: Transporter = createTransport({
    host: email.smtp.host,
    port: email.smtp.port,
    secure: email.smtp.secure,
    requireTLS: email.smtp.requireTls ?? !loopback,
    ...(email.smtp.user ? { auth: { user: email.smtp.user, pass: email.smtp.password ? readSecret(email.smtp.password, baseDir, 'alerts.email.smtp.password') : '' } } : {}),
    ...(email.smtp.caFile ? { tls: { ca: readFileSync(resolvePath(baseDir, email.smtp.caFile), 'utf8') } } : {}),
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  });
  return {
    name: 'email',
    async send(notification) {
      const state = notification.event === 'firing' ? 'ALERT' : 'RESOLVED';
      await transport.sendMail({
        from: email.from,
        to: email.to,
        subject: `[calpush ${notification.instance}] ${state}: ${notification.summary}`.slice(0, 250),
        text: [
          notification.event === 'firing' ? notification.summary : `Resolved: ${notification.summary}`,
          '',
          notification.event === 'firing' ? `What to do: ${notification.remedy}` : 'Nothing more to do.',
          '',
          `Kind: ${notification.kind}`,
          `Subject: ${notification.subject}`,
          `When: ${notification.at}`,
          `calpush instance: ${notification.instance}`,
        ].join('\n'),
      });
    },
  };
}

export class AlertMonitor {
  private readonly options: AlertMonitorOptions;
  private readonly clock: Clock;
  private readonly stall = new StallTracker();
  private channels: Channel[] | null = null;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;

  constructor(options: AlertMonitorOptions) {
    this.options = options;
    this.clock = options.clock ?? systemClock;
  }

  /** Looks at the conditions and sends what is due every `alerts.intervalSeconds` (a cadence, not a wait before a retry). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.options.config.intervalSeconds * 1000);
    this.timer.unref?.();
    void this.tick();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.running;
  }

  /** One round: conditions → alerts opened and resolved → notifications sent. Runs one at a time. */
  tick(): Promise<void> {
    this.running ??= this.round()
      .catch((error) => this.options.log?.error({ err: error }, 'alerts: a round failed'))
      .finally(() => {
        this.running = null;
      });
    return this.running;
  }

  private async round(): Promise<void> {
    this.channels ??= [...webhookChannels(this.options.config, this.options.baseDir, this.clock), ...[await emailChannel(this.options.config, this.options.baseDir)].filter((c): c is Channel => c !== null)];
    const conditions = await this.conditions();
    await this.record(conditions);
    await this.send();
  }

  private async conditions(): Promise<Condition[]> {
    const { store } = this.options;
    const nowMs = this.clock.now();
    const totals = await store.totals();
    const withWork = (await store.mailboxesWithWork()).length;
    const feeds = (await Promise.all(this.options.feedCalendars.map((c) => store.feedState(c)))).filter((f) => f !== null);
    return evaluate(
      {
        nowMs,
        mailboxes: await store.mailboxes(),
        connections: store.connections ? await store.connections() : [],
        feeds,
        credentials: this.options.credentials,
        totals,
        mailboxesWithWork: withWork,
        stalledForMs: this.stall.observe(totals, withWork, nowMs),
        connectUrl: this.options.connectUrl,
      },
      this.options.config,
    );
  }

  private notification(condition: Pick<Condition, 'key' | 'subject' | 'summary' | 'remedy' | 'details'> & { kind: string }, event: 'firing' | 'resolved', at: string): string {
    const notification: AlertNotification = { id: `${condition.key}@${at}`, event, kind: condition.kind, subject: condition.subject, summary: condition.summary, remedy: condition.remedy, instance: this.options.instance, at, details: condition.details };
    return JSON.stringify(notification);
  }

  private async record(conditions: Condition[]): Promise<void> {
    const { store } = this.options;
    const nowMs = this.clock.now();
    const at = new Date(nowMs).toISOString();
    const channels = this.channels!.map((c) => c.name);
    const active = new Set(conditions.map((c) => c.key));
    for (const condition of conditions) {
      const payload = this.notification(condition, 'firing', at);
      if (await store.fireAlert({ key: condition.key, kind: condition.kind, subject: condition.subject, firedAt: at }, channels.map((channel) => ({ channel, payload })), nowMs)) {
        this.options.log?.warn({ alert: condition.key, summary: condition.summary }, 'alert');
      }
    }
    for (const firing of await store.firingAlerts()) {
      if (active.has(firing.key)) continue;
      const payload = this.notification({ key: firing.key, kind: firing.kind, subject: firing.subject, summary: `${firing.kind} of ${firing.subject} has cleared`, remedy: '', details: { firedAt: firing.firedAt } }, 'resolved', at);
      if (await store.resolveAlert(firing.key, channels.map((channel) => ({ channel, payload })), nowMs)) this.options.log?.info({ alert: firing.key }, 'alert resolved');
    }
  }

  private async send(): Promise<void> {
    const { store } = this.options;
    const due = await store.claimAlertDeliveries(this.clock.now(), CLAIM_LEASE_MS, 50);
    await Promise.all(due.map((delivery) => this.deliver(delivery)));
  }

  private async deliver(delivery: AlertDeliveryRow): Promise<void> {
    const { store } = this.options;
    const channel = this.channels!.find((c) => c.name === delivery.channel);
    if (!channel) return store.recordAlertDelivery(delivery.id, { ok: false, error: 'the channel is no longer configured', nextAttemptAtMs: null });
    try {
      await channel.send(JSON.parse(delivery.payload) as AlertNotification, delivery.payload, delivery.id);
      await store.recordAlertDelivery(delivery.id, { ok: true });
    } catch (error) {
      const attempts = delivery.attempts + 1;
      const message = (error as Error).message.split('\n')[0]!.slice(0, 300);
      const nextAttemptAtMs = attempts >= MAX_ATTEMPTS ? null : this.clock.now() + Math.min(30_000 * 2 ** (attempts - 1), 3_600_000);
      this.options.log?.[nextAttemptAtMs === null ? 'error' : 'warn']({ channel: delivery.channel, alert: delivery.alertKey, attempts, error: message }, nextAttemptAtMs === null ? 'alert notification given up' : 'alert notification failed; tried again later');
      await store.recordAlertDelivery(delivery.id, { ok: false, error: message, nextAttemptAtMs });
    }
  }
}
