-- Up Migration

-- Simulated activity written for a demonstration (`reports seed`): the options it was made from,
-- so a rebuild, which empties the read model, writes the same activity again. Not read model.
CREATE TABLE rp_seeds (
  id text PRIMARY KEY,
  options jsonb NOT NULL,
  seeded_at timestamptz NOT NULL
);

-- Down Migration

DROP TABLE rp_seeds;
