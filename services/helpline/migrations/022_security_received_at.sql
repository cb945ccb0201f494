-- Up Migration

-- The hourly cap on another service's security events counts them by when the helpline stored
-- them (the database's clock), not by the `at` their publisher wrote: a publisher dating its
-- events an hour apart, or far ahead or behind, is capped all the same. `at` stays as given, for
-- the list. Rows stored before this have no `received_at` and are not counted (at most one hour's
-- allowance more, once). The column takes no value for them, so the table is not rewritten; its
-- indexes, (service, received_at) for a known service's count and (received_at) for every unknown
-- name's together, are built by the service after the migrations (`src/schema-upgrade.ts`), without
-- stopping writes on a large table. The list is read newest stored first (by id): the (service, at)
-- and (at) indexes, which nothing reads any more, go.
ALTER TABLE security_events ADD COLUMN received_at timestamptz;
ALTER TABLE security_events ALTER COLUMN received_at SET DEFAULT now();
DROP INDEX security_events_service_at_idx;
DROP INDEX security_events_at_idx;

-- Down Migration
DROP INDEX IF EXISTS security_events_received;
DROP INDEX IF EXISTS security_events_service_received;
CREATE INDEX security_events_at_idx ON security_events (at DESC);
CREATE INDEX security_events_service_at_idx ON security_events (service, at DESC);
ALTER TABLE security_events DROP COLUMN received_at;
