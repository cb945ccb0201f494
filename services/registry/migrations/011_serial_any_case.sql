-- Up Migration

-- A serial is one device in any letter case: "pnd-0001" typed for a registered "PND-0001" is the
-- same device, not a second one that never reports (and so raises supervision alarms). Where a
-- registry already holds serials that differ only in case, the index is not made (a warning says
-- so) and the registry's own check still refuses new ones.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM devices GROUP BY lower(serial) HAVING count(*) > 1) THEN
    RAISE WARNING 'devices: serials that differ only in letter case exist; devices_serial_any_case_key not made';
  ELSE
    CREATE UNIQUE INDEX devices_serial_any_case_key ON devices (lower(serial));
  END IF;
END
$$;

-- Down Migration

DROP INDEX IF EXISTS devices_serial_any_case_key;
