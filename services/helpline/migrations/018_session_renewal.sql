-- Up Migration

-- A session is renewed while it is used (each request and console heartbeat moves expires_at on,
-- SESSION_TTL_S ahead), never past ends_at, SESSION_MAX_S after signed_in_at. Sessions made
-- before this (or by an instance not yet upgraded) have neither: they end at their expires_at, as
-- they were issued. Nullable, so an instance of the previous version still signs people in.
ALTER TABLE sessions ADD COLUMN signed_in_at timestamptz, ADD COLUMN ends_at timestamptz;

-- Down Migration
ALTER TABLE sessions DROP COLUMN ends_at, DROP COLUMN signed_in_at;
