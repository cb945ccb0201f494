-- Up Migration

-- The case view carries every step of a case but the older `alert-joined` ones (a storm joins
-- thousands of alerts, one step each): the steps that are not joins, and the latest joins, each read
-- by its own index, whatever the number of joins; the joins left out are counted from their index.
CREATE INDEX case_events_joins ON case_events (case_id, seq) WHERE kind = 'alert-joined';
CREATE INDEX case_events_steps ON case_events (case_id, seq) WHERE kind <> 'alert-joined';

-- Down Migration
DROP INDEX case_events_steps;
DROP INDEX case_events_joins;
