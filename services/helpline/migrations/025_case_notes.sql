-- Up Migration

-- A case's notes are read newest first a page at a time from a cursor (`GET /api/cases/{id}/notes`),
-- and the case view reads its newest on every change of the case, by
--   CREATE INDEX case_events_notes ON case_events (case_id, seq) WHERE kind = 'note';
-- The indexes before it held every step of the case (or every step but its joins), so a page read
-- all the case's notes and other steps and sorted them, or walked the whole table backwards. A
-- plain CREATE INDEX stops every write to case_events, and so every alert's store, while it reads
-- the whole table: the service builds it CONCURRENTLY after its migrations instead
-- (`schema-upgrade.ts`), as it does 014's.
SELECT 1;

-- Down Migration
DROP INDEX IF EXISTS case_events_notes;
