-- Up Migration

-- A DC-09 key change keeps the key it replaced for a grace (REGISTRY_DC09_KEY_GRACE_S), published
-- beside the new one so a panel not yet re-keyed on site is still answered. The old key's ciphertext
-- is moved as it was sealed (for this device, as its dc09Key); the grace ends at dc09_prev_key_until.
ALTER TABLE devices
  ADD COLUMN dc09_prev_key_enc text,
  ADD COLUMN dc09_prev_key_encoding text,
  ADD COLUMN dc09_prev_key_until timestamptz,
  ADD COLUMN dc09_key_changed_at timestamptz;

-- When a message of the device last decrypted only with its previous key (the gateway marks its
-- events dc09key: previous): the panel was not re-keyed yet.
ALTER TABLE device_health ADD COLUMN previous_key_at timestamptz;

-- Down Migration

ALTER TABLE device_health DROP COLUMN previous_key_at;
ALTER TABLE devices
  DROP COLUMN dc09_key_changed_at, DROP COLUMN dc09_prev_key_until,
  DROP COLUMN dc09_prev_key_encoding, DROP COLUMN dc09_prev_key_enc;
