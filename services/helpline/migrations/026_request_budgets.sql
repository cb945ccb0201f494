-- Up Migration

-- The read and write budgets (REQUESTS_PER_MINUTE, CASE_IN_HAND_READS_PER_MINUTE,
-- CASE_WRITES_PER_MINUTE), counted once for every instance: one row per budget and person, the
-- window they are in (from its first request, epoch ms), the requests counted in it and the
-- requests refused in it (1: the window's first refusal, which raises the security event). Each
-- counted request is one INSERT … ON CONFLICT DO UPDATE … RETURNING on the person's row, so two
-- instances counting for one person at once take turns and cannot both let the last one through.
-- A row is reused window after window: the table holds one row per budget and person who ever
-- asked, so nothing sweeps it. UNLOGGED: a count a minute long is not worth a WAL record per
-- request; after a crash (or on a promoted standby) the table starts empty, and every budget with it.
-- The updated columns are in no index and the pages are kept half empty, so an update stays on its
-- page (HOT) and the table does not grow with the requests.
CREATE UNLOGGED TABLE request_budgets (
  kind text NOT NULL,
  person_id text NOT NULL,
  window_start_ms bigint NOT NULL,
  counted integer NOT NULL,
  refused integer NOT NULL,
  PRIMARY KEY (kind, person_id)
) WITH (fillfactor = 50);

-- Down Migration
DROP TABLE request_budgets;
