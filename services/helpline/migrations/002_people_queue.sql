-- Up Migration

-- People who use the helpline. Passwords are scrypt hashes (salt and parameters in the string).
CREATE TABLE users (
  id text PRIMARY KEY CHECK (id LIKE 'usr\_%'),
  username text NOT NULL UNIQUE CHECK (username ~ '^[a-z0-9._-]{2,64}$'),
  display_name text NOT NULL,
  role text NOT NULL CHECK (role IN ('operator', 'supervisor', 'installer', 'commissioner', 'admin')),
  password_hash text NOT NULL,
  created_at timestamptz NOT NULL
);

-- Bearer tokens for programs, stored as SHA-256 of the token: a database read never yields one.
CREATE TABLE api_tokens (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id),
  label text NOT NULL,
  created_at timestamptz NOT NULL
);

-- Console sessions (cookie), also stored hashed.
CREATE TABLE sessions (
  token_hash text PRIMARY KEY,
  user_id text NOT NULL REFERENCES users (id),
  expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Operator presence: only an available operator is offered the next case.
CREATE TABLE presence (
  user_id text PRIMARY KEY REFERENCES users (id),
  status text NOT NULL CHECK (status IN ('available', 'busy', 'away')),
  since timestamptz NOT NULL
);

-- Who a case is offered to / worked by, and the escalation step reached. Every timer of the
-- helpline is derived from these columns (offer_expires_at, hold_until, raised_at +
-- escalation_step), so a restart resumes them from PostgreSQL.
ALTER TABLE cases
  ADD COLUMN offered_to text REFERENCES users (id),
  ADD COLUMN offer_expires_at timestamptz,
  ADD COLUMN last_offered_to text,
  ADD COLUMN assigned_to text,
  ADD COLUMN escalation_step smallint NOT NULL DEFAULT 0;
CREATE INDEX cases_offer_due ON cases (offer_expires_at) WHERE state = 'offered';
CREATE INDEX cases_hold_due ON cases (hold_until) WHERE state = 'on_hold';

-- A client retrying a request (lost connection, double click) sends the same key; the second
-- attempt finds the first event instead of writing another.
ALTER TABLE case_events ADD COLUMN request_key text;
CREATE UNIQUE INDEX case_events_request_key ON case_events (case_id, request_key) WHERE request_key IS NOT NULL;

-- Down Migration
DROP INDEX case_events_request_key;
ALTER TABLE case_events DROP COLUMN request_key;
DROP INDEX cases_hold_due;
DROP INDEX cases_offer_due;
ALTER TABLE cases DROP COLUMN escalation_step, DROP COLUMN assigned_to, DROP COLUMN last_offered_to,
  DROP COLUMN offer_expires_at, DROP COLUMN offered_to;
DROP TABLE presence;
DROP TABLE sessions;
DROP TABLE api_tokens;
DROP TABLE users;
