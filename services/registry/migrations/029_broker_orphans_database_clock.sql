-- Up Migration

-- When the broker repair first saw a device client or role with no row, on PostgreSQL's clock: the
-- grace before it is removed is read by it, so registries whose clocks disagree agree on it (as
-- broker_issues.started_at). `seen_at` was the only time kept, on the clock of whichever registry
-- saw it first, and compared with another's: one running ahead removed an orphan before its grace,
-- one running behind kept it longer. `seen_at` stays, on the registry's clock, as broker_repairs
-- records it. Orphans noted before this migration start their grace from it: later, never earlier.
ALTER TABLE broker_orphans ADD COLUMN first_seen_at timestamptz NOT NULL DEFAULT now();

-- Down Migration

ALTER TABLE broker_orphans DROP COLUMN first_seen_at;
