-- Up Migration

-- Hospital stays from a trust's episodes file (resident id, admission and discharge dates only).
-- Imported data, not read from the streams: a rebuild keeps it.
CREATE TABLE rp_hospital_stays (
  id bigserial PRIMARY KEY,
  resident_id text NOT NULL,
  admitted_on date NOT NULL,
  discharged_on date NOT NULL CHECK (discharged_on >= admitted_on),
  import_id text NOT NULL,
  imported_at timestamptz NOT NULL
);
CREATE INDEX rp_hospital_stays_resident_idx ON rp_hospital_stays (resident_id, admitted_on);
