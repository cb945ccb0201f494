-- Up Migration

-- How an operator speaks through the device (a home unit's speech line): a phone number or a
-- sip:/sips: URI. The helpline turns it into the call action "speak through the home unit".
ALTER TABLE devices ADD COLUMN voice_uri text;

-- Down Migration
ALTER TABLE devices DROP COLUMN voice_uri;
