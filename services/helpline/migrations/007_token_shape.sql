-- Up Migration

-- One table shape for tokens in every service (TokenStore in @telecare/platform):
-- (id, token_hash, subject, role, label, created_at, expires_at, revoked_at). A helpline token is
-- a person's: it acts as the user in `subject` (role stays null: the user's role applies).
ALTER TABLE api_tokens RENAME COLUMN user_id TO subject;
ALTER TABLE api_tokens ADD COLUMN role text;

-- Down Migration

ALTER TABLE api_tokens DROP COLUMN role;
ALTER TABLE api_tokens RENAME COLUMN subject TO user_id;
