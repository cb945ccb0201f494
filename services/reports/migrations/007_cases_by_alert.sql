-- Up Migration

-- Whether an alert opened a case of its own (a repeat press after its call was resolved).
CREATE INDEX rp_cases_alert_idx ON rp_cases (alert_id);

-- Down Migration

DROP INDEX rp_cases_alert_idx;
