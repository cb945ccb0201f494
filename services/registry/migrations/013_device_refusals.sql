-- Up Migration

-- A device whose messages a gateway refuses (DEADLETTER) looked silent to the installer: a test call
-- failed with "no event". The refusals that name a device are kept with its test call (reason and the
-- gateway's words, never the bytes: at most 20, the newest) and counted for its health.
ALTER TABLE test_calls ADD COLUMN refused jsonb NOT NULL DEFAULT '[]'::jsonb;

ALTER TABLE device_health
  ADD COLUMN refused_at timestamptz,
  ADD COLUMN refused_reason text,
  ADD COLUMN refused_detail text,
  ADD COLUMN refused_letter text;

-- Refusals per device and minute over the last day: a device refused at its full rate leaves at most
-- 1440 rows; rows older than a day are deleted (by the minute index) as new ones are counted.
CREATE TABLE device_refusals (
  serial text NOT NULL REFERENCES devices (serial) ON DELETE CASCADE,
  minute timestamptz NOT NULL,
  refusals integer NOT NULL,
  PRIMARY KEY (serial, minute)
);
CREATE INDEX device_refusals_minute_idx ON device_refusals (minute);

-- Down Migration

DROP TABLE device_refusals;
ALTER TABLE device_health
  DROP COLUMN refused_letter, DROP COLUMN refused_detail, DROP COLUMN refused_reason, DROP COLUMN refused_at;
ALTER TABLE test_calls DROP COLUMN refused;
