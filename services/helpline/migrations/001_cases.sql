-- Up Migration

-- One row per case: its current state. The history lives in case_events.
CREATE TABLE cases (
  id text PRIMARY KEY CHECK (id LIKE 'case\_%'),
  resident_id text NOT NULL,
  priority smallint NOT NULL CHECK (priority BETWEEN 1 AND 5),
  type text NOT NULL,
  state text NOT NULL CHECK (state IN ('queued', 'offered', 'accepted', 'on_hold', 'resolved', 'closed')),
  raised_at timestamptz NOT NULL,
  -- The raisedAt of the newest alert in the case: the join window slides from it.
  last_alert_at timestamptz NOT NULL,
  accepted_at timestamptz,
  resolved_at timestamptz,
  outcome text,
  outcome_reason text,
  hold_until timestamptz,
  hold_reason text,
  hold_return_priority smallint CHECK (hold_return_priority BETWEEN 1 AND 5),
  -- Alerts from devices in test mode are recorded (proof the device reached us) but never queued.
  test_mode boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CHECK (state <> 'resolved' OR (outcome IS NOT NULL AND outcome_reason IS NOT NULL))
);

-- The live queue: priority, then wait.
CREATE INDEX cases_queue ON cases (priority, raised_at) WHERE state NOT IN ('resolved', 'closed');
-- Finding the resident's open case when an alert arrives.
CREATE INDEX cases_resident_open ON cases (resident_id, last_alert_at DESC) WHERE state NOT IN ('resolved', 'closed');

-- The alert id is the idempotency key: a redelivered alert finds its row and changes nothing.
CREATE TABLE case_alerts (
  alert_id text PRIMARY KEY,
  case_id text NOT NULL REFERENCES cases (id),
  alert jsonb NOT NULL,
  received_at timestamptz NOT NULL
);
CREATE INDEX case_alerts_case ON case_alerts (case_id, received_at);

-- The audit trail. seq gives a total order for publishing and reading.
CREATE TABLE case_events (
  seq bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
  id text PRIMARY KEY CHECK (id LIKE 'cev\_%'),
  case_id text NOT NULL REFERENCES cases (id),
  at timestamptz NOT NULL,
  actor text NOT NULL,
  kind text NOT NULL,
  data jsonb NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX case_events_case ON case_events (case_id, seq);

CREATE FUNCTION case_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'case_events is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
END
$$;
CREATE TRIGGER case_events_no_change BEFORE UPDATE OR DELETE ON case_events
  FOR EACH ROW EXECUTE FUNCTION case_events_append_only();
CREATE TRIGGER case_events_no_truncate BEFORE TRUNCATE ON case_events
  FOR EACH STATEMENT EXECUTE FUNCTION case_events_append_only();

-- Case events committed but not yet confirmed stored in CASES. Written in the same transaction
-- as the event, deleted once JetStream has it, so a crash between commit and publish loses nothing.
CREATE TABLE case_outbox (
  event_id text PRIMARY KEY REFERENCES case_events (id)
);

-- Down Migration
DROP TABLE case_outbox;
DROP TABLE case_events;
DROP FUNCTION case_events_append_only();
DROP TABLE case_alerts;
DROP TABLE cases;
