-- Up Migration

-- One table shape for tokens in every service (TokenStore in @telecare/platform):
-- (id, token_hash, subject, role, label, created_at, expires_at, revoked_at). A registry token is
-- a program's: a role, no person (subject stays null), no expiry unless one is given.
ALTER TABLE api_tokens RENAME COLUMN name TO label;
ALTER TABLE api_tokens ADD COLUMN subject text, ADD COLUMN expires_at timestamptz;
ALTER TABLE api_tokens ALTER COLUMN role DROP NOT NULL;

-- Down Migration

ALTER TABLE api_tokens ALTER COLUMN role SET NOT NULL;
ALTER TABLE api_tokens DROP COLUMN expires_at, DROP COLUMN subject;
ALTER TABLE api_tokens RENAME COLUMN label TO name;
