import type { Pool } from '@telecare/platform';
import type { FieldCipher } from './crypto.ts';

const CHECK_TEXT = 'telecare registry data key check';
const RECORD = 'registry';
const FIELD = 'data-key-check';

/** What the start-up check found: the key opens the data sealed here, or why it does not. */
export type KeyCheck = { ok: true; created: boolean } | { ok: false; reason: string };

/**
 * Proves REGISTRY_DATA_KEY is the key the database's sealed fields were written with: it opens a
 * known text sealed the first time a key was used. A database from before the check has none;
 * then one sealed key-safe code (if any) is opened instead, and the check is written.
 */
export async function checkDataKey(
  pool: Pool,
  schema: string,
  cipher: FieldCipher,
  now: Date,
): Promise<KeyCheck> {
  const table = `"${schema}".data_key_check`;
  const { rows } = await pool.query<{ sealed: string }>(`select sealed from ${table} where id = 1`);
  const stored = rows[0]?.sealed;
  if (stored !== undefined) {
    try {
      return cipher.decrypt(stored, RECORD, FIELD) === CHECK_TEXT
        ? { ok: true, created: false }
        : { ok: false, reason: 'the key check opened to the wrong text' };
    } catch {
      return { ok: false, reason: 'the key does not open the key check stored with the data' };
    }
  }
  const sample = await pool.query<{ id: string; key_safe_enc: string }>(
    `select id, key_safe_enc from "${schema}".residents where key_safe_enc is not null limit 1`,
  );
  const row = sample.rows[0];
  if (row) {
    try {
      cipher.decrypt(row.key_safe_enc, row.id, 'keySafe');
    } catch {
      return { ok: false, reason: 'the key does not open the key-safe codes already stored' };
    }
  }
  await pool.query(
    `insert into ${table} (id, sealed, created_at) values (1, $1, $2) on conflict (id) do nothing`,
    [cipher.encrypt(CHECK_TEXT, RECORD, FIELD), now],
  );
  return { ok: true, created: true };
}
