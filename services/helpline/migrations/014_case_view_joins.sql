-- Up Migration

-- The case view carries every step of a case but the older `alert-joined` ones (a storm joins
-- thousands of alerts, one step each): the steps that are not joins, and the latest joins, each read
-- by its own index, whatever the number of joins; the joins left out are counted from their index.
--   CREATE INDEX case_events_joins ON case_events (case_id, seq) WHERE kind = 'alert-joined';
--   CREATE INDEX case_events_steps ON case_events (case_id, seq) WHERE kind <> 'alert-joined';
-- A plain CREATE INDEX stops every write to case_events, and so every alert's store, while it reads
-- the whole table (case_events holds a step for every alert a case ever took), and this migration
-- runs in one transaction with 013 and 015: the service builds both CONCURRENTLY after its
-- migrations instead (`schema-upgrade.ts`). A schema that ran this migration before has them.
SELECT 1;

-- Down Migration
DROP INDEX IF EXISTS case_events_steps;
DROP INDEX IF EXISTS case_events_joins;
