-- Up Migration

-- A fault of the case that came back too often to clear by itself (3 times in 7 days, migration
-- 023), noted when its restore came while other alerts of the case were still open: the restore
-- that closes the last of them then leaves the case for an operator too, whatever order the
-- restores came in. `{type, deviceSerial, times, days}`; null while there is none. Nullable and
-- without a default, so the table is not rewritten and an instance not yet upgraded still writes.
ALTER TABLE cases ADD COLUMN fault_repeats jsonb;

-- Down Migration
ALTER TABLE cases DROP COLUMN fault_repeats;
