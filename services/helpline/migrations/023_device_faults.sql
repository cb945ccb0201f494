-- Up Migration

-- How often one device raised one fault for a resident in the last days (a movement sensor noisy
-- every afternoon, a home unit losing mains every night), in cases: a restore of a fault that came
-- back often enough no longer closes its case by itself (`FAULT_REPEATS` in src/core/transitions.ts).
-- Counted at each such restore, from the device's latest raisers of the fault (a bounded read), along
--   CREATE INDEX case_alerts_device_faults ON case_alerts
--     ((alert ->> 'deviceSerial'), (alert ->> 'type'), received_at)
--     WHERE alert ? 'deviceSerial' AND closes_id IS NULL AND repeats_id IS NULL;
-- rather than reading every alert of the resident. A plain CREATE INDEX stops every insert into
-- case_alerts, and so every alert's store, while it reads the whole table: the service builds it
-- CONCURRENTLY after its migrations instead (`schema-upgrade.ts`), as it does 016's.
SELECT 1;

-- Down Migration
DROP INDEX IF EXISTS case_alerts_device_faults;
