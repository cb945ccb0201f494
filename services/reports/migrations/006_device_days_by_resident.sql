-- Up Migration

-- Where a resident lived when a call was raised: their device days by resident and day.
CREATE INDEX rp_device_days_resident_day_idx ON rp_device_days (resident_id, day);

-- Down Migration

DROP INDEX rp_device_days_resident_day_idx;
