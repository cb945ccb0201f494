-- Up Migration

-- When telecare started for a resident, for the commissioners' before/after figures: the first
-- time any device was installed in their home. Set by the database whenever a device becomes
-- installed for a resident and never moved afterwards, so no code path can forget it.
ALTER TABLE residents ADD COLUMN first_installed_at timestamptz;

CREATE FUNCTION residents_first_installed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(
    'UPDATE %I.residents SET first_installed_at = coalesce(first_installed_at, $1) WHERE id = $2',
    TG_TABLE_SCHEMA
  ) USING NEW.updated_at, NEW.resident_id;
  RETURN NULL;
END $$;

CREATE TRIGGER devices_first_installed AFTER INSERT OR UPDATE OF state, resident_id ON devices
  FOR EACH ROW WHEN (NEW.state = 'installed' AND NEW.resident_id IS NOT NULL)
  EXECUTE FUNCTION residents_first_installed();

-- Devices in homes before this migration: the earliest one still there is the best record kept.
UPDATE residents r SET first_installed_at = d.first
  FROM (SELECT resident_id, min(created_at) AS first FROM devices
         WHERE resident_id IS NOT NULL GROUP BY resident_id) d
 WHERE d.resident_id = r.id;

-- Down Migration

DROP TRIGGER devices_first_installed ON devices;
DROP FUNCTION residents_first_installed();
ALTER TABLE residents DROP COLUMN first_installed_at;
