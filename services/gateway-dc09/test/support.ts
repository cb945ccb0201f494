import type { Dc09AccountEntry } from '@telecare/contracts';

/**
 * A registry entry for a DC-09 account, as the tests register one: installed, keyless, no code
 * overrides, hourly supervision, its serial and resident derived from the account unless given.
 */
export function testAccount(account: string, overrides: Partial<Dc09AccountEntry> = {}): Dc09AccountEntry {
  return {
    account,
    serial: `DC09-${account}`,
    residentId: `res_${account.toLowerCase()}`,
    key: null,
    keyEncoding: 'hex',
    codeOverrides: {},
    supervisionIntervalS: 3600,
    state: 'installed',
    testMode: false,
    postcodeDistrict: 'GL1',
    updatedAt: '2026-01-01T00:00:00Z',
    ...overrides,
  };
}
