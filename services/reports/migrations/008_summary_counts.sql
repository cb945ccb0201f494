-- Up Migration

-- A summary is counted in the database (GROUP BY month, district, outcome): each call and alert
-- is placed in the district the resident's devices reported on or before its day. The district in
-- the index, and only days that have one, make that look-up an index-only read of one entry,
-- with no sort of a resident's days by district (DESC: read backwards, as the latest day on or
-- before is, it gives the districts of one day in ascending order, the order the look-up takes).
CREATE INDEX rp_device_days_resident_day_district_idx ON rp_device_days (resident_id, day, district DESC)
  WHERE district IS NOT NULL;

-- Down Migration

DROP INDEX rp_device_days_resident_day_district_idx;
