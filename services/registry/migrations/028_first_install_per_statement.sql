-- Up Migration

-- A device written installed with a resident records the resident's first install (migration 007).
-- For inserted rows that is now done once a statement, for every row the statement wrote: an import
-- writes its devices thousands to a statement, and the row trigger planned and ran an UPDATE of the
-- resident for each device (a home's four devices, four new versions of the resident's row). A
-- first install already recorded is now left as it is without writing the resident's row again, as
-- `coalesce` left its value. A change of state or resident keeps the row trigger (a trigger on named
-- columns cannot see its statement's rows).
CREATE OR REPLACE FUNCTION residents_first_installed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(
    'UPDATE %I.residents SET first_installed_at = $1 WHERE id = $2 AND first_installed_at IS NULL',
    TG_TABLE_SCHEMA
  ) USING NEW.updated_at, NEW.resident_id;
  RETURN NULL;
END $$;

CREATE FUNCTION residents_first_installed_by_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format(
    'UPDATE %I.residents r SET first_installed_at = i.at
       FROM (SELECT resident_id, min(updated_at) AS at FROM inserted
              WHERE state = ''installed'' AND resident_id IS NOT NULL GROUP BY resident_id) i
      WHERE r.id = i.resident_id AND r.first_installed_at IS NULL',
    TG_TABLE_SCHEMA
  );
  RETURN NULL;
END $$;

DROP TRIGGER devices_first_installed ON devices;
CREATE TRIGGER devices_first_installed AFTER UPDATE OF state, resident_id ON devices
  FOR EACH ROW WHEN (NEW.state = 'installed' AND NEW.resident_id IS NOT NULL)
  EXECUTE FUNCTION residents_first_installed();
CREATE TRIGGER devices_first_installed_by_insert AFTER INSERT ON devices
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT EXECUTE FUNCTION residents_first_installed_by_insert();

-- Down Migration

DROP TRIGGER devices_first_installed_by_insert ON devices;
DROP FUNCTION residents_first_installed_by_insert();
DROP TRIGGER devices_first_installed ON devices;
CREATE OR REPLACE FUNCTION residents_first_installed() RETURNS trigger LANGUAGE plpgsql AS $$
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
