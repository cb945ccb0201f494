-- Up Migration

-- When the latest issue of a secret to the device began sending it to the broker (null when none
-- is in flight). Each issue marks the row `broker_unconfirmed_since` in a write of its own,
-- committed before its first broker command, so a registry that dies between the broker taking the
-- new secret and the commit leaves the row marked for the broker repair. The repair leaves a row
-- alone while an issue started less than its grace ago (on any instance) may still be sending: it
-- must not give the broker the old secret underneath a new one about to commit.
ALTER TABLE devices ADD COLUMN broker_issue_started_at timestamptz;

-- A broker client the registry made for a device that has no row (a registration or import that
-- did not commit, whose client could not be removed then) is removed by the repair pass and
-- recorded here too: such a serial has no device row to refer to.
ALTER TABLE broker_repairs DROP CONSTRAINT broker_repairs_serial_fkey;
ALTER TABLE broker_repairs DROP CONSTRAINT broker_repairs_outcome_check;
ALTER TABLE broker_repairs ADD CONSTRAINT broker_repairs_outcome_check
  CHECK (outcome IN ('secret-restored', 'client-removed', 'orphan-removed'));

-- Down Migration

DELETE FROM broker_repairs WHERE outcome = 'orphan-removed';
ALTER TABLE broker_repairs DROP CONSTRAINT broker_repairs_outcome_check;
ALTER TABLE broker_repairs ADD CONSTRAINT broker_repairs_outcome_check
  CHECK (outcome IN ('secret-restored', 'client-removed'));
ALTER TABLE broker_repairs ADD CONSTRAINT broker_repairs_serial_fkey
  FOREIGN KEY (serial) REFERENCES devices (serial) ON DELETE CASCADE;
ALTER TABLE devices DROP COLUMN broker_issue_started_at;
