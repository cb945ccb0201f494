-- Up Migration

-- When a device joined the home it is in (paired with its resident), published in the device map:
-- a device cannot hold a backlog from before it joined, so the gateway takes an earlier device time
-- for a wrong clock. Set by the database whenever the resident changes, from the row's own
-- updated_at (the registry's clock), so no code path that pairs or moves a device can forget it.
ALTER TABLE devices ADD COLUMN paired_at timestamptz;

CREATE FUNCTION devices_paired_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' OR NEW.resident_id IS DISTINCT FROM OLD.resident_id THEN
    NEW.paired_at := CASE WHEN NEW.resident_id IS NULL THEN NULL ELSE NEW.updated_at END;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER devices_paired_at BEFORE INSERT OR UPDATE OF resident_id ON devices
  FOR EACH ROW EXECUTE FUNCTION devices_paired_at();

-- Devices already in homes: when they joined was not kept. Their row's creation is the latest time
-- known to be no later than it, so it can only make the check more lenient, never refuse a real
-- backlog.
UPDATE devices SET paired_at = created_at WHERE resident_id IS NOT NULL;

-- Down Migration

DROP TRIGGER devices_paired_at ON devices;
DROP FUNCTION devices_paired_at();
ALTER TABLE devices DROP COLUMN paired_at;
