-- Up Migration

-- A test call passes only on the event its device kind exists for (contracts' TEST_TRIGGERS):
-- the kind is kept with the call, and everything else that arrived
-- meanwhile (a connection, a heartbeat, a DC-09 poll) is listed, so the installer sees
-- "connected, no trigger yet" instead of a pass.
ALTER TABLE test_calls
  ADD COLUMN kind text,
  ADD COLUMN connected_at timestamptz,
  ADD COLUMN arrived jsonb NOT NULL DEFAULT '[]'::jsonb;
UPDATE test_calls t SET kind = d.kind FROM devices d WHERE d.serial = t.serial;
ALTER TABLE test_calls ALTER COLUMN kind SET NOT NULL;

-- The resident's reference in the commissioning organisation's own records (the `ref` column of
-- residents.csv): unique, so that importing a corrected file again updates or skips a resident
-- instead of creating a second one.
ALTER TABLE residents ADD COLUMN external_ref text UNIQUE CHECK (length(external_ref) BETWEEN 1 AND 64);

-- Lookups by name for `resident list --name` and search.
CREATE INDEX residents_name_lower_idx ON residents (lower(name));

-- Down Migration

DROP INDEX residents_name_lower_idx;
ALTER TABLE residents DROP COLUMN external_ref;
ALTER TABLE test_calls DROP COLUMN arrived, DROP COLUMN connected_at, DROP COLUMN kind;
