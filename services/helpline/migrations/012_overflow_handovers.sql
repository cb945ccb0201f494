-- Up Migration

-- Handovers of unanswered P1s to the partner centre (the ladder's overflow rung), one row per
-- `escalated` event to the overflow, written in the transaction that records the rung. Posted in
-- the timer tick and never again, a call the partner did not take (down, slow, a crash between the
-- rung and the call) was lost, and each call held every timer for up to its timeout. The row is
-- tried until the partner takes it or refuses it, or the case no longer waits.
CREATE TABLE overflow_handovers (
  -- The escalated event: also the Idempotency-Key the partner sees on every attempt.
  event_id text PRIMARY KEY,
  case_id text NOT NULL REFERENCES cases (id),
  -- The next attempt; while an attempt runs, the end of its lease.
  due_at timestamptz NOT NULL,
  attempts integer NOT NULL DEFAULT 0,
  -- delivered, refused, withdrawn (the case was answered or closed) or not-configured.
  outcome text,
  done_at timestamptz
);
CREATE INDEX overflow_handovers_due_idx ON overflow_handovers (due_at) WHERE done_at IS NULL;

-- Down Migration
DROP TABLE overflow_handovers;
