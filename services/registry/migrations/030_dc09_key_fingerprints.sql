-- Up Migration

-- A keyed fingerprint (HMAC-SHA256 under a key derived from the data key, hex) of each DC-09 key a
-- device holds, current and previous, of the key's bytes as the gateway uses them: one key given to
-- a second device is found without opening every row (REGISTRY_DC09_SHARED_KEY). Rows written
-- before this are filled by the registry at start-up; until then a key check opens them.
ALTER TABLE devices
  ADD COLUMN dc09_key_fp text,
  ADD COLUMN dc09_prev_key_fp text;

CREATE INDEX devices_dc09_key_fp ON devices (dc09_key_fp) WHERE dc09_key_fp IS NOT NULL;
CREATE INDEX devices_dc09_prev_key_fp ON devices (dc09_prev_key_fp) WHERE dc09_prev_key_fp IS NOT NULL;
-- The rows not filled yet, which a key check opens: empty once the start-up has filled them.
CREATE INDEX devices_dc09_key_unfilled ON devices (id)
  WHERE dc09_key_enc IS NOT NULL AND dc09_key_fp IS NULL;
CREATE INDEX devices_dc09_prev_key_unfilled ON devices (id)
  WHERE dc09_prev_key_enc IS NOT NULL AND dc09_prev_key_fp IS NULL;

-- Down Migration

DROP INDEX devices_dc09_prev_key_unfilled;
DROP INDEX devices_dc09_key_unfilled;
DROP INDEX devices_dc09_prev_key_fp;
DROP INDEX devices_dc09_key_fp;
ALTER TABLE devices DROP COLUMN dc09_prev_key_fp, DROP COLUMN dc09_key_fp;
