import { connect } from '@nats-io/transport-node';
import { type Dc09AccountEntry, names } from '@telecare/contracts';
import { openDc09Accounts } from '@telecare/gateway-dc09';
import { servers } from '@telecare/testkit';
import type { RunningPlatform } from './platform.ts';

/** A resident living alone in GL1 with one device of `kind`, registered through the registry API. */
export async function addHome(
  platform: RunningPlatform,
  serial: string,
  kind: 'pendant' | 'home-unit' = 'pendant',
): Promise<string> {
  const resident = await platform.registryClient.createResident({
    name: 'Test Resident',
    address: '1 Test Street, Gloucester',
    postcode: 'GL1 2AB',
    phone: '01452 000000',
    livesAlone: true,
  });
  await platform.registryClient.createDevice({
    serial,
    residentId: resident.id,
    kind,
    supervisionIntervalS: 3600,
  });
  return resident.id;
}

/** The DC-09 account of a disperser (no key: unencrypted), as the registry would publish it. */
export async function addDc09Account(
  platform: RunningPlatform,
  account: string,
  home: { serial: string; residentId: string },
): Promise<void> {
  const entry: Dc09AccountEntry = {
    account,
    ...home,
    key: null,
    keyEncoding: 'hex',
    codeOverrides: {},
    supervisionIntervalS: 3600,
    state: 'installed',
    testMode: false,
    postcodeDistrict: 'GL1',
    updatedAt: new Date().toISOString(),
  };
  const nc = await connect({ servers: servers.natsUrl });
  try {
    await (await openDc09Accounts(nc, names(platform.namespace))).put(account, JSON.stringify(entry));
  } finally {
    await nc.close();
  }
}
