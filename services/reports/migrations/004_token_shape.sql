-- Up Migration

-- One table shape for tokens in every service (TokenStore in @telecare/platform):
-- (id, token_hash, subject, role, label, created_at, expires_at, revoked_at). A report token is a
-- program's or a recipient's: a role and the recipient as its label, no person.
ALTER TABLE rp_tokens RENAME TO api_tokens;
ALTER TABLE api_tokens RENAME COLUMN token_sha256 TO token_hash;
ALTER TABLE api_tokens RENAME COLUMN recipient TO label;
ALTER TABLE api_tokens ADD COLUMN subject text, ADD COLUMN expires_at timestamptz;

-- Down Migration

ALTER TABLE api_tokens DROP COLUMN expires_at, DROP COLUMN subject;
ALTER TABLE api_tokens RENAME COLUMN label TO recipient;
ALTER TABLE api_tokens RENAME COLUMN token_hash TO token_sha256;
ALTER TABLE api_tokens RENAME TO rp_tokens;
