-- Up Migration

-- Reveals per calling token and named person, and per token, counted so that they hold across
-- every instance and a restart: one row per limit and person (here a token, or a token and the
-- person it names), with what was counted in the window as a map of key (one reveal) to the time
-- it was counted (epoch ms). One row per person makes the count and the insert one statement that
-- is atomic without a lock: INSERT … ON CONFLICT DO UPDATE works on the row's latest version, so
-- two instances counting at once for one person take turns. `refusing` keeps one security event
-- per run of refusals; `outcome` is what the latest attempt was (counted, again, first-refusal,
-- refused). The same table as the helpline's (`@telecare/platform` `PersonLimit` counts in both).
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
