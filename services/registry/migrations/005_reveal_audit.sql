-- Up Migration

-- A reveal names the case it is for and the person on it as data, next to the token that asked
-- (`actor`, kept for older rows): the audit can then answer "who read this, on which case".
ALTER TABLE sensitive_reads
  ADD COLUMN case_id text,
  ADD COLUMN actor_id text,
  ADD COLUMN actor_role text,
  ADD COLUMN via_role text;
CREATE INDEX sensitive_reads_actor_id_idx ON sensitive_reads (actor_id, at);

-- A known text sealed under REGISTRY_DATA_KEY when the key is first used: a start-up with another
-- key fails to open it and the registry says so at once, not at the first reveal.
CREATE TABLE data_key_check (
  id int PRIMARY KEY CHECK (id = 1),
  sealed text NOT NULL,
  created_at timestamptz NOT NULL
);

-- Down Migration

DROP TABLE data_key_check;
DROP INDEX sensitive_reads_actor_id_idx;
ALTER TABLE sensitive_reads DROP COLUMN via_role, DROP COLUMN actor_role, DROP COLUMN actor_id, DROP COLUMN case_id;
