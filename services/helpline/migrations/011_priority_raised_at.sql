-- Up Migration

-- When the case last took a more urgent priority than it had: a more urgent alert joined it, or
-- its call-back returned it more urgent. Null while it keeps the priority it was raised with. An
-- unaccepted P1 climbs the escalation ladder from the latest of its raise, this and requeued_at:
-- counted from the raise, a P2 waiting five minutes that a press made a P1 reached every rung in
-- its first tick as a P1 (every operator, the supervisor and the partner centre in the same second).
-- Nullable, so an instance not yet upgraded still inserts cases.
ALTER TABLE cases ADD COLUMN priority_raised_at timestamptz;

-- The ladder's candidates: P1s waiting, by the time their ladder runs from (greatest ignores nulls).
DROP INDEX cases_ladder_idx;
CREATE INDEX cases_ladder_idx ON cases ((greatest(raised_at, requeued_at, priority_raised_at)))
  WHERE priority = 1 AND state IN ('queued', 'offered') AND NOT test_mode;

-- An open case a more urgent alert already raised runs its ladder from that alert's arrival. Its
-- rung stays as it is: a case that already climbed (all at once) is not sent to the partner again.
-- (A call-back that returned a case more urgent also set requeued_at, the same moment.)
UPDATE cases c SET priority_raised_at = (
    SELECT max(e.at) FROM case_events e
     WHERE e.case_id = c.id AND e.kind = 'alert-joined' AND e.data ? 'priorityRaisedFrom')
 WHERE c.state IN ('queued', 'offered', 'accepted', 'on_hold') AND NOT c.test_mode;

-- Down Migration
DROP INDEX cases_ladder_idx;
CREATE INDEX cases_ladder_idx ON cases ((coalesce(requeued_at, raised_at)))
  WHERE priority = 1 AND state IN ('queued', 'offered') AND NOT test_mode;
ALTER TABLE cases DROP COLUMN priority_raised_at;
