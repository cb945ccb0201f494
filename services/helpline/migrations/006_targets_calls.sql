-- Up Migration

-- The answer targets an alarm call (P1, P2) has missed while still unanswered: 60 (the first
-- step) or 180 (the second); null while none. Claimed by a conditional update, so each step is
-- recorded once whichever instance ticks.
ALTER TABLE cases ADD COLUMN answer_target_missed integer CHECK (answer_target_missed IN (60, 180));
CREATE INDEX cases_unanswered_idx ON cases (raised_at)
  WHERE state IN ('queued', 'offered') AND NOT test_mode;

-- The operator's own phone or softphone extension, which a click-to-call PBX rings first.
ALTER TABLE users ADD COLUMN extension text CHECK (extension ~ '^[A-Za-z0-9+*#._@:-]{1,64}$');

-- Calls placed from a case: who called which party, through what, when, how long, how it ended.
-- Numbers are not kept here: they belong to the registry, and the party is named by its kind and
-- id. The case events (call-started, call-ended) are the audit trail; this is the current state.
CREATE TABLE calls (
  id text PRIMARY KEY CHECK (id LIKE 'call\_%'),
  case_id text NOT NULL REFERENCES cases (id),
  party text NOT NULL CHECK (party IN ('home-unit', 'resident', 'responder', 'emergency')),
  responder_id text,
  device_serial text,
  scheme text NOT NULL CHECK (scheme IN ('tel', 'sip')),
  via text NOT NULL CHECK (via IN ('browser', 'pbx')),
  pbx_reference text,
  started_by text NOT NULL,
  started_at timestamptz NOT NULL,
  ended_by text,
  ended_at timestamptz,
  outcome text
);
CREATE INDEX calls_case_idx ON calls (case_id, started_at);

-- Down Migration
DROP TABLE calls;
ALTER TABLE users DROP COLUMN extension;
DROP INDEX cases_unanswered_idx;
ALTER TABLE cases DROP COLUMN answer_target_missed;
