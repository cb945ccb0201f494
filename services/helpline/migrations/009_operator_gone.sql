-- Up Migration

-- The operator holding a case (accepted or on hold) with no console there: when the helpline
-- first found them gone (null while they are there), and when the case was flagged as needing
-- someone (`operator-gone`; null while not flagged). Claimed by conditional updates like the
-- escalation ladder, so each flag is recorded once whichever instance ticks.
ALTER TABLE cases ADD COLUMN holder_gone_since timestamptz;
ALTER TABLE cases ADD COLUMN operator_gone_at timestamptz;
CREATE INDEX cases_held_idx ON cases (assigned_to) WHERE state IN ('accepted', 'on_hold') AND NOT test_mode;

-- Down Migration
DROP INDEX cases_held_idx;
ALTER TABLE cases DROP COLUMN operator_gone_at;
ALTER TABLE cases DROP COLUMN holder_gone_since;
