-- Up Migration

-- Stream tickets: EventSource sets no headers, so a client signed in with a token opens the live
-- stream with a ticket in its URL instead of the token. A ticket opens one stream, once, within
-- seconds; it is kept as its SHA-256 with what asked for it (a personal token's or the admin
-- token's hash, or a session's), and is refused once that is revoked, expired or signed out.
CREATE TABLE stream_tickets (
  ticket_hash text PRIMARY KEY,
  user_id text NOT NULL,
  token_hash text,
  session_hash text,
  expires_at timestamptz NOT NULL,
  CHECK ((token_hash IS NULL) <> (session_hash IS NULL))
);
CREATE INDEX stream_tickets_expires_idx ON stream_tickets (expires_at);

-- Down Migration
DROP TABLE stream_tickets;
