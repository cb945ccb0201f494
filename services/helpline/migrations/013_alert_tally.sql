-- Up Migration

-- A join cost as much as the case was large: every change read back and parsed every alert of its
-- case, to count them, to count the presses and to cut the window of them the live stream sends.
-- One resident's storm (a stuck sensor, a device whose credentials an attacker holds) then slowed
-- the intake everyone's alarms share. Each alert now has its place in its case, and the case row
-- keeps what its alerts come to (the core's `AlertTally`), so a join, a repeat or a note reads and
-- writes the same whatever the case holds; the window and the pages are read by place.

-- A rolling upgrade runs this while instances of the previous version store alerts and serve
-- consoles, and PostgreSQL locks a table for a whole migration once its ALTER TABLE has it. Their
-- statements reach these two tables in either order (the intake looks its alert up in case_alerts,
-- then locks the case; a console's read of cases takes their alerts in the same statement), so any
-- order of taking them here could close a cycle with one of them (a deadlock: PostgreSQL aborts the
-- upgrade or an alert's store). Both are taken together, or neither: a try that waits longer than
-- a moment (lock_timeout) gives back what it took and tries again, so whatever waits behind it
-- waits only that moment, and its own wait ends before PostgreSQL looks for a deadlock (after
-- deadlock_timeout, 1 s by default).
DO $$
DECLARE
  was text := current_setting('lock_timeout');
  give_up timestamptz := clock_timestamp() + interval '5 minutes';
BEGIN
  PERFORM set_config('lock_timeout', '100ms', true);
  LOOP
    BEGIN
      LOCK TABLE cases, case_alerts IN ACCESS EXCLUSIVE MODE;
      EXIT;
    EXCEPTION WHEN lock_not_available OR deadlock_detected THEN
      IF clock_timestamp() > give_up THEN
        RAISE EXCEPTION 'cases and case_alerts stayed busy for 5 minutes';
      END IF;
      PERFORM pg_sleep(0.05 + random() * 0.1);
    END;
  END LOOP;
  PERFORM set_config('lock_timeout', was, true);
END
$$;

ALTER TABLE case_alerts
  -- 0 for the alert that opened the case, then 1, 2, ... in the order they came.
  ADD COLUMN position integer,
  ADD COLUMN priority smallint,
  -- The press the alert reports (its first evidence id), for a press that closes nothing; else null.
  ADD COLUMN press_key text;

ALTER TABLE cases
  -- Null while the case's alerts stored before this migration are not yet counted (see below).
  ADD COLUMN alert_count integer,
  -- Presses counted once each (a press can reach a case twice), the latest's raise and its place.
  ADD COLUMN presses integer NOT NULL DEFAULT 0,
  ADD COLUMN last_press_at timestamptz,
  ADD COLUMN last_press_position integer,
  -- The devices the case's alerts came from, in the order they first appeared.
  ADD COLUMN device_serials text[] NOT NULL DEFAULT '{}';
-- A case opened from now on is counted from its first alert.
ALTER TABLE cases ALTER COLUMN alert_count SET DEFAULT 0;

-- Every alert stored takes its place and is counted here, whoever stores it: an instance not yet
-- upgraded (which knows nothing of these columns) keeps the counts right too. The statement that
-- inserts the alert holds its case's row lock (the ingest locked the case, or created it), so two
-- alerts never take one place. The press types are the contracts' PRESS_TYPES.
CREATE FUNCTION case_alerts_tally() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
DECLARE
  serial text := NEW.alert ->> 'deviceSerial';
  counted boolean := false;
BEGIN
  NEW.priority := (NEW.alert ->> 'priority')::smallint;
  IF NOT (NEW.alert ? 'closes')
     AND NEW.alert ->> 'type' IN ('pendant.pressed', 'pullcord.pulled', 'bogus-caller.pressed') THEN
    NEW.press_key := coalesce(NEW.alert -> 'evidence' ->> 0, NEW.alert_id);
    counted := EXISTS (SELECT 1 FROM case_alerts a WHERE a.case_id = NEW.case_id AND a.press_key = NEW.press_key);
  ELSE
    NEW.press_key := NULL;
  END IF;
  UPDATE cases c SET
      alert_count = c.alert_count + 1,
      presses = c.presses + CASE WHEN NEW.press_key IS NOT NULL AND NOT counted THEN 1 ELSE 0 END,
      last_press_at = CASE WHEN NEW.press_key IS NULL THEN c.last_press_at
        ELSE greatest(c.last_press_at, (NEW.alert ->> 'raisedAt')::timestamptz) END,
      last_press_position = CASE WHEN NEW.press_key IS NULL THEN c.last_press_position ELSE c.alert_count END,
      device_serials = CASE WHEN serial IS NULL OR serial = ANY (c.device_serials) THEN c.device_serials
        ELSE c.device_serials || serial END
    WHERE c.id = NEW.case_id
    RETURNING c.alert_count - 1 INTO NEW.position;
  RETURN NEW;
END
$$;
CREATE TRIGGER case_alerts_tally BEFORE INSERT ON case_alerts
  FOR EACH ROW EXECUTE FUNCTION case_alerts_tally();

-- The alerts already stored are counted after this migration, not in it: counted here they held
-- both tables, and so every alert's store, for as long as counting took (half a minute at 100,000
-- alerts, nine minutes at 1,000,000, on two busy cores: past the intake's 15 s statement timeout).
-- Their cases keep alert_count null until then, and the trigger's `+ 1` keeps it null (and the
-- place of an alert it stores null). The service counts them at its start, before it
-- serves: 50 cases at a time, each case's row locked and then its alerts, in the order the
-- intake locks them, so an alert's store waits for one small batch at most. It then makes
-- alert_count, position and priority NOT NULL and builds these indexes CONCURRENTLY (without
-- stopping the intake), as they stand in a schema this migration counted itself:
--   CREATE UNIQUE INDEX case_alerts_position ON case_alerts (case_id, position);
--   CREATE INDEX case_alerts_urgent ON case_alerts (case_id, priority, position DESC);
--   CREATE INDEX case_alerts_press ON case_alerts (case_id, press_key) WHERE press_key IS NOT NULL;
-- (an alert by its place, the most urgent of a case, whether a press already reached the case).
-- See `schema-upgrade.ts` and the README's upgrade notes.

-- Down Migration
DROP INDEX IF EXISTS case_alerts_press;
DROP INDEX IF EXISTS case_alerts_urgent;
DROP INDEX IF EXISTS case_alerts_position;
DROP TRIGGER case_alerts_tally ON case_alerts;
DROP FUNCTION case_alerts_tally();
ALTER TABLE cases DROP COLUMN device_serials, DROP COLUMN last_press_position, DROP COLUMN last_press_at,
  DROP COLUMN presses, DROP COLUMN alert_count;
ALTER TABLE case_alerts DROP COLUMN press_key, DROP COLUMN priority, DROP COLUMN position;
