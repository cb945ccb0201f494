import { idPattern } from '@telecare/contracts';
import { InvalidRequestError } from '@telecare/platform';
import { z } from 'zod';

/**
 * Where a page of `GET /api/cases` ended: the sort key of its last case, in the order of its
 * `state` (the queue: priority, raisedAt, id; every case: raisedAt, id, newest first). The next
 * page starts after it, so cases raised meanwhile repeat nothing and push nothing off the pages
 * still to read. `raisedAt` keeps PostgreSQL's microseconds (a JavaScript date would round them).
 */
export type ListKey =
  | { readonly state: 'open'; readonly priority: number; readonly raisedAt: string; readonly id: string }
  | { readonly state: 'all'; readonly raisedAt: string; readonly id: string };

/** A time a calendar has, to the microsecond: PostgreSQL refuses a 13th month or a year 0 (a 500). */
const RaisedAt = z
  .string()
  .regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)
  .refine((at) => {
    const seconds = at.slice(0, 19);
    const date = new Date(`${seconds}Z`);
    return !Number.isNaN(date.getTime()) && date.toISOString().startsWith(seconds) && !at.startsWith('0000');
  });
const CaseId = z.string().regex(idPattern('case'));
const ListKeySchema = z.discriminatedUnion('state', [
  z.strictObject({
    state: z.literal('open'),
    priority: z.number().int().min(1).max(5),
    raisedAt: RaisedAt,
    id: CaseId,
  }),
  z.strictObject({ state: z.literal('all'), raisedAt: RaisedAt, id: CaseId }),
]);

/** The key as the opaque `cursor` of the next page's link. */
export const encodeCursor = (key: ListKey): string => Buffer.from(JSON.stringify(key)).toString('base64url');

const refused = (message: string) => new InvalidRequestError([{ path: 'cursor', message }]);

/** What a cursor holds, unchecked; undefined for one that is not base64url JSON at all. */
function opened(cursor: string): unknown {
  try {
    return JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

/** The key a `cursor` holds, for a list of `state`; a cursor this list did not give is a 400 naming it. */
export function decodeCursor(cursor: string, state: 'open' | 'all'): ListKey {
  const key = ListKeySchema.safeParse(opened(cursor));
  if (!key.success) throw refused('not a cursor of this list: take the next page from the Link header');
  if (key.data.state !== state)
    throw refused(`a cursor of state=${key.data.state}: read its next page with state=${key.data.state}`);
  return key.data;
}

/**
 * Where a page of a case's notes ended: the case, and the place in its trail (`seq`, kept as text:
 * a bigint) of the page's oldest note. The next page holds the notes before it, so notes written
 * meanwhile repeat nothing and push nothing off the pages still to read.
 */
export interface NoteKey {
  readonly caseId: string;
  readonly seq: string;
}

/** The largest place a trail can have (a bigint's): PostgreSQL refuses one past it, a 500. */
const MAX_SEQ = '9223372036854775807';

const NoteKeySchema = z.strictObject({
  caseId: CaseId,
  // Compared as text, which orders as numbers at the same length: a check runs even on a string
  // the pattern refused, and that is no number to convert.
  seq: z
    .string()
    .regex(/^[1-9]\d{0,18}$/)
    .refine((seq) => seq.length < MAX_SEQ.length || seq <= MAX_SEQ),
});

/** The key as the opaque cursor of the older notes (`olderNotes`, a page's `next`). */
export const encodeNoteCursor = (key: NoteKey): string =>
  Buffer.from(JSON.stringify({ caseId: key.caseId, seq: key.seq })).toString('base64url');

/** The key a notes cursor holds; one this case's notes did not give is a 400 naming `before`. */
export function decodeNoteCursor(cursor: string, caseId: string): NoteKey {
  const refusedBefore = (message: string) => new InvalidRequestError([{ path: 'before', message }]);
  const key = NoteKeySchema.safeParse(opened(cursor));
  if (!key.success)
    throw refusedBefore("not a cursor of this case's notes: take it from `olderNotes` or a page's `next`");
  if (key.data.caseId !== caseId) throw refusedBefore(`a cursor of the notes of ${key.data.caseId}`);
  return key.data;
}
