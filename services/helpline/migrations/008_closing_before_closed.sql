-- Up Migration

-- Each priority has its own consumer, so a resident's cancel (P5) can be committed before the
-- alarm it closes (P1) when the alarm's delivery is late: the alarm then finds its cancel here.
CREATE INDEX case_alerts_closes ON case_alerts ((alert -> 'closes' ->> 'alertId'))
  WHERE alert ? 'closes';

-- Down Migration

DROP INDEX case_alerts_closes;
