-- Up Migration

-- When the device entered stock before the pairing it is in (or, in stock, the spell it is in),
-- published in the device map: a report the device buffered in the stock cupboard before its first
-- pairing is nobody's, not a wrong clock of the new home's. Registered into stock: its registration;
-- taken back from a home: when it left (the previous pairing's end). Set by the database whenever
-- the resident changes, beside paired_at, so no code path that registers, pairs or moves a device
-- can forget it; a pairing from stock keeps it, a move straight from one home to another clears it
-- (no spell in stock), and so does a registration with a resident.
ALTER TABLE devices ADD COLUMN stocked_at timestamptz;

CREATE FUNCTION devices_stocked_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.stocked_at := CASE WHEN NEW.resident_id IS NULL THEN NEW.updated_at ELSE NULL END;
  ELSIF OLD.resident_id IS NOT NULL AND NEW.resident_id IS NULL THEN
    NEW.stocked_at := NEW.updated_at;
  ELSIF OLD.resident_id IS NOT NULL AND NEW.resident_id IS DISTINCT FROM OLD.resident_id THEN
    NEW.stocked_at := NULL;
  END IF;
  RETURN NEW;
END $$;

CREATE TRIGGER devices_stocked_at BEFORE INSERT OR UPDATE OF resident_id ON devices
  FOR EACH ROW EXECUTE FUNCTION devices_stocked_at();

-- Devices already registered. Taken back from a home since the previous pairing was kept (019):
-- they entered stock when it ended (in stock now, or paired from stock since; a move straight to
-- another home ended it when the new pairing began, and left no spell in stock).
UPDATE devices SET stocked_at = previous_pairing_ended_at
 WHERE previous_pairing_ended_at IS NOT NULL
   AND (resident_id IS NULL OR previous_pairing_ended_at < paired_at);

-- With no previous pairing: only a device registered since 019 has had every change of resident
-- recorded, so none means it never had a home before the one it is in. In stock now, or paired
-- after its registration (a registration with a resident pairs it then), it was registered into
-- stock. Older devices may have left a home that was not recorded: when they entered stock is not
-- known, and they stay as they were (a time before their pairing a wrong clock).
UPDATE devices SET stocked_at = created_at
 WHERE previous_pairing_ended_at IS NULL
   AND (resident_id IS NULL OR paired_at > created_at)
   AND created_at >= (SELECT run_on FROM pgmigrations WHERE name = '019_device_previous_pairing');

-- Down Migration

DROP TRIGGER devices_stocked_at ON devices;
DROP FUNCTION devices_stocked_at();
ALTER TABLE devices DROP COLUMN stocked_at;
