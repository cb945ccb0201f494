-- Up Migration
-- What a supervisor must see about misuse: reveals refused by the case check or by the rate
-- limit. Ids only; the reveal itself is in the case's events and the registry's audit.
CREATE TABLE security_events (
  id bigserial PRIMARY KEY,
  at timestamptz NOT NULL,
  kind text NOT NULL CHECK (kind ~ '^[a-z][a-z-]{1,63}$'),
  user_id text,
  case_id text,
  detail jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX security_events_at_idx ON security_events (at DESC);

-- Down Migration
DROP TABLE security_events;
