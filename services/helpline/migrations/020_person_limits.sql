-- Up Migration

-- Per-person limits that hold across every instance and a restart (reads of residents outside
-- one's own cases, the queue's names): one row per limit and person, with what was counted in the
-- window as a map of key (a resident, or one request) to the time it was first counted (epoch ms).
-- One row per person makes the count and the insert one statement that is atomic without a lock:
-- INSERT … ON CONFLICT DO UPDATE works on the row's latest version, so two instances counting at
-- once for one person take turns. `refusing` keeps one security event per run of refusals;
-- `outcome` is what the latest attempt was (counted, again, first-refusal, refused).
CREATE TABLE person_limits (
  kind text NOT NULL,
  person_id text NOT NULL,
  hits jsonb NOT NULL,
  refusing boolean NOT NULL,
  outcome text NOT NULL CHECK (outcome IN ('counted', 'again', 'first-refusal', 'refused')),
  last_at timestamptz NOT NULL,
  PRIMARY KEY (kind, person_id)
);
-- Rows of people who stopped trying a window ago are swept.
CREATE INDEX person_limits_last_idx ON person_limits (kind, last_at);

-- Down Migration
DROP TABLE person_limits;
