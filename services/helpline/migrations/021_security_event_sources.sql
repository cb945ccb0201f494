-- Up Migration

-- Every service's security events in the supervisor's list: the gateways' come from the SECURITY
-- stream, each under the id its gateway gave it (`ref`, the message's Nats-Msg-Id), so two
-- instances reading the stream, or one reading a message again, store it once. The helpline's own
-- have no ref. `service` says who raised it; the index bounds the per-service hourly cap's count.
ALTER TABLE security_events
  ADD COLUMN service text NOT NULL DEFAULT 'helpline' CHECK (service ~ '^[a-z][a-z0-9-]{0,63}$'),
  ADD COLUMN ref text;
CREATE UNIQUE INDEX security_events_ref_idx ON security_events (ref);
CREATE INDEX security_events_service_at_idx ON security_events (service, at DESC);
-- Kinds may hold digits (`dc09-frame-forged`).
ALTER TABLE security_events DROP CONSTRAINT security_events_kind_check;
ALTER TABLE security_events ADD CONSTRAINT security_events_kind_check CHECK (kind ~ '^[a-z][a-z0-9-]{1,63}$');

-- Down Migration
DELETE FROM security_events WHERE kind !~ '^[a-z][a-z-]{1,63}$';
ALTER TABLE security_events DROP CONSTRAINT security_events_kind_check;
ALTER TABLE security_events ADD CONSTRAINT security_events_kind_check CHECK (kind ~ '^[a-z][a-z-]{1,63}$');
DROP INDEX security_events_service_at_idx;
DROP INDEX security_events_ref_idx;
ALTER TABLE security_events DROP COLUMN ref, DROP COLUMN service;
