-- Up Migration

-- Care context. Key-safe information and the medical summary are sensitive: they are stored only
-- as AES-256-GCM ciphertext (see crypto.ts) and every reveal is recorded in sensitive_reads.
ALTER TABLE residents
  ADD COLUMN mobility_notes text CHECK (length(mobility_notes) <= 2000),
  ADD COLUMN risk_notes text CHECK (length(risk_notes) <= 2000),
  ADD COLUMN key_safe_enc text,
  ADD COLUMN medical_summary_enc text,
  ADD COLUMN consent_given boolean NOT NULL DEFAULT false,
  ADD COLUMN consent_at timestamptz;

-- The people who go to the home, called in this order.
CREATE TABLE responders (
  id text PRIMARY KEY CHECK (id ~ '^rsp_[0-9a-z]{8,64}$'),
  resident_id text NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  relationship text NOT NULL CHECK (length(relationship) BETWEEN 1 AND 100),
  phone text NOT NULL,
  position integer NOT NULL CHECK (position >= 1),
  created_at timestamptz NOT NULL,
  -- Deferred so that a re-ordering can swap positions within one transaction.
  UNIQUE (resident_id, position) DEFERRABLE INITIALLY DEFERRED
);

-- Hours of care at home, for the commissioners' reports.
CREATE TABLE care_packages (
  id text PRIMARY KEY,
  resident_id text NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
  hours_per_week numeric(6, 2) NOT NULL CHECK (hours_per_week >= 0 AND hours_per_week <= 168),
  start_date date NOT NULL,
  end_date date CHECK (end_date IS NULL OR end_date >= start_date),
  created_at timestamptz NOT NULL
);
CREATE INDEX care_packages_resident_id_idx ON care_packages (resident_id);

-- DC-09 reporting and MQTT credentials. The DC-09 key is ciphertext like the other secrets; the
-- MQTT secret is only ever stored as a scrypt hash (the broker holds its own).
ALTER TABLE devices
  ADD COLUMN dc09_account text UNIQUE CHECK (dc09_account ~ '^[0-9A-F]{3,16}$'),
  ADD COLUMN dc09_key_enc text,
  ADD COLUMN dc09_key_encoding text NOT NULL DEFAULT 'hex' CHECK (dc09_key_encoding IN ('hex', 'ascii')),
  ADD COLUMN credential_hash text,
  ADD COLUMN credential_issued_at timestamptz,
  ADD COLUMN decommissioned_at timestamptz;

-- Who read which sensitive field, when, and why.
CREATE TABLE sensitive_reads (
  id bigserial PRIMARY KEY,
  resident_id text NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
  field text NOT NULL,
  actor text NOT NULL,
  reason text,
  at timestamptz NOT NULL
);
CREATE INDEX sensitive_reads_resident_id_idx ON sensitive_reads (resident_id, at);

-- API tokens for people and programs; only a SHA-256 of the token is kept.
CREATE TABLE api_tokens (
  id text PRIMARY KEY CHECK (id ~ '^tok_[0-9a-z]{8,64}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
  role text NOT NULL,
  token_hash text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL,
  revoked_at timestamptz
);

-- Test calls: a device in test mode until an event from it arrives or the deadline passes. The
-- deadline is stored so a restarted registry still ends test mode on time.
CREATE TABLE test_calls (
  id text PRIMARY KEY,
  serial text NOT NULL REFERENCES devices (serial) ON DELETE CASCADE,
  status text NOT NULL CHECK (status IN ('waiting', 'passed', 'failed', 'cancelled')),
  started_at timestamptz NOT NULL,
  deadline timestamptz NOT NULL,
  finished_at timestamptz,
  reason text,
  event_id text,
  event_type text,
  latency_ms integer,
  battery_percent real,
  signal_dbm real,
  started_by text NOT NULL
);
CREATE UNIQUE INDEX test_calls_one_waiting_idx ON test_calls (serial) WHERE status = 'waiting';
CREATE INDEX test_calls_serial_idx ON test_calls (serial, started_at DESC);

-- What the devices last said, from the registry's own consumer of EVENTS.
CREATE TABLE device_health (
  serial text PRIMARY KEY,
  last_event_at timestamptz,
  last_event_type text,
  last_heartbeat_at timestamptz,
  battery_percent real,
  battery_at timestamptz,
  mains boolean,
  mains_at timestamptz,
  signal_dbm real,
  signal_at timestamptz,
  last_pendant_at timestamptz
);

-- Down Migration

DROP TABLE device_health;
DROP TABLE test_calls;
DROP TABLE api_tokens;
DROP TABLE sensitive_reads;
ALTER TABLE devices
  DROP COLUMN dc09_account, DROP COLUMN dc09_key_enc, DROP COLUMN dc09_key_encoding,
  DROP COLUMN credential_hash, DROP COLUMN credential_issued_at, DROP COLUMN decommissioned_at;
DROP TABLE care_packages;
DROP TABLE responders;
ALTER TABLE residents
  DROP COLUMN mobility_notes, DROP COLUMN risk_notes, DROP COLUMN key_safe_enc,
  DROP COLUMN medical_summary_enc, DROP COLUMN consent_given, DROP COLUMN consent_at;
