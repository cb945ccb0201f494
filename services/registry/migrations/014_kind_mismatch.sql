-- Up Migration

-- A life-critical alarm of a type the device's registered kind does not report is stored all the
-- same (no dead letter says so): kept with the device's test call (at most 20) and, the latest, with
-- its health, so the installer learns the registered kind is wrong.
ALTER TABLE test_calls ADD COLUMN mismatched jsonb NOT NULL DEFAULT '[]'::jsonb;

ALTER TABLE device_health
  ADD COLUMN mismatch_at timestamptz,
  ADD COLUMN mismatch_type text,
  ADD COLUMN mismatch_kind text,
  ADD COLUMN mismatch_event text;

-- Down Migration

ALTER TABLE device_health
  DROP COLUMN mismatch_event, DROP COLUMN mismatch_kind, DROP COLUMN mismatch_type, DROP COLUMN mismatch_at;
ALTER TABLE test_calls DROP COLUMN mismatched;
