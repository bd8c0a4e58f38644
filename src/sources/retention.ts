// The `retention` section of the config, owned by the sources: what a full replacement (sync, a feed, the API's PUT
// of a calendar's events) does with an event that has ended and is no longer in the input — keep it (the default:
// sources forget the past, students should not), or remove it once it ended more than `afterDays` days ago. The
// rule itself is src/model/retention.ts.
import { z } from 'zod';
import { DEFAULT_RETENTION } from '../model/retention.ts';

export const retentionSchema = z
  .discriminatedUnion(
    'past',
    [
      z.object({ past: z.literal('keep') }).strict(),
      z.object({ past: z.literal('prune'), afterDays: z.number({ error: 'is required with "prune": days after its end that an ended event absent from the input is removed' }).int().min(0).max(36_500) }).strict(),
    ],
    { error: 'must be {"past": "keep"} or {"past": "prune", "afterDays": N}' },
  )
  .default(DEFAULT_RETENTION);
