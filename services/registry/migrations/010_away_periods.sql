-- Up Migration

-- A resident's declared time away (holiday, hospital, respite): from a moment until another, or
-- open-ended until someone ends it. Published to triage (KV bucket resident-away), whose
-- absence-type rules raise nothing while it holds and no return home has been seen.
CREATE TABLE away_periods (
  id text PRIMARY KEY,
  resident_id text NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
  starts_at timestamptz NOT NULL,
  ends_at timestamptz CHECK (ends_at IS NULL OR ends_at > starts_at),
  reason text NOT NULL CHECK (reason IN ('holiday', 'hospital', 'respite', 'other')),
  note text,
  set_by text NOT NULL,
  set_at timestamptz NOT NULL,
  ended_by text,
  ended_at timestamptz
);
CREATE INDEX away_periods_resident_id_idx ON away_periods (resident_id, starts_at);

-- Down Migration

DROP TABLE away_periods;
