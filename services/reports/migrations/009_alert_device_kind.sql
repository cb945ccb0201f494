-- Up Migration

-- The kind of device an alert is about, when the alert says (`deviceKind`: a supervision loss
-- names the pendant or the smoke detector gone silent), for the device health figures by kind.
-- Null for the alerts stored before, and for those that name none: counted as 'not recorded'
-- (`reports rebuild` fills it from the ALERTS stream for those that carried it).
ALTER TABLE rp_alerts ADD COLUMN device_kind text;

-- Down Migration
ALTER TABLE rp_alerts DROP COLUMN device_kind;
