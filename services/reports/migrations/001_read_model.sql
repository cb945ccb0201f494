-- Up Migration

-- The commissioners' read model, built only from the CASES, ALERTS and EVENTS streams and
-- rebuildable from them (`reports rebuild` empties these tables and replays from the start).
-- Ids, kinds, places (postcode district) and times only: no names, addresses, phone numbers or
-- free text are ever stored here.

-- A resident as the events show them: their district and when their first event was seen.
CREATE TABLE rp_residents (
  resident_id text PRIMARY KEY,
  district text,
  first_seen_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

-- One row per device per day it sent anything (a heartbeat is enough): "active" for any period.
CREATE TABLE rp_device_days (
  serial text NOT NULL,
  day date NOT NULL,
  resident_id text NOT NULL,
  device_kind text NOT NULL,
  district text,
  PRIMARY KEY (serial, day)
);
CREATE INDEX rp_device_days_day_idx ON rp_device_days (day);

-- Technical device events (faults), by event id.
CREATE TABLE rp_device_faults (
  event_id text PRIMARY KEY,
  serial text NOT NULL,
  resident_id text NOT NULL,
  type text NOT NULL,
  district text,
  at timestamptz NOT NULL
);
CREATE INDEX rp_device_faults_at_idx ON rp_device_faults (at);

CREATE TABLE rp_alerts (
  alert_id text PRIMARY KEY,
  resident_id text NOT NULL,
  priority smallint NOT NULL,
  type text NOT NULL,
  raised_at timestamptz NOT NULL,
  late boolean NOT NULL,
  test_mode boolean NOT NULL,
  record_only boolean NOT NULL
);
CREATE INDEX rp_alerts_raised_idx ON rp_alerts (raised_at);

-- A case as its CASES steps describe it. The resident comes from the alert that opened it.
CREATE TABLE rp_cases (
  case_id text PRIMARY KEY,
  alert_id text,
  priority smallint,
  type text,
  opened_at timestamptz,
  accepted_at timestamptz,
  responder_called_at timestamptz,
  resolved_at timestamptz,
  closed_at timestamptz,
  outcome text,
  test_mode boolean NOT NULL DEFAULT false,
  record_only boolean NOT NULL DEFAULT false
);
CREATE INDEX rp_cases_opened_idx ON rp_cases (opened_at);

-- Every CASES step applied, by its id: a redelivered step changes nothing.
CREATE TABLE rp_case_steps (
  step_id text PRIMARY KEY,
  case_id text NOT NULL,
  kind text NOT NULL,
  at timestamptz NOT NULL
);

-- The facts an operator recorded on a case (`fact-recorded` steps carrying a CaseFact).
CREATE TABLE rp_case_facts (
  step_id text PRIMARY KEY,
  case_id text NOT NULL,
  fact text NOT NULL,
  at timestamptz NOT NULL,
  on_floor_minutes integer,
  source text
);
CREATE INDEX rp_case_facts_case_idx ON rp_case_facts (case_id);

-- Who may read the reports besides the admin token: only the SHA-256 of each token is kept.
-- Not part of the read model: a rebuild keeps it.
CREATE TABLE rp_tokens (
  id text PRIMARY KEY,
  token_sha256 text NOT NULL UNIQUE,
  role text NOT NULL CHECK (role IN ('commissioner', 'analyst')),
  recipient text NOT NULL CHECK (recipient ~ '^[A-Za-z0-9_.-]{1,64}$'),
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);
