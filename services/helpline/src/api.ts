import { Outcome, Priority } from '@telecare/contracts';
import { z } from 'zod';

/** Request shapes of the helpline API, kept as zod so the OpenAPI document can be generated from them. */
export const ListCasesQuery = z.object({
  state: z.enum(['open', 'all']).default('open'),
  limit: z.coerce.number().int().min(1).max(1000).default(500),
});

export const CaseIdParams = z.object({ id: z.string().regex(/^case_[0-9a-z]{8,64}$/, 'not a case id') });

export const HoldBody = z.object({
  /** The call-back time. */
  until: z.iso.datetime({ offset: true }),
  reason: z.string().trim().min(1).max(500),
  /** The priority the case returns to the queue with when the call-back is due. */
  returnPriority: Priority.optional(),
});

export const ResolveBody = z.object({
  outcome: Outcome,
  reason: z.string().trim().min(1, 'say why the case is resolved').max(2000),
});

/** Error bodies: `error` is a stable code, `message` a sentence an operator can read. */
export interface ApiError {
  error: 'invalid-request' | 'not-found' | 'refused' | 'unauthorized';
  message: string;
  state?: string;
  issues?: string[];
}
