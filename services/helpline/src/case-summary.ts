import type { CaseEvent, HelplineCase } from '@telecare/contracts';
import type { FeedEntry } from './feed.ts';

/**
 * The steps whose data every console is sent on the live stream: what the helpline itself or a
 * device wrote (an alert joined and whether it was a press again, an offer, an escalation, a missed
 * answer target, an operator gone or back, a call's start and end). The steps people write carry
 * their words about the resident (a note, a responder's name and answer, a hold's, a resolution's
 * or a reassignment's reason, a reveal's, a fact's detail; a call-back due carries the hold's
 * reason): those are read in the case view, which logs who read them (`personal-data-read`), and
 * reach the stream as the kind of step alone. A kind added later streams no data until named here.
 * A call's end is the helpline's record of the call, but it carries the caller's note about it:
 * that field stays in the case view (`TYPED_FIELDS`).
 */
const STREAMED_STEP_DATA: ReadonlySet<CaseEvent['kind']> = new Set<CaseEvent['kind']>([
  'opened',
  'alert-joined',
  'offered',
  'accepted',
  'closed',
  'offer-expired',
  'escalated',
  'answer-target-missed',
  'call-started',
  'call-ended',
  'operator-gone',
  'operator-back',
]);

/** The words a person typed that ride on a step whose other data is streamed. */
const TYPED_FIELDS: Partial<Record<CaseEvent['kind'], readonly string[]>> = { 'call-ended': ['note'] };

/** A step's data as the live stream sends it: none for a step people write, never their words. */
const streamedData = (step: Pick<CaseEvent, 'kind' | 'data'>): CaseEvent['data'] => {
  if (!STREAMED_STEP_DATA.has(step.kind)) return {};
  const typed = TYPED_FIELDS[step.kind];
  if (!typed) return step.data;
  return Object.fromEntries(Object.entries(step.data).filter(([field]) => !typed.includes(field)));
};

/**
 * A case as every console gets it, working it or not (the live stream, the case list): a hold says
 * until when and at what priority, not why (the reason is the holder's words: the case view's).
 */
export const caseSummary = (c: HelplineCase): HelplineCase =>
  c.hold ? { ...c, hold: { until: c.hold.until, returnPriority: c.hold.returnPriority } } : c;

/** A change of a case as the live stream sends it: the case's summary and the step's kind. */
export const streamedChange = (entry: FeedEntry): HelplineCase & { lastEvent?: FeedEntry['lastEvent'] } => {
  const { lastEvent } = entry;
  if (!lastEvent) return caseSummary(entry.case);
  return {
    ...caseSummary(entry.case),
    lastEvent: { ...lastEvent, data: streamedData(lastEvent) },
  };
};
