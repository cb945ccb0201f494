-- Up Migration

-- A device's login found in use from two places (gateway-mqtt's device.login-contested): the
-- latest, with its counts, kept with the device's health until a new secret is issued.
ALTER TABLE device_health
  ADD COLUMN contested_at timestamptz,
  ADD COLUMN contested_event text,
  ADD COLUMN contested_takeovers integer,
  ADD COLUMN contested_addresses integer;

-- Down Migration

ALTER TABLE device_health
  DROP COLUMN contested_addresses, DROP COLUMN contested_takeovers, DROP COLUMN contested_event,
  DROP COLUMN contested_at;
