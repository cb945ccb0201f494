-- Up Migration

-- A reveal names the case it is for and the person on it as data, next to the token that asked
-- (`actor`, kept for older rows): the audit can then answer "who read this, on which case".
ALTER TABLE sensitive_reads
  ADD COLUMN case_id text,
  ADD COLUMN actor_id text,
  ADD COLUMN actor_role text,
  ADD COLUMN via_role text;
CREATE INDEX sensitive_reads_actor_id_idx ON sensitive_reads (actor_id, at);

-- Down Migration

DROP INDEX sensitive_reads_actor_id_idx;
ALTER TABLE sensitive_reads DROP COLUMN via_role, DROP COLUMN actor_role, DROP COLUMN actor_id, DROP COLUMN case_id;
