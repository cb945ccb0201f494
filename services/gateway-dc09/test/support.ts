import type { Dc09AccountEntry } from '@telecare/contracts';
import { dc09Frame, dialerKey, encodeDc09Message } from '@telecare/simulators';

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

/**
 * An encrypted press of `account` cut short by its last block, as anyone who saw one can make
 * without the key (hex): refused as changed, and raised as `dc09-frame-forged`.
 */
export function forgedFrame(account: string, key: string, seq: number): Buffer {
  const genuine = encodeDc09Message({
    type: 'ADM-CID',
    seq,
    account,
    events: [{ kind: 'cid', qualifier: 1, code: '101', zone: String(seq).padStart(3, '0') }],
    at: new Date(),
    key: dialerKey(key, 'hex'),
  });
  const body = genuine.toString('latin1').slice(9, -1);
  return dc09Frame(body.slice(0, -32));
}

/** The sum of a service's metric lines that start with `name` (labels may follow), at `url`. */
export async function metricSum(url: string, name: string): Promise<number> {
  const text = await (await fetch(new URL('/metrics', url))).text();
  return text
    .split('\n')
    .filter((line) => line.startsWith(name))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}
