-- Up Migration

-- Devices registered before the previous pairing was kept (019) have no stocked_at (020): they may
-- have left a home that was not recorded. One is known for certain: a device in stock whose row has
-- not changed since its registration (updated_at is its created_at). Every change of a device's
-- resident moves updated_at (the paired_at trigger dates the pairing by it, and a resident cannot be
-- deleted from under a device), so it was never paired, and has been in stock since it was
-- registered. Filled here, it is kept when the device is paired from stock, and its first home's
-- device map entry says so. A device changed since, or in a home now, stays without: when it entered
-- stock, if it ever did, is not known. Safe to run again.
UPDATE devices SET stocked_at = created_at
 WHERE stocked_at IS NULL
   AND resident_id IS NULL
   AND state = 'stock'
   AND previous_pairing_ended_at IS NULL
   AND updated_at = created_at;

-- Down Migration

-- Nothing to undo: the rows filled are told from none other, and stocked_at at their registration
-- is true of them.
