-- Up Migration

-- Open consoles: one row per live stream of a signed-in person (a browser tab), written by the
-- helpline instance that holds the stream and refreshed by the console's heartbeats. An operator
-- is there only while one of their consoles was heard from within PRESENCE_TIMEOUT_S; a closed
-- tab or a sign-out deletes its row at once. Rows of an instance that died stop being refreshed,
-- so they stop counting on their own.
CREATE TABLE consoles (
  id text PRIMARY KEY CHECK (id LIKE 'con\_%'),
  user_id text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  -- SHA-256 of the session the stream signed in with (null for a program's token): signing out
  -- ends that session's consoles.
  session_hash text,
  opened_at timestamptz NOT NULL,
  -- The console's last heartbeat; null until the first, so a stream alone proves nobody is there.
  last_seen timestamptz
);
CREATE INDEX consoles_user_seen ON consoles (user_id, last_seen);
CREATE INDEX consoles_session ON consoles (session_hash) WHERE session_hash IS NOT NULL;

-- Down Migration
DROP TABLE consoles;
