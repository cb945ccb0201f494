-- Up Migration

-- The issued MQTT secret, AES-256-GCM sealed under REGISTRY_DATA_KEY (null without a key). The
-- broker keeps only its own hash and cannot be asked for a password, so this is what lets the
-- registry re-create a device's broker client that was lost or deleted, with the secret already in
-- the device, instead of sending an installer back to the home.
ALTER TABLE devices ADD COLUMN credential_enc text;

-- Vendor code remapping per DC-09 account (`{"CID 120": "fall.detected"}`), published with the
-- account for the DC-09 gateway.
ALTER TABLE devices ADD COLUMN dc09_code_overrides jsonb NOT NULL DEFAULT '{}'::jsonb;

-- Down Migration

ALTER TABLE devices DROP COLUMN dc09_code_overrides;
ALTER TABLE devices DROP COLUMN credential_enc;
