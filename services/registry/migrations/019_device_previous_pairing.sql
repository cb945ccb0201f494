-- Up Migration

-- The device's pairing before the one it is in, published in the device map: a pendant taken back
-- from one home and paired to another sends the backlog it held from the first once it reaches the
-- new hub, and those events are the first resident's (the gateway gives them to that resident at
-- their own times, never to the new one). Set by the same trigger as paired_at, whenever a resident
-- the device had is replaced (by another, or by none when it goes back to stock); a pairing from
-- stock keeps what the device last left, so a spell in stock between two homes loses nothing.
ALTER TABLE devices
  ADD COLUMN previous_resident_id text,
  ADD COLUMN previous_paired_at timestamptz,
  ADD COLUMN previous_pairing_ended_at timestamptz;

CREATE OR REPLACE FUNCTION devices_paired_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.resident_id IS DISTINCT FROM OLD.resident_id THEN
    NEW.paired_at := CASE WHEN NEW.resident_id IS NULL THEN NULL ELSE NEW.updated_at END;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.resident_id IS NOT NULL AND NEW.resident_id IS DISTINCT FROM OLD.resident_id THEN
    NEW.previous_resident_id := OLD.resident_id;
    NEW.previous_paired_at := OLD.paired_at;
    NEW.previous_pairing_ended_at := NEW.updated_at;
  END IF;
  RETURN NEW;
END $$;

-- Devices that moved before this was kept: which home they left was not recorded, so they have
-- none, and a time from before their pairing stays a wrong clock, as it was.

-- Down Migration

CREATE OR REPLACE FUNCTION devices_paired_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.resident_id IS DISTINCT FROM OLD.resident_id THEN
    NEW.paired_at := CASE WHEN NEW.resident_id IS NULL THEN NULL ELSE NEW.updated_at END;
  END IF;
  RETURN NEW;
END $$;

ALTER TABLE devices
  DROP COLUMN previous_resident_id,
  DROP COLUMN previous_paired_at,
  DROP COLUMN previous_pairing_ended_at;
