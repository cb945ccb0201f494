-- Up Migration

-- Every case, newest first (`GET /api/cases?state=all`, raisedAt then id, descending, a page at a
-- time after the last page's case), and every case raised between two times: read backwards along
--   CREATE INDEX cases_newest ON cases (raised_at, id) WHERE NOT test_mode;
-- rather than sorting months of cases on each read. A plain CREATE INDEX stops every write to
-- cases, and so every alert's store, while it reads the whole table: the service builds it
-- CONCURRENTLY after its migrations instead (`schema-upgrade.ts`), as it does 014's.
SELECT 1;

-- Down Migration
DROP INDEX IF EXISTS cases_newest;
