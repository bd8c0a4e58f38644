// The push API's contract as zod schemas: requests are validated with them (events with the event model's own
// schema, so that the API and input files accept exactly the same events) and /openapi.json is generated from
// them. The client's types are inferred from the same schemas.
import { z } from 'zod';
import { eventInputSchema } from '../model/event.ts';

const { calendar: calendarField, id: idField, ...eventFields } = eventInputSchema.shape;

/** PUT /v1/calendars/{calendar}/events/{eventId}: the event without calendar and id (they are in the URL). */
export const eventBodySchema = z
  .object({
    ...eventFields,
    calendar: calendarField.optional().describe('May be given; must then be the calendar of the URL'),
    id: idField.optional().describe('May be given; must then be the event id of the URL'),
  })
  .strict()
  .describe(
    'An event, in the same shape as a record of a JSON/NDJSON input file. Timed events: start/end as local date-times without offset plus an IANA timeZone. ' +
      'All-day events: allDay true with dates, the end date exclusive, and no timeZone.',
  );

/** One event of a calendar's full set (PUT /v1/calendars/{calendar}/events): id required, calendar optional. */
export const calendarEventSchema = z
  .object({ ...eventFields, id: idField, calendar: calendarField.optional().describe('May be given; must then be the calendar of the URL') })
  .strict();

/** One item of POST /v1/events/batch. */
export const batchItemSchema = z
  .object({
    op: z.enum(['upsert', 'delete']).default('upsert').describe('upsert (the default): the item is an event record; delete: only calendar and id are given'),
    calendar: calendarField,
    id: idField,
    ...eventFields,
  })
  .partial({ start: true, end: true })
  .strict()
  .describe('An event record as in input files plus "op", or {"op": "delete", "calendar": …, "id": …}');

export const fieldErrorSchema = z.object({
  field: z.string(),
  pointer: z.string().optional().describe('JSON Pointer into the request body (or the item)'),
  message: z.string(),
});

export const problemSchema = z
  .object({
    type: z.string().describe('A link to the description of this kind of problem'),
    title: z.string(),
    status: z.number().int(),
    detail: z.string().optional(),
    instance: z.string().optional(),
    errors: z.array(fieldErrorSchema).optional().describe('Each bad field'),
  })
  .catchall(z.unknown())
  .describe('RFC 9457 problem details');

export const desiredOutcomeSchema = z.enum(['added', 'changed', 'unchanged', 'removed', 'absent']);

export const acceptedSchema = z.object({
  calendar: z.string(),
  id: z.string(),
  result: desiredOutcomeSchema.describe('What the request did to the desired state; absent: a delete of an event that was not there'),
  statusUrl: z.string().describe('GET it for the delivery status'),
});

/** An event as the API shows it (the normalised form of what was sent). */
export const eventRecordSchema = z.object({
  calendar: z.string(),
  id: z.string(),
  subject: z.string(),
  start: z.string(),
  end: z.string(),
  timeZone: z.string().optional(),
  allDay: z.boolean(),
  body: z.object({ contentType: z.enum(['text', 'html']), content: z.string() }).nullable(),
  location: z.string().nullable(),
  categories: z.array(z.string()),
  showAs: z.string(),
  sensitivity: z.string(),
  reminderMinutes: z.number().int().nullable(),
});

export const deliveryStatusSchema = z.enum(['pending', 'delivered', 'failed', 'deleting']);

export const eventStatusSchema = z.object({
  calendar: z.string(),
  id: z.string(),
  status: deliveryStatusSchema.describe(
    'pending: not yet in the calendar as it is now wanted; delivered: the calendar has it; failed: the last attempt failed (see reason; it is retried); deleting: removed from the desired state, its item not yet deleted',
  ),
  reason: z.string().optional().describe('Why the delivery failed'),
  targetItemId: z.string().nullable().describe('The id of the item in the target calendar (Graph event id)'),
  pendingOperation: z.enum(['create', 'update', 'delete']).nullable(),
  event: eventRecordSchema.nullable().describe('The desired event; null once it is removed'),
  updatedAt: z.string().nullable().describe('When the desired event last changed'),
  deliveredAt: z.string().nullable(),
});

export const feedStatusSchema = z.object({
  url: z.string().describe('The feed URL without its query'),
  lastFetchAt: z.string().nullable(),
  lastOutcome: z.string().nullable(),
  lastError: z.string().nullable(),
  lastChangeAt: z.string().nullable(),
  consecutiveEmpty: z.number().int(),
});

export const calendarStatusSchema = z.object({
  calendar: z.string(),
  state: z.enum(['pending', 'ok', 'failed']),
  upToDate: z.boolean().describe('The calendar has the desired state as it is now'),
  desired: z.number().int(),
  delivered: z.number().int(),
  pending: z.number().int().describe('Operations planned but not yet answered'),
  failedEvents: z.number().int(),
  lastSyncAt: z.string().nullable(),
  lastError: z.object({ code: z.string().nullable(), message: z.string() }).nullable(),
  source: z.enum(['api', 'feed']).describe('feed: the calendar is fed by an iCalendar feed and cannot be written through the API'),
  feed: feedStatusSchema.optional(),
});

export const calendarListSchema = z.object({
  calendars: z.array(z.object({ calendar: z.string(), state: z.enum(['pending', 'ok', 'failed']), desired: z.number().int(), upToDate: z.boolean() })),
});

export const itemErrorSchema = z.object({
  item: z.number().int().describe('1-based position in the body (the line for NDJSON)'),
  id: z.string().optional(),
  field: z.string(),
  pointer: z.string().optional(),
  message: z.string(),
});

const operationPreviewSchema = z.object({
  count: z.number().int(),
  ids: z.array(z.string()).describe('The first ids, soonest event first; "key:<key>" for an item whose id the store does not know'),
});

export const mailboxPreviewSchema = z
  .object({
    calendar: z.string(),
    basis: z
      .enum(['store', 'listed', 'not-listed'])
      .describe('store: compared with what the store recorded as delivered; not-listed: the calendar was never listed, so the target may hold tagged events the store does not know (a real delivery lists it first)'),
    create: operationPreviewSchema,
    update: operationPreviewSchema,
    delete: operationPreviewSchema,
    unchanged: z.number().int(),
    note: z.string().optional(),
  })
  .describe('What a delivery would do to the calendar after this replacement');

export const replaceResultSchema = z.object({
  calendar: z.string(),
  accepted: z.number().int(),
  rejected: z.number().int().describe('Items not applied; what was delivered for their ids stays as it was'),
  added: z.number().int(),
  changed: z.number().int(),
  removed: z.number().int(),
  unchanged: z.number().int(),
  kept: z.number().int().describe('Ended events absent from the body that stay (the config\'s retention)'),
  errors: z.array(itemErrorSchema),
  warnings: z.array(itemErrorSchema).describe('Applied items read differently from how they are written (a local time in a daylight-saving gap, shifted forwards)'),
  statusUrl: z.string(),
  dryRun: z.boolean().optional().describe('true: nothing was recorded (dryRun=true); `plan` says what a delivery would do'),
  plan: mailboxPreviewSchema.optional(),
});

export const batchItemResultSchema = z.object({
  item: z.number().int().describe('1-based position in the body (the line for NDJSON)'),
  op: z.enum(['upsert', 'delete']).optional(),
  calendar: z.string().optional(),
  id: z.string().optional(),
  status: z.number().int().describe('202 applied; 400 invalid; 403 the key may not use the calendar; 404 unknown calendar; 409 the calendar is fed by a feed'),
  result: desiredOutcomeSchema.optional(),
  errors: z.array(fieldErrorSchema).optional(),
  statusUrl: z.string().optional(),
});

export const batchResultSchema = z.object({
  applied: z.number().int(),
  rejected: z.number().int(),
  items: z.array(batchItemResultSchema),
});

export const healthSchema = z.object({
  status: z.enum(['ok', 'degraded', 'stopping']),
  version: z.string(),
  store: z.enum(['ok', 'error']),
  delivery: z.object({
    state: z.enum(['running', 'stopping', 'stopped', 'paused']),
    delivering: z.number().int(),
    fatal: z.object({ code: z.string(), message: z.string(), remedy: z.string().optional(), retryAt: z.string() }).nullable(),
    lastRunAt: z.string().nullable(),
  }),
  feeds: z.number().int().describe('Calendars fed by an iCalendar feed'),
});

export const calendarParamsSchema = z.object({ calendar: z.string().describe('Mailbox address (percent-encoded)') });
export const eventParamsSchema = z.object({
  calendar: z.string().describe('Mailbox address (percent-encoded)'),
  eventId: z.string().describe('The source system’s own id of the event (percent-encoded: ids may contain "/", "@", …)'),
});

const booleanQuery = z
  .enum(['true', 'false', '1', '0'])
  .optional()
  .transform((value) => value === 'true' || value === '1');

export const replaceQuerySchema = z
  .object({
    allowEmpty: booleanQuery.describe('Accept an empty set, which removes every event of the calendar'),
    atomic: booleanQuery.describe('All or nothing: one bad item rejects the whole request'),
    dryRun: booleanQuery.describe('Record nothing: answer 200 with what the replacement would change and what a delivery would create, update and delete'),
  })
  .strict();

export const batchQuerySchema = z.object({ atomic: booleanQuery.describe('All or nothing: one bad item rejects the whole batch') }).strict();

export type EventBody = z.input<typeof eventBodySchema>;
export type CalendarEvent = z.input<typeof calendarEventSchema>;
export type BatchItem = z.input<typeof batchItemSchema>;
export type Accepted = z.infer<typeof acceptedSchema>;
export type EventStatus = z.infer<typeof eventStatusSchema>;
export type EventRecord = z.infer<typeof eventRecordSchema>;
export type CalendarStatus = z.infer<typeof calendarStatusSchema>;
export type CalendarList = z.infer<typeof calendarListSchema>;
export type ReplaceResult = z.infer<typeof replaceResultSchema>;
export type BatchResult = z.infer<typeof batchResultSchema>;
export type BatchItemResult = z.infer<typeof batchItemResultSchema>;
export type Health = z.infer<typeof healthSchema>;
export type ProblemDocument = z.infer<typeof problemSchema>;

/** A person's delegated connection of their calendar (target kind "graph-delegated"): never a token. */
export const connectionStatusSchema = z.object({
  calendar: z.string(),
  state: z.enum(['connected', 'disconnected', 'not-connected']).describe('not-connected: nobody has connected this calendar yet'),
  reason: z
    .string()
    .nullable()
    .describe('Why it is disconnected: ConsentRevoked, SessionRevoked, RefreshTokenExpired, InvalidGrant (Entra ID refused the refresh token), DisconnectedByPerson, DisconnectedByAdmin'),
  message: z.string().nullable(),
  username: z.string().nullable().describe('Who connected it (their sign-in name)'),
  connectedAt: z.string().nullable(),
  changedAt: z.string().nullable(),
  lastRefreshAt: z.string().nullable().describe('When calpush last used (and replaced) the refresh token'),
  connectUrl: z.string().describe('The page where the person connects (again)'),
});
export const connectionListSchema = z.object({ connections: z.array(connectionStatusSchema) });
