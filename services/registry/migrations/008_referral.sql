-- Up Migration

-- When the resident was referred for telecare (a day). Residents referred and not yet installed
-- are the commissioners' comparison group for the before/after figures (bed days, care hours).
-- The registry checks that an install is not before the referral and neither is in the future.
ALTER TABLE residents ADD COLUMN referred_on date;

-- Down Migration

ALTER TABLE residents DROP COLUMN referred_on;
