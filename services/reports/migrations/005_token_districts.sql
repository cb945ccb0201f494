-- Up Migration

-- The postcode districts a report token may see (a council's or trust's own area). A token with no
-- row here sees every district, as every token made before this table did.
CREATE TABLE token_districts (
  token_id text PRIMARY KEY REFERENCES api_tokens (id) ON DELETE CASCADE,
  districts text[] NOT NULL CHECK (cardinality(districts) > 0)
);

-- Down Migration

DROP TABLE token_districts;
