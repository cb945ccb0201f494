-- Up Migration

-- The zone a DC-09 panel's clock is set to, when it is not UTC as DC-09 says (many are installed
-- on local time): an IANA name such as Europe/London, published in the account's entry for the
-- gateway to read the panel's timestamps by. Null: UTC.
ALTER TABLE devices ADD COLUMN dc09_clock_zone text;

-- Down Migration

ALTER TABLE devices DROP COLUMN dc09_clock_zone;
