-- Up Migration

-- A join cost as much as the case was large: every change read back and parsed every alert of its
-- case, to count them, to count the presses and to cut the window of them the live stream sends.
-- One resident's storm (a stuck sensor, a device whose credentials an attacker holds) then slowed
-- the intake everyone's alarms share. Each alert now has its place in its case, and the case row
-- keeps what its alerts come to (the core's `AlertTally`), so a join, a repeat or a note reads and
-- writes the same whatever the case holds; the window and the pages are read by place.
ALTER TABLE case_alerts
  -- 0 for the alert that opened the case, then 1, 2, ... in the order they came.
  ADD COLUMN position integer,
  ADD COLUMN priority smallint,
  -- The press the alert reports (its first evidence id), for a press that closes nothing; else null.
  ADD COLUMN press_key text;

ALTER TABLE cases
  ADD COLUMN alert_count integer NOT NULL DEFAULT 0,
  -- Presses counted once each (a press can reach a case twice), the latest's raise and its place.
  ADD COLUMN presses integer NOT NULL DEFAULT 0,
  ADD COLUMN last_press_at timestamptz,
  ADD COLUMN last_press_position integer,
  -- The devices the case's alerts came from, in the order they first appeared.
  ADD COLUMN device_serials text[] NOT NULL DEFAULT '{}';

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

-- The alerts already stored, in the order the case read them (received, then id).
UPDATE case_alerts a SET
    position = p.position,
    priority = (a.alert ->> 'priority')::smallint,
    press_key = CASE WHEN NOT (a.alert ? 'closes')
        AND a.alert ->> 'type' IN ('pendant.pressed', 'pullcord.pulled', 'bogus-caller.pressed')
      THEN coalesce(a.alert -> 'evidence' ->> 0, a.alert_id) END
  FROM (SELECT alert_id, (row_number() OVER (PARTITION BY case_id ORDER BY received_at, alert_id) - 1)::integer AS position
          FROM case_alerts) p
 WHERE p.alert_id = a.alert_id;

UPDATE cases c SET
    alert_count = t.alert_count,
    presses = t.presses,
    last_press_at = t.last_press_at,
    last_press_position = t.last_press_position,
    device_serials = coalesce(t.device_serials, '{}')
  FROM (SELECT case_id,
               count(*)::integer AS alert_count,
               count(DISTINCT press_key)::integer AS presses,
               max((alert ->> 'raisedAt')::timestamptz) FILTER (WHERE press_key IS NOT NULL) AS last_press_at,
               max(position) FILTER (WHERE press_key IS NOT NULL) AS last_press_position,
               (SELECT array_agg(s.serial ORDER BY s.first)
                  FROM (SELECT a2.alert ->> 'deviceSerial' AS serial, min(a2.position) AS first
                          FROM case_alerts a2
                         WHERE a2.case_id = a.case_id AND a2.alert ? 'deviceSerial'
                         GROUP BY 1) s) AS device_serials
          FROM case_alerts a GROUP BY case_id) t
 WHERE t.case_id = c.id;

ALTER TABLE case_alerts ALTER COLUMN position SET NOT NULL, ALTER COLUMN priority SET NOT NULL;

-- An alert by its place (the window's first and latest, the pages), and the most urgent of a case.
CREATE UNIQUE INDEX case_alerts_position ON case_alerts (case_id, position);
CREATE INDEX case_alerts_urgent ON case_alerts (case_id, priority, position DESC);
-- Whether a press already reached the case.
CREATE INDEX case_alerts_press ON case_alerts (case_id, press_key) WHERE press_key IS NOT NULL;

-- Down Migration
DROP INDEX case_alerts_press;
DROP INDEX case_alerts_urgent;
DROP INDEX case_alerts_position;
DROP TRIGGER case_alerts_tally ON case_alerts;
DROP FUNCTION case_alerts_tally();
ALTER TABLE cases DROP COLUMN device_serials, DROP COLUMN last_press_position, DROP COLUMN last_press_at,
  DROP COLUMN presses, DROP COLUMN alert_count;
ALTER TABLE case_alerts DROP COLUMN press_key, DROP COLUMN priority, DROP COLUMN position;
