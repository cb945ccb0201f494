-- Up Migration

-- A cancel or a restore still read every alert of its case: whether it resolves the case depends on
-- every alert that raised it. A home unit flapping in a brownout (mains lost, restored, lost, ...)
-- makes a case of thousands of alerts, half of them restores, and the intake is shared by every
-- home. Each alert now says what it closes and repeats, each raiser (an alert that closes nothing)
-- how it stands, and the case row counts its raisers by type and standing (the core's
-- `RaiserTally`): a cancel or a restore reads the raisers it closes, by index, and the row.

-- Both tables taken together or neither, as in migration 013 (and for the same reason).
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
  ADD COLUMN closes_id text,
  ADD COLUMN repeats_id text,
  -- A raiser's standing: null while open, else the outcome of the latest closing alert of its case
  -- that closes it or (when none names it) the press it repeats.
  ADD COLUMN closed_as text,
  -- Whether a closing alert of its case named this raiser itself (then a close of the press it
  -- repeats no longer changes it).
  ADD COLUMN closed_directly boolean NOT NULL DEFAULT false;

-- {"<type>": {"open": n, "false-alarm": n, "restored": n}, ...}; null while the case's alerts stored
-- before this migration are not yet counted (see below); a case opened from now on is counted from
-- its first alert.
ALTER TABLE cases ADD COLUMN raisers jsonb;
ALTER TABLE cases ALTER COLUMN raisers SET DEFAULT '{}';

CREATE FUNCTION case_raisers_moved(raisers jsonb, type text, from_standing text, to_standing text, n integer)
  RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_set(raisers, ARRAY[type], jsonb_build_object(
    'open', coalesce((raisers -> type ->> 'open')::integer, 0)
      - CASE WHEN from_standing = 'open' THEN n ELSE 0 END + CASE WHEN to_standing = 'open' THEN n ELSE 0 END,
    'false-alarm', coalesce((raisers -> type ->> 'false-alarm')::integer, 0)
      - CASE WHEN from_standing = 'false-alarm' THEN n ELSE 0 END + CASE WHEN to_standing = 'false-alarm' THEN n ELSE 0 END,
    'restored', coalesce((raisers -> type ->> 'restored')::integer, 0)
      - CASE WHEN from_standing = 'restored' THEN n ELSE 0 END + CASE WHEN to_standing = 'restored' THEN n ELSE 0 END))
$$;

-- The tally of migration 013 keeps the raisers too, in the one update of the case row it makes per
-- alert (the intake of every home pays it), whoever stores the alert: an instance not yet upgraded
-- (which reads every alert of the case to decide) keeps the counts right too. The insert holds its
-- case's row lock. A closing alert also marks the raisers it closes, by index.
CREATE OR REPLACE FUNCTION case_alerts_tally() RETURNS trigger LANGUAGE plpgsql
  SET search_path FROM CURRENT AS $$
DECLARE
  serial text := NEW.alert ->> 'deviceSerial';
  counted boolean := false;
  how text;
  r record;
BEGIN
  NEW.priority := (NEW.alert ->> 'priority')::smallint;
  NEW.closes_id := NEW.alert -> 'closes' ->> 'alertId';
  NEW.repeats_id := NEW.alert -> 'repeats' ->> 'alertId';
  IF NOT (NEW.alert ? 'closes')
     AND NEW.alert ->> 'type' IN ('pendant.pressed', 'pullcord.pulled', 'bogus-caller.pressed') THEN
    NEW.press_key := coalesce(NEW.alert -> 'evidence' ->> 0, NEW.alert_id);
    counted := EXISTS (SELECT 1 FROM case_alerts a WHERE a.case_id = NEW.case_id AND a.press_key = NEW.press_key);
  ELSE
    NEW.press_key := NULL;
  END IF;
  IF NEW.closes_id IS NULL THEN
    -- A raiser comes closed when a closing alert of its case came first (for the press it repeats).
    SELECT a.alert -> 'closes' ->> 'outcome' INTO how FROM case_alerts a
     WHERE a.case_id = NEW.case_id AND a.closes_id = NEW.alert_id ORDER BY a.position DESC LIMIT 1;
    NEW.closed_directly := how IS NOT NULL;
    IF how IS NULL AND NEW.repeats_id IS NOT NULL THEN
      SELECT a.alert -> 'closes' ->> 'outcome' INTO how FROM case_alerts a
       WHERE a.case_id = NEW.case_id AND a.closes_id = NEW.repeats_id ORDER BY a.position DESC LIMIT 1;
    END IF;
    NEW.closed_as := how;
  ELSE
    how := NEW.alert -> 'closes' ->> 'outcome';
    FOR r IN
      SELECT a.alert_id, a.alert ->> 'type' AS type, coalesce(a.closed_as, 'open') AS was
        FROM case_alerts a
       WHERE a.case_id = NEW.case_id AND a.closes_id IS NULL
         AND (a.alert_id = NEW.closes_id OR (a.repeats_id = NEW.closes_id AND NOT a.closed_directly))
    LOOP
      UPDATE case_alerts SET closed_as = how, closed_directly = closed_directly OR alert_id = NEW.closes_id
       WHERE alert_id = r.alert_id;
      UPDATE cases c SET raisers = case_raisers_moved(c.raisers, r.type, r.was, how, 1) WHERE c.id = NEW.case_id;
    END LOOP;
  END IF;
  UPDATE cases c SET
      alert_count = c.alert_count + 1,
      presses = c.presses + CASE WHEN NEW.press_key IS NOT NULL AND NOT counted THEN 1 ELSE 0 END,
      last_press_at = CASE WHEN NEW.press_key IS NULL THEN c.last_press_at
        ELSE greatest(c.last_press_at, (NEW.alert ->> 'raisedAt')::timestamptz) END,
      last_press_position = CASE WHEN NEW.press_key IS NULL THEN c.last_press_position ELSE c.alert_count END,
      device_serials = CASE WHEN serial IS NULL OR serial = ANY (c.device_serials) THEN c.device_serials
        ELSE c.device_serials || serial END,
      raisers = CASE WHEN NEW.closes_id IS NOT NULL THEN c.raisers
        ELSE case_raisers_moved(c.raisers, NEW.alert ->> 'type', NULL, coalesce(NEW.closed_as, 'open'), 1) END
    WHERE c.id = NEW.case_id
    RETURNING c.alert_count - 1 INTO NEW.position;
  RETURN NEW;
END
$$;

-- The alerts already stored are counted after this migration, as migration 013's are: their cases
-- keep raisers null until then (`case_raisers_moved` of null is null), and their alerts' closes_id,
-- repeats_id and standing are set when their case is counted. The service then makes raisers
-- NOT NULL and builds these indexes CONCURRENTLY, as they stand in a schema this migration
-- counted itself (what a closing alert closes, and a raiser's closing alerts):
--   CREATE INDEX case_alerts_closing ON case_alerts (case_id, closes_id, position) WHERE closes_id IS NOT NULL;
--   CREATE INDEX case_alerts_repeating ON case_alerts (case_id, repeats_id) WHERE repeats_id IS NOT NULL;
-- See `schema-upgrade.ts` and the README's upgrade notes.

-- Down Migration
DROP INDEX IF EXISTS case_alerts_repeating;
DROP INDEX IF EXISTS case_alerts_closing;
CREATE OR REPLACE FUNCTION case_alerts_tally() RETURNS trigger LANGUAGE plpgsql
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
DROP FUNCTION case_raisers_moved(jsonb, text, text, text, integer);
ALTER TABLE cases DROP COLUMN raisers;
ALTER TABLE case_alerts DROP COLUMN closed_directly, DROP COLUMN closed_as, DROP COLUMN repeats_id,
  DROP COLUMN closes_id;
