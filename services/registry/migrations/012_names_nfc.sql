-- Up Migration

-- The API keeps text in one Unicode form (NFC); what was stored before it did is as it was typed, so
-- "é" typed as "e" and a combining accent was not found by a search typed "é". This converts it:
-- residents' names, addresses and notes, responders, device locations and models, token labels.
-- Only text that is not NFC is touched, so running it again changes nothing. There is no down: the
-- forms as typed are not kept, and NFC is the same text.
--
-- Not converted: the key-safe code and medical summary (encrypted, not readable here, never
-- searched); the reveal audit (`sensitive_reads`, kept as written); external references (not
-- normalised on write either: they are matched byte for byte against the commissioning
-- organisation's own files, and a converted one would no longer find its resident on the next
-- import); serials, postcodes and ids (ASCII by their checks).
--
-- Rows the conversion makes alike: no unique constraint covers any of these columns, so nothing is
-- merged or dropped. Residents with the same name (any case) and postcode once converted, that
-- differed before, are most likely one person registered a second time because the search did not
-- find the first: both are kept and named by id in a warning, for an administrator to check.
--
-- Text whose NFC form is longer than its column allows (a few characters, such as U+0958, are two
-- in NFC) is left as stored and named by id in a warning, rather than failing the registry's start.
-- Warnings carry ids, never the text.
DO $$
DECLARE
  col record;
  ids text;
  converted bigint;
BEGIN
  IF current_setting('server_encoding') <> 'UTF8' THEN
    RAISE WARNING 'names not converted to NFC: the database encoding is %, not UTF8', current_setting('server_encoding');
    RETURN;
  END IF;

  SELECT string_agg(twins, '; ') INTO ids FROM (
    SELECT string_agg(id, ' ' ORDER BY id) AS twins
      FROM residents
     GROUP BY lower(normalize(name, NFC)), postcode
    HAVING count(DISTINCT lower(name)) > 1
  ) alike;
  IF ids IS NOT NULL THEN
    RAISE WARNING 'residents: the same name and postcode once in NFC, both kept (one person registered twice?): %', ids;
  END IF;

  FOR col IN
    SELECT * FROM (VALUES
      ('residents', 'name', 200), ('residents', 'address', 500),
      ('residents', 'mobility_notes', 2000), ('residents', 'risk_notes', 2000),
      ('responders', 'name', 200), ('responders', 'relationship', 100),
      ('devices', 'location', 64), ('devices', 'model', 100),
      ('api_tokens', 'label', 100)
    ) AS c (tbl, name, max_length)
  LOOP
    EXECUTE format(
      'SELECT string_agg(id, '' '' ORDER BY id) FROM %I
        WHERE %I IS NOT NFC NORMALIZED AND length(normalize(%I, NFC)) > %s',
      col.tbl, col.name, col.name, col.max_length
    ) INTO ids;
    IF ids IS NOT NULL THEN
      RAISE WARNING '%.%: left as stored, longer than % characters in NFC: %',
        col.tbl, col.name, col.max_length, ids;
    END IF;
    EXECUTE format(
      'UPDATE %I SET %I = normalize(%I, NFC)
        WHERE %I IS NOT NFC NORMALIZED AND length(normalize(%I, NFC)) <= %s',
      col.tbl, col.name, col.name, col.name, col.name, col.max_length
    );
    GET DIAGNOSTICS converted = ROW_COUNT;
    IF converted > 0 THEN
      RAISE NOTICE '%.%: % converted to NFC', col.tbl, col.name, converted;
    END IF;
  END LOOP;
END
$$;
