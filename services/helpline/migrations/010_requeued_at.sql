-- Up Migration

-- When the case last came back to the queue unanswered after someone had it (accepted or on
-- hold): its operator gone, its call-back due, a press bringing it back from hold. Null while it
-- never has. An unaccepted P1 climbs the escalation ladder from this time, else from its raise:
-- counted from the raise, a P1 requeued minutes after it was raised reached every rung in its
-- first tick back (every operator, the supervisor and the partner centre in the same second).
-- Nullable, so an instance not yet upgraded still inserts cases.
ALTER TABLE cases ADD COLUMN requeued_at timestamptz;

-- The ladder's candidates: P1s waiting, by the time their ladder runs from.
CREATE INDEX cases_ladder_idx ON cases ((coalesce(requeued_at, raised_at)))
  WHERE priority = 1 AND state IN ('queued', 'offered') AND NOT test_mode;

-- A case already back in the queue unanswered runs its ladder from when it came back. Its rung
-- stays as it is: a case that already climbed (all at once) is not sent to the partner again.
UPDATE cases c SET requeued_at = (
    SELECT max(e.at) FROM case_events e
     WHERE e.case_id = c.id
       AND (e.kind = 'requeued' OR (e.kind = 'alert-joined' AND e.data ->> 'requeuedFromHold' = 'true')))
 WHERE c.state IN ('queued', 'offered') AND c.accepted_at IS NOT NULL AND NOT c.test_mode;

-- Down Migration
DROP INDEX cases_ladder_idx;
ALTER TABLE cases DROP COLUMN requeued_at;
