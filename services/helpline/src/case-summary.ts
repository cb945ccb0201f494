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
    lastEvent: STREAMED_STEP_DATA.has(lastEvent.kind) ? lastEvent : { ...lastEvent, data: {} },
  };
};
