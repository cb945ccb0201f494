-- Up Migration

-- A creating POST sent with an Idempotency-Key: the caller (token id), the key, the route and a
-- fingerprint of the body, with the first request's answer. The row is inserted in the same
-- transaction as the work, before it, so a request's work and its key commit or vanish together;
-- a repeat is answered from here (replayed), never run again. Kept 24 h (expires_at).
CREATE TABLE idempotency_keys (
  actor       text        NOT NULL,
  key         text        NOT NULL,
  route       text        NOT NULL,
  fingerprint text        NOT NULL,
  -- null while the first request is at work (only its own transaction sees the row then)
  status      smallint,
  body        jsonb,
  headers     jsonb       NOT NULL DEFAULT '{}',
  created_at  timestamptz NOT NULL,
  expires_at  timestamptz NOT NULL,
  PRIMARY KEY (actor, key)
);

-- The bounded sweep of expired rows, and a caller's count of keys held (the per-token limit).
CREATE INDEX idempotency_keys_expires_at ON idempotency_keys (expires_at);
CREATE INDEX idempotency_keys_actor_expires_at ON idempotency_keys (actor, expires_at);

-- Down Migration

DROP TABLE idempotency_keys;
