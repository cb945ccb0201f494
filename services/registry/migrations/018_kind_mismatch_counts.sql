-- Up Migration

-- Health named only the latest kind mismatch: a device sending an alarm its registered kind does not
-- report again and again looked the same as one that did it once. The mismatches of the last day are
-- counted per device and minute of event time (at most 1440 rows a device; rows older than a day are
-- deleted, by the minute index, as new ones are counted), with the event ids of the minute so a
-- redelivered event (same time, same minute) is not counted twice, and the first and last seen.
-- No reference to devices: a device deleted while its alarms are read must not fail their health.
CREATE TABLE device_kind_mismatches (
  serial text NOT NULL,
  minute timestamptz NOT NULL,
  events text[] NOT NULL,
  first_at timestamptz NOT NULL,
  last_at timestamptz NOT NULL,
  PRIMARY KEY (serial, minute)
);
CREATE INDEX device_kind_mismatches_minute_idx ON device_kind_mismatches (minute);

-- Down Migration

DROP TABLE device_kind_mismatches;
