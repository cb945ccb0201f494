-- Up Migration

-- Each issue of a secret to a device that is under way: written, and committed, before the issue's
-- first broker command, and deleted by the transaction that records its outcome (the new secret's
-- commit, or the putting back), or by the issue itself when it told the broker nothing. Its id is
-- the issue's token: two issues on one device never share one, however close they begin (migration
-- 026 matched an issue by the millisecond it began, so one issue's commit could take another's mark).
-- A token left behind is an issue whose registry died: once `started_at` (PostgreSQL's clock, which
-- every instance reads the grace by) is older than the grace, the broker repair gives the broker the
-- secret the row holds and deletes the tokens it saw, under the device's row lock; an issue that was
-- only waiting finds its token gone under that same lock and tells the broker nothing.
-- `began_at`: when it began on the registry's clock (the one `broker_repairs` is recorded by).
CREATE TABLE broker_issues (
  id bigserial PRIMARY KEY,
  serial text NOT NULL,
  began_at timestamptz NOT NULL,
  started_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX broker_issues_serial_idx ON broker_issues (serial, started_at);

-- An issue in flight when this migration runs, as 026 marked it, is kept as a token.
INSERT INTO broker_issues (serial, began_at, started_at)
  SELECT serial, coalesce(broker_unconfirmed_since, broker_issue_started_at), broker_issue_started_at
    FROM devices WHERE broker_issue_started_at IS NOT NULL;
ALTER TABLE devices DROP COLUMN broker_issue_started_at;

-- Device clients and roles in the broker that no device row holds, with when the broker repair
-- first saw each so (on the registry's clock): one is removed once seen so for the grace, and a
-- registry that restarts does not start that grace again.
CREATE TABLE broker_orphans (
  serial text PRIMARY KEY,
  seen_at timestamptz NOT NULL
);

-- Down Migration

DROP TABLE broker_orphans;
ALTER TABLE devices ADD COLUMN broker_issue_started_at timestamptz;
UPDATE devices d
   SET broker_issue_started_at = i.started_at,
       broker_unconfirmed_since = coalesce(d.broker_unconfirmed_since, i.began_at)
  FROM (SELECT serial, max(started_at) AS started_at, min(began_at) AS began_at
          FROM broker_issues GROUP BY serial) i
 WHERE d.serial = i.serial;
DROP TABLE broker_issues;
