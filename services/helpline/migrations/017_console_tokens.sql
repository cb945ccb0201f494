-- Up Migration

-- SHA-256 of the personal token a program's stream signed in with (null for a console signed in
-- with a session, and for the admin token's, which opens no console). A stream is a console: it
-- must stop when its token is revoked or expires, as a session's stops when the session ends, or
-- a revoked token goes on receiving every case change for as long as its connection lasts.
-- Nullable, so an instance not yet upgraded still opens consoles.
ALTER TABLE consoles ADD COLUMN token_hash text;
CREATE INDEX consoles_token ON consoles (token_hash) WHERE token_hash IS NOT NULL;

-- Down Migration
DROP INDEX consoles_token;
ALTER TABLE consoles DROP COLUMN token_hash;
