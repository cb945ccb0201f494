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

-- A disabled user cannot sign in, and their sessions and tokens stop working at once.
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

-- Personal tokens get an id (to revoke by), an expiry and a revocation time. Tokens issued
-- before this never expire until revoked.
ALTER TABLE api_tokens
  ADD COLUMN id text,
  ADD COLUMN expires_at timestamptz,
  ADD COLUMN revoked_at timestamptz;
UPDATE api_tokens SET id = 'tkn_' || substr(token_hash, 1, 24) WHERE id IS NULL;
ALTER TABLE api_tokens ALTER COLUMN id SET NOT NULL;
CREATE UNIQUE INDEX api_tokens_id_idx ON api_tokens (id);
CREATE INDEX sessions_user_idx ON sessions (user_id);

-- Down Migration
DROP INDEX sessions_user_idx;
DROP INDEX api_tokens_id_idx;
ALTER TABLE api_tokens DROP COLUMN revoked_at, DROP COLUMN expires_at, DROP COLUMN id;
ALTER TABLE users DROP COLUMN disabled_at;
DROP TABLE security_events;
