-- Up Migration

-- People who have telecare at home. The postcode is stored normalised (upper case, one space),
-- so the district is derived by the database and can never disagree with it.
CREATE TABLE residents (
  id text PRIMARY KEY CHECK (id ~ '^res_[0-9a-z]{8,64}$'),
  name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
  address text NOT NULL CHECK (length(address) BETWEEN 1 AND 500),
  postcode text NOT NULL CHECK (postcode ~ '^[A-Z][A-Z0-9]{1,3} [0-9][A-Z]{2}$'),
  postcode_district text GENERATED ALWAYS AS (split_part(postcode, ' ', 1)) STORED,
  phone text,
  lives_alone boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL
);

CREATE INDEX residents_postcode_district_idx ON residents (postcode_district);

-- Devices in stock or in a home. `kind` and `state` are checked against the contracts package at
-- the API boundary rather than here, so a new kind in the taxonomy does not need a migration.
CREATE TABLE devices (
  id text PRIMARY KEY CHECK (id ~ '^dev_[0-9a-z]{8,64}$'),
  serial text NOT NULL UNIQUE CHECK (serial ~ '^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$'),
  -- RESTRICT: a resident with devices is never removed from under the device map.
  resident_id text REFERENCES residents (id) ON DELETE RESTRICT,
  kind text NOT NULL,
  model text CHECK (length(model) <= 100),
  protocol text NOT NULL DEFAULT 'mqtt' CHECK (protocol IN ('mqtt', 'dc09')),
  location text CHECK (length(location) <= 64),
  supervision_interval_s integer CHECK (supervision_interval_s > 0),
  state text NOT NULL,
  test_mode boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  CHECK (resident_id IS NOT NULL OR state IN ('stock', 'faulty', 'decommissioned'))
);

CREATE INDEX devices_resident_id_idx ON devices (resident_id);

-- Down Migration

DROP TABLE devices;
DROP TABLE residents;
