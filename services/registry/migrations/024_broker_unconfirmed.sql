-- Up Migration

-- Since when the broker may hold a secret for the device other than the one this row holds: a
-- re-issue the broker did not confirm, whose putting back failed too (the broker went away), or
-- which had no sealed copy of the previous secret to put back. The device may be refused until
-- the registry pushes the row's secret to the broker again (at start-up and on a periodic pass) or
-- a new secret is issued; null when the broker is in step.
ALTER TABLE devices ADD COLUMN broker_unconfirmed_since timestamptz;
CREATE INDEX devices_broker_unconfirmed_idx ON devices (broker_unconfirmed_since)
  WHERE broker_unconfirmed_since IS NOT NULL;

-- Each repair of such a device: the secret the row holds given back to the broker (or, for a
-- device that should have no broker client, the client removed), and since when it was awaited.
CREATE TABLE broker_repairs (
  id bigserial PRIMARY KEY,
  serial text NOT NULL REFERENCES devices (serial) ON DELETE CASCADE,
  unconfirmed_since timestamptz NOT NULL,
  repaired_at timestamptz NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('secret-restored', 'client-removed'))
);
CREATE INDEX broker_repairs_serial_idx ON broker_repairs (serial, repaired_at);

-- Down Migration

DROP TABLE broker_repairs;
ALTER TABLE devices DROP COLUMN broker_unconfirmed_since;
