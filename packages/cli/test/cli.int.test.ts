import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type DeadLetter, eventIdFor, names, partitionOf, type TelecareEvent } from '@telecare/contracts';
import { connectNats, createLogger, jetstream, type NatsConnection } from '@telecare/platform';
import {
  DEVICE_COLUMNS,
  loadRegistryConfig,
  RESIDENT_COLUMNS,
  type RegistryHandle,
  startRegistry,
} from '@telecare/registry';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Run, runBinary, runInProcess } from './support.ts';

const ns = uniqueNamespace('cli');
const n = names(ns);
// With a data key, so key-safe codes can be stored and revealed.
const env = serviceEnv(ns, { REGISTRY_PORT: '0', REGISTRY_DATA_KEY: randomBytes(32).toString('hex') });
const logger = createLogger('cli-test', env.LOG_LEVEL);
let registry: RegistryHandle;
let nc: NatsConnection;
let dir: string;

/** One command in this process (the binary itself only where the process boundary is tested). */
const cli = (args: string[], token: string | null = env.TELECARE_ADMIN_TOKEN!): Promise<Run> =>
  runInProcess(args, {
    TELECARE_REGISTRY_URL: registry.url,
    ...(token === null ? {} : { TELECARE_TOKEN: token }),
  });

/** The real binary: tsx on main.ts, as `pnpm telecare` runs it. */
const telecare = (args: string[], token: string | null = env.TELECARE_ADMIN_TOKEN!): Promise<Run> =>
  runBinary(args, {
    TELECARE_REGISTRY_URL: registry.url,
    ...(token === null ? {} : { TELECARE_TOKEN: token }),
  });

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  nc = await connectNats({ url: servers.natsUrl, name: 'cli-test', logger });
  dir = mkdtempSync(join(tmpdir(), 'telecare-cli-'));
});

afterAll(async () => {
  await registry?.close();
  await nc?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cleanupNamespace(ns);
});

describe('telecare CLI', () => {
  let residentId: string;

  it('adds a resident and registers and pairs a device, human and --json', async () => {
    const added = await cli([
      '--json',
      'resident',
      'add',
      '--name',
      'Cli Resident',
      '--address',
      '5 Lane',
      '--postcode',
      'gl1 2ab',
      '--lives-alone',
    ]);
    expect(added.code).toBe(0);
    residentId = JSON.parse(added.stdout).id;
    expect(residentId).toMatch(/^res_/);

    const registered = await cli(['device', 'register', '--serial', 'PND-CLI1', '--kind', 'pendant']);
    expect(registered.code).toBe(0);
    expect(registered.stdout).toContain('device PND-CLI1 registered (stock)');
    const paired = await cli(['device', 'pair', 'PND-CLI1', '--resident', residentId, '--location', 'worn']);
    expect(paired.stdout).toContain(`device PND-CLI1 paired with ${residentId} (installed)`);

    const bad = await cli(['device', 'register', '--serial', 'PND-CLI1', '--kind', 'pendant']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('serial: already registered');
  });

  it('runs a test call to a PASS verdict when the press arrives, and FAIL (exit 1) when it does not', async () => {
    const run = cli(['test', 'PND-CLI1', '--timeout', '20']);
    // The press, as the gateway writes it to EVENTS once the installer presses the pendant.
    await waitFor(async () => {
      const res = await fetch(`${registry.url}/api/devices/PND-CLI1/test`, {
        headers: { authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}` },
      });
      return res.ok && ((await res.json()) as { status: string }).status === 'waiting';
    });
    const deviceEventId = `press-${randomBytes(4).toString('hex')}`;
    const partition = partitionOf(residentId, 8);
    const now = new Date().toISOString();
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdFor('PND-CLI1', deviceEventId, now, 'pendant.pressed'),
      source: '/gateway-mqtt',
      type: 'pendant.pressed',
      subject: 'PND-CLI1',
      time: now,
      datacontenttype: 'application/json',
      residentid: residentId,
      devicekind: 'pendant',
      deviceeventid: deviceEventId,
      partition,
      receivedat: now,
      testmode: true,
      data: { batteryPercent: 77, signalDbm: -61 },
    };
    await jetstream(nc).publish(n.subjects.event(partition, event.type), JSON.stringify(event), {
      msgID: event.id,
    });
    const passed = await run;
    expect(passed.code).toBe(0);
    expect(passed.stdout).toMatch(/PASS PND-CLI1: pendant.pressed arrived end to end in \d+ ms/);
    expect(passed.stdout).toContain('battery 77%, signal -61 dBm');

    const failed = await cli(['--json', 'test', 'PND-CLI1', '--timeout', '1']);
    expect(failed.code).toBe(1);
    expect(JSON.parse(failed.stdout)).toMatchObject({
      status: 'failed',
      reason: 'no event from PND-CLI1 within 1 s',
    });
  });

  it('asks for the act the device kind exists for, and reports a heartbeat as "connected, no trigger yet" (exit 1)', async () => {
    const sleeper = JSON.parse(
      (
        await cli([
          '--json',
          'resident',
          'add',
          '--name',
          'Bed Resident',
          '--address',
          '6 Lane',
          '--postcode',
          'GL1 2AB',
        ])
      ).stdout,
    ).id as string;
    await cli(['device', 'register', '--serial', 'BED-CLI1', '--kind', 'bed-sensor', '--resident', sleeper]);
    const run = cli(['test', 'BED-CLI1', '--timeout', '3']);
    await waitFor(async () => {
      const res = await fetch(`${registry.url}/api/devices/BED-CLI1/test`, {
        headers: { authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}` },
      });
      return res.ok && ((await res.json()) as { status: string }).status === 'waiting';
    });
    const deviceEventId = `hb-${randomBytes(4).toString('hex')}`;
    const partition = partitionOf(sleeper, 8);
    const now = new Date().toISOString();
    const event: TelecareEvent = {
      specversion: '1.0',
      id: eventIdFor('BED-CLI1', deviceEventId, now, 'heartbeat'),
      source: '/gateway-mqtt',
      type: 'heartbeat',
      subject: 'BED-CLI1',
      time: now,
      datacontenttype: 'application/json',
      residentid: sleeper,
      devicekind: 'bed-sensor',
      deviceeventid: deviceEventId,
      partition,
      receivedat: now,
      testmode: true,
      data: {},
    };
    await jetstream(nc).publish(n.subjects.event(partition, event.type), JSON.stringify(event), {
      msgID: event.id,
    });
    const failed = await run;
    expect(failed.code).toBe(1);
    expect(failed.stderr).toContain('BED-CLI1 (bed-sensor): get into bed');
    expect(failed.stderr).not.toMatch(/press/);
    expect(failed.stdout).toContain(
      'FAIL BED-CLI1: connected, no trigger yet: heartbeat arrived from BED-CLI1, but no bed.occupied within 3 s',
    );
    expect(failed.stdout).toMatch(/arrived: heartbeat at \S+ \(not the trigger\)/);
  });

  it('a test call whose messages a gateway refuses fails naming the refusal, which health shows too (exit 1)', async () => {
    const owner = JSON.parse(
      (
        await cli([
          '--json',
          'resident',
          'add',
          '--name',
          'Hub Resident',
          '--address',
          '7 Lane',
          '--postcode',
          'GL1 2AB',
        ])
      ).stdout,
    ).id as string;
    await cli(['device', 'register', '--serial', 'PND-CLIREF', '--kind', 'pendant', '--resident', owner]);
    const run = cli(['test', 'PND-CLIREF', '--timeout', '3']);
    await waitFor(async () => {
      const res = await fetch(`${registry.url}/api/devices/PND-CLIREF/test`, {
        headers: { authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}` },
      });
      return res.ok && ((await res.json()) as { status: string }).status === 'waiting';
    });
    // What gateway-mqtt writes for a heartbeat whose time has no offset.
    const letter: DeadLetter = {
      id: `dlq_${randomBytes(8).toString('hex')}`,
      at: new Date().toISOString(),
      service: 'gateway-mqtt',
      reason: 'schema',
      detail: 'at: Invalid ISO datetime',
      origin: n.mqtt.events('PND-CLIREF'),
      rawBase64: '',
    };
    await jetstream(nc).publish(n.subjects.deadletter('gateway-mqtt', 'schema'), JSON.stringify(letter));
    const failed = await run;
    expect(failed.code).toBe(1);
    expect(failed.stdout).toContain(
      'FAIL PND-CLIREF: messages arrive but are refused: schema: at: Invalid ISO datetime; no pendant.pressed from PND-CLIREF within 3 s',
    );
    expect(failed.stdout).toContain(`refused: schema: at: Invalid ISO datetime at ${letter.at}`);
    const health = await cli(['health', 'PND-CLIREF']);
    expect(health.stdout).toContain(
      `REFUSED 1 in 24 h, latest schema: at: Invalid ISO datetime at ${letter.at}`,
    );
  });

  it('lists device health', async () => {
    const health = await cli(['--json', 'health', 'PND-CLI1']);
    expect(health.code).toBe(0);
    expect(JSON.parse(health.stdout)).toMatchObject({
      serial: 'PND-CLI1',
      batteryPercent: 77,
      signalDbm: -61,
    });
    const fleet = await cli(['health', '--battery-below', '80']);
    expect(fleet.stdout).toContain('PND-CLI1');
  });

  it('creates an installer token that works, and refuses without a token (exit 3)', async () => {
    const created = await cli(['--json', 'token', 'create', '--name', 'van 3', '--role', 'installer']);
    expect(created.code).toBe(0);
    const installer = JSON.parse(created.stdout).token as string;
    const byInstaller = await cli(
      ['device', 'register', '--serial', 'PND-CLI2', '--kind', 'pendant'],
      installer,
    );
    expect(byInstaller.code).toBe(0);
    const denied = await cli(['token', 'create', '--name', 'x', '--role', 'admin'], installer);
    expect(denied.code).toBe(3);
    const none = await cli(['health'], null);
    expect(none.code).toBe(3);
  });

  it('imports CSV files, refusing all on a bad row (exit 2); --import-valid imports the rest, still exit 2', async () => {
    const residents = join(dir, 'residents.csv');
    const devices = join(dir, 'devices.csv');
    writeFileSync(
      residents,
      'ref,name,address,postcode\nR1,Rita Row,1 Street,GL3 4AB\nR2,Bad Row,2 Street,XX\n',
    );
    writeFileSync(devices, 'serial,kind,resident\nCSV-0001,pendant,R1\nCSV-0002,pendant,R2\n');
    const refused = await cli(['import', residents, devices]);
    expect(refused.code).toBe(2);
    expect(refused.stdout).toContain('residents.csv line 3, column postcode: must be a UK postcode');
    expect(refused.stdout).toContain(
      'devices.csv line 3, column resident: resident R2 has errors in residents.csv',
    );
    expect(refused.stdout).toContain('nothing imported');
    const partial = await cli(['import', residents, devices, '--import-valid']);
    // The good rows are in, but a script must not take a file with refused rows for a clean import.
    expect(partial.code).toBe(2);
    expect(partial.stdout).toMatch(/residents\.csv line 2: R1 res_\S+ created/);
    expect(partial.stdout).toContain('devices.csv line 2: CSV-0001 created');
    expect(partial.stdout).toContain(
      'residents: 1 created, 0 updated, 0 unchanged; devices: 1 created, 0 updated, 0 unchanged; 2 rows refused',
    );
  });

  it('re-running a corrected file with --import-valid updates or skips each row and adds nobody twice', async () => {
    const residents = join(dir, 'rerun-residents.csv');
    const devices = join(dir, 'rerun-devices.csv');
    const people = Array.from({ length: 18 }, (_, i) => `RR-${i},Rerun Person ${i},${i} Rerun Road,GL3 4AB`);
    writeFileSync(
      residents,
      ['ref,name,address,postcode', ...people, 'RR-BAD,Bad Person,1 Road,XX', ''].join('\n'),
    );
    writeFileSync(devices, ['serial,kind,resident', 'RR-PND-0,pendant,RR-0', ''].join('\n'));
    const first = await cli(['import', residents, devices, '--import-valid']);
    expect(first.code).toBe(2);
    expect(first.stdout).toContain('residents: 18 created');

    // The bad row corrected, the file run again.
    const corrected = [...people];
    corrected[3] = 'RR-3,Rerun Person 3,3a Rerun Road,GL3 4AB';
    writeFileSync(
      residents,
      ['ref,name,address,postcode', ...corrected, 'RR-BAD,Bad Person,1 Road,GL3 4AB', ''].join('\n'),
    );
    const again = await cli(['import', residents, devices, '--import-valid']);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/residents\.csv line 2: RR-0 res_\S+ unchanged/);
    expect(again.stdout).toMatch(/residents\.csv line 5: RR-3 res_\S+ updated \(address\)/);
    expect(again.stdout).toContain('devices.csv line 2: RR-PND-0 unchanged');
    expect(again.stdout).toContain(
      'residents: 1 created, 1 updated, 17 unchanged; devices: 0 created, 0 updated, 1 unchanged',
    );
    const listed = JSON.parse(
      (await cli(['--json', 'resident', 'list', '--name', 'rerun person', '--limit', '100'])).stdout,
    );
    expect(listed.total).toBe(18);
  });

  it('import --help lists every column, and the example files shipped with the CLI import cleanly, twice', async () => {
    const help = await cli(['import', '--help']);
    expect(help.code).toBe(0);
    for (const column of [...RESIDENT_COLUMNS.required, ...RESIDENT_COLUMNS.optional]) {
      expect(help.stdout, column).toMatch(new RegExp(`^ +${column} `, 'm'));
    }
    for (const column of [...DEVICE_COLUMNS.required, ...DEVICE_COLUMNS.optional]) {
      expect(help.stdout, column).toMatch(new RegExp(`^ +${column} `, 'm'));
    }
    expect(help.stdout).toContain('examples/residents.csv');
    const examples = fileURLToPath(new URL('../examples/', import.meta.url));
    const files = [join(examples, 'residents.csv'), join(examples, 'devices.csv')];
    const imported = await cli(['import', ...files]);
    expect(imported.stderr).toBe('');
    expect(imported.code).toBe(0);
    expect(imported.stdout).not.toMatch(/column/);
    expect(imported.stdout).toMatch(
      /residents: [1-9]\d* created, 0 updated, 0 unchanged; devices: [1-9]\d* created/,
    );
    const twice = await cli(['import', ...files]);
    expect(twice.code).toBe(0);
    expect(twice.stdout).toMatch(
      /residents: 0 created, 0 updated, [1-9]\d* unchanged; devices: 0 created, 0 updated, [1-9]\d* unchanged/,
    );
  });

  it('lists and searches residents by name, postcode and serial, a page at a time, human and --json', async () => {
    for (const [name, postcode] of [
      ['Sam Seeker', 'GL9 1AA'],
      ['Sue Seeker', 'GL9 2BB'],
      ['Syd Seeker', 'GL10 3DD'],
    ]) {
      expect(
        (await cli(['resident', 'add', '--name', name!, '--address', '1 Seek Row', '--postcode', postcode!]))
          .code,
      ).toBe(0);
    }
    const sue = JSON.parse((await cli(['--json', 'resident', 'search', 'sue seeker'])).stdout);
    expect(sue.residents.map((r: { name: string }) => r.name)).toEqual(['Sue Seeker']);
    await cli([
      'device',
      'register',
      '--serial',
      'SEEK-0001',
      '--kind',
      'pendant',
      '--resident',
      sue.residents[0].id,
    ]);

    const bySerial = await cli(['resident', 'search', 'seek-0001']);
    expect(bySerial.code).toBe(0);
    expect(bySerial.stdout).toMatch(/res_\S+ +Sue Seeker +GL9 2BB .*SEEK-0001/);
    const byPostcode = JSON.parse((await cli(['--json', 'resident', 'list', '--postcode', 'gl9'])).stdout);
    expect(byPostcode.residents.map((r: { name: string }) => r.name)).toEqual(['Sam Seeker', 'Sue Seeker']);
    const bySerialOption = JSON.parse(
      (await cli(['--json', 'resident', 'list', '--serial', 'SEEK-0001'])).stdout,
    );
    expect(bySerialOption.residents.map((r: { name: string }) => r.name)).toEqual(['Sue Seeker']);

    const page = await cli(['resident', 'list', '--name', 'seeker', '--limit', '2', '--page', '2']);
    expect(page.stdout).toMatch(/Syd Seeker/);
    expect(page.stdout).not.toMatch(/Sam Seeker/);
    expect(page.stdout).toContain('3 of 3 (page 2 of 2)');
    expect((await cli(['resident', 'search', 'nobody-like-this'])).stdout).toContain('no residents');
  });

  it('adds and lists care packages; a bad date is named (exit 2)', async () => {
    const added = await cli([
      'care-package',
      'add',
      residentId,
      '--hours-per-week',
      '10.5',
      '--start',
      '2025-01-06',
      '--end',
      '2025-06-30',
    ]);
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^care package cpk_\S+ added: 10\.5 h\/week from 2025-01-06 to 2025-06-30/);
    await cli(['care-package', 'add', residentId, '--hours-per-week', '4', '--start', '2025-07-01']);
    const listed = await cli(['care-package', 'list', residentId]);
    expect(listed.stdout).toMatch(
      /^cpk_\S+ +10\.5 h\/week +2025-01-06 to 2025-06-30\ncpk_\S+ +4 h\/week +2025-07-01 to \(open\)\n$/,
    );
    const json = JSON.parse((await cli(['--json', 'care-package', 'list', residentId])).stdout);
    expect(json.carePackages).toHaveLength(2);
    const bad = await cli([
      'care-package',
      'add',
      residentId,
      '--hours-per-week',
      '4',
      '--start',
      '2025-13-01',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('startDate: must be');
  });

  it('run again with the same --idempotency-key (its answer lost), a care package or resident is added once', async () => {
    const add = (key: string) =>
      cli([
        '--json',
        'care-package',
        'add',
        residentId,
        '--hours-per-week',
        '2',
        '--start',
        '2025-08-01',
        '--idempotency-key',
        key,
      ]);
    const first = await add('cli-retry-cpk-1');
    const again = await add('cli-retry-cpk-1');
    expect([first.code, again.code]).toEqual([0, 0]);
    expect(JSON.parse(again.stdout).id).toBe(JSON.parse(first.stdout).id);
    const listed = JSON.parse((await cli(['--json', 'care-package', 'list', residentId])).stdout);
    expect(listed.carePackages.filter((p: { hoursPerWeek: number }) => p.hoursPerWeek === 2)).toHaveLength(1);

    const person = [
      'resident',
      'add',
      '--name',
      'Cli Retried',
      '--address',
      '6 Lane',
      '--postcode',
      'GL1 2AB',
    ];
    const made = await cli(['--json', ...person, '--idempotency-key', 'cli-retry-res-1']);
    const remade = await cli(['--json', ...person, '--idempotency-key', 'cli-retry-res-1']);
    expect(JSON.parse(remade.stdout).id).toBe(JSON.parse(made.stdout).id);
    const found = JSON.parse((await cli(['--json', 'resident', 'list', '--name', 'Cli Retried'])).stdout);
    expect(found.residents).toHaveLength(1);
    const badKey = await cli([...person, '--idempotency-key', 'has space']);
    expect(badKey.code).toBe(2);
    expect(badKey.stderr).toContain('idempotency-key');
  });

  it('run again with the same --idempotency-key, a device is registered and a token created once (the token not shown again)', async () => {
    const register = ['--json', 'device', 'register', '--serial', 'PND-CLIKEY', '--kind', 'pendant'];
    const first = await cli([...register, '--idempotency-key', 'cli-retry-dev-1']);
    const again = await cli([...register, '--idempotency-key', 'cli-retry-dev-1']);
    expect([first.code, again.code]).toEqual([0, 0]);
    expect(JSON.parse(again.stdout).id).toBe(JSON.parse(first.stdout).id);

    const create = ['token', 'create', '--name', 'cli-retry-token', '--role', 'installer'];
    const made = await cli(['--json', ...create, '--idempotency-key', 'cli-retry-tok-1']);
    expect(made.code).toBe(0);
    const remade = await cli([...create, '--idempotency-key', 'cli-retry-tok-1']);
    expect(remade.code).toBe(2);
    expect(remade.stderr).toContain(`DELETE /api/tokens/${JSON.parse(made.stdout).id}`);
    expect(remade.stderr + remade.stdout).not.toContain(JSON.parse(made.stdout).token);
  });

  it('declares a resident away, lists and ends it; a period that ends before it begins is named (exit 2)', async () => {
    const set = await cli([
      'away',
      'set',
      residentId,
      '--from',
      '2026-12-04T17:00:00Z',
      '--until',
      '2026-12-06T18:00:00Z',
      '--reason',
      'holiday',
      '--note',
      "at her daughter's",
    ]);
    expect(set.code).toBe(0);
    expect(set.stdout).toMatch(
      /^away period awy_\S+ set: holiday from 2026-12-04T17:00:00.000Z to 2026-12-06T18:00:00.000Z/,
    );
    const id = /awy_\S+/.exec(set.stdout)?.[0] ?? '';
    const ended = await cli(['away', 'end', residentId, id, '--at', '2026-12-05T12:00:00Z']);
    expect(ended.code).toBe(0);
    expect(ended.stdout).toContain(`away period ${id} ended at 2026-12-05T12:00:00.000Z`);
    const listed = await cli(['away', 'list', residentId]);
    expect(listed.stdout).toContain(`${id}  holiday  2026-12-04T17:00:00.000Z to 2026-12-05T12:00:00.000Z`);
    expect(listed.stdout).toContain("at her daughter's");
    const bad = await cli([
      'away',
      'set',
      residentId,
      '--from',
      '2026-12-04T17:00:00Z',
      '--until',
      '2026-12-04T10:00:00Z',
      '--reason',
      'hospital',
    ]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('until: must be after from');
  });

  it('updates a resident: only the fields given, --clear empties one, a bad postcode is named (exit 2)', async () => {
    const added = await cli([
      '--json',
      'resident',
      'add',
      '--name',
      'Upd Resident',
      '--address',
      '7 Lane',
      '--postcode',
      'GL1 2AB',
      '--lives-alone',
      '--risk-notes',
      'stairs',
      '--key-safe',
      '4321 behind the gate',
    ]);
    const id = JSON.parse(added.stdout).id as string;
    const updated = await cli([
      '--json',
      'resident',
      'update',
      id,
      '--postcode',
      'gl5 1aa',
      '--phone',
      '01452 000001',
      '--no-lives-alone',
      '--clear',
      'risk-notes',
    ]);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      id,
      name: 'Upd Resident',
      postcode: 'GL5 1AA',
      postcodeDistrict: 'GL5',
      phone: '01452 000001',
      livesAlone: false,
      riskNotes: null,
      keySafe: '••••••',
    });
    const linked = await cli(['--json', 'resident', 'update', id, '--ref', 'UPD-0001']);
    expect(JSON.parse(linked.stdout)).toMatchObject({ id, externalRef: 'UPD-0001' });
    const taken = await cli([
      'resident',
      'add',
      '--name',
      'X',
      '--address',
      '1',
      '--postcode',
      'GL1 2AB',
      '--ref',
      'UPD-0001',
    ]);
    expect(taken.code).toBe(2);
    expect(taken.stderr).toContain(`externalRef: already used by ${id}`);
    const human = await cli(['resident', 'update', id, '--name', 'Upd Renamed']);
    expect(human.stdout).toBe(`resident ${id} updated (name)\n`);

    const bad = await cli(['resident', 'update', id, '--postcode', 'XX']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('postcode: must be a UK postcode');
    expect((await cli(['resident', 'update', id])).stderr).toContain('nothing to change');
    const unknown = await cli(['resident', 'update', 'res_nobody', '--name', 'X']);
    expect(unknown.code).toBe(2);
    expect((await cli(['resident', 'update', id, '--clear', 'name'])).code).toBe(2);
  });

  it('keeps the call list with responder add/list/remove, and shows a resident with it and its devices', async () => {
    const first = await cli([
      'responder',
      'add',
      residentId,
      '--name',
      'Ann',
      '--relationship',
      'daughter',
      '--phone',
      '07700 900001',
    ]);
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/^1\. Ann \(daughter\) 07700 900001/);
    await cli([
      'responder',
      'add',
      residentId,
      '--name',
      'Bob',
      '--relationship',
      'neighbour',
      '--phone',
      '07700 900002',
      '--order',
      '1',
    ]);
    const listed = await cli(['--json', 'responder', 'list', residentId]);
    const responders = JSON.parse(listed.stdout).responders as Array<{
      id: string;
      name: string;
      order: number;
    }>;
    expect(responders.map((r) => [r.order, r.name])).toEqual([
      [1, 'Bob'],
      [2, 'Ann'],
    ]);
    const removed = await cli(['responder', 'remove', residentId, responders[0]!.id]);
    expect(removed.stdout).toMatch(/^1\. Ann \(daughter\)/);
    expect((await cli(['responder', 'list', 'res_nobody'])).code).toBe(2);

    const shown = await cli(['resident', 'show', residentId]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain(`${residentId}  Cli Resident`);
    expect(shown.stdout).toContain('GL1 2AB (district GL1)');
    expect(shown.stdout).toMatch(/responders\n {2}1\. Ann \(daughter\) 07700 900001/);
    expect(shown.stdout).toMatch(/devices\n {2}PND-CLI1 +pendant +installed {2}worn/);
    const json = JSON.parse((await cli(['--json', 'resident', 'show', residentId])).stdout);
    expect(json.resident).toMatchObject({ id: residentId, livesAlone: true });
    expect(json.responders).toHaveLength(1);
    expect(json.devices.map((d: { serial: string }) => d.serial)).toEqual(['PND-CLI1']);
  });

  it('reveals a key-safe code with a reason, recorded in the audit; a role that may not is exit 3', async () => {
    const added = await cli([
      '--json',
      'resident',
      'add',
      '--name',
      'Key Safe',
      '--address',
      '9 Lane',
      '--postcode',
      'GL1 2AB',
      '--key-safe',
      '1966 under the mat',
    ]);
    const id = JSON.parse(added.stdout).id as string;
    const masked = await cli(['resident', 'show', id]);
    expect(masked.stdout).not.toContain('1966');
    expect(masked.stdout).toContain('key safe      ••••••');

    const revealed = await cli(['reveal', id, '--field', 'keySafe', '--reason', 'ambulance at the door']);
    expect(revealed.code).toBe(0);
    expect(revealed.stdout).toMatch(/^keySafe +1966 under the mat\n/);
    expect(revealed.stdout).toContain('recorded');
    const audit = await fetch(`${registry.url}/api/residents/${id}/audit`, {
      headers: { authorization: `Bearer ${env.TELECARE_ADMIN_TOKEN}` },
    });
    expect(((await audit.json()) as { reads: unknown[] }).reads).toEqual([
      expect.objectContaining({
        field: 'keySafe',
        actor: { id: 'admin-token', role: 'admin' },
        reason: 'ambulance at the door',
      }),
    ]);

    expect((await cli(['reveal', id, '--field', 'keySafe'])).code).toBe(2); // no reason
    expect((await cli(['reveal', id, '--field', 'pin', '--reason', 'x'])).code).toBe(2);
    const token = JSON.parse(
      (await cli(['--json', 'token', 'create', '--name', 'reports', '--role', 'commissioner'])).stdout,
    ).token as string;
    const denied = await cli(['reveal', id, '--field', 'keySafe', '--reason', 'curious'], token);
    expect(denied.code).toBe(3);
    // Installers, operators and supervisors reveal through the helpline, on a case they hold.
    const installer = JSON.parse(
      (await cli(['--json', 'token', 'create', '--name', 'fitter', '--role', 'installer'])).stdout,
    ).token as string;
    expect((await cli(['reveal', id, '--field', 'keySafe', '--reason', 'fitting'], installer)).code).toBe(3);
  });

  it('updates a DC-09 device’s code overrides (repeatable, then cleared) and shows the device', async () => {
    const registered = await cli([
      'device',
      'register',
      '--serial',
      'HUB-CLI9',
      '--kind',
      'home-unit',
      '--protocol',
      'dc09',
      '--dc09-account',
      'C1A9',
      '--resident',
      residentId,
    ]);
    expect(registered.code).toBe(0);
    const updated = await cli([
      '--json',
      'device',
      'update',
      'HUB-CLI9',
      '--dc09-code-override',
      'CID 120=fall.detected',
      '--dc09-code-override',
      'sia UA=flood.detected',
      '--location',
      'hall',
    ]);
    expect(updated.code).toBe(0);
    expect(JSON.parse(updated.stdout)).toMatchObject({
      dc09CodeOverrides: { 'CID 120': 'fall.detected', 'SIA UA': 'flood.detected' },
      location: 'hall',
    });
    const shown = await cli(['device', 'show', 'HUB-CLI9']);
    expect(shown.stdout).toContain('HUB-CLI9  home-unit (dc09)  installed');
    expect(shown.stdout).toContain('code overrides CID 120=fall.detected, SIA UA=flood.detected');
    expect(shown.stdout).toContain('DC-09 account C1A9, key not set');

    const badType = await cli(['device', 'update', 'HUB-CLI9', '--dc09-code-override', 'CID 121=fall.maybe']);
    expect(badType.code).toBe(2);
    expect(badType.stderr).toContain('dc09CodeOverrides.CID 121: must be an event type');
    const badForm = await cli(['device', 'update', 'HUB-CLI9', '--dc09-code-override', 'CID 121']);
    expect(badForm.code).toBe(2);
    expect(badForm.stderr).toContain('must be CODE=event.type');
    const onMqtt = await cli([
      'device',
      'update',
      'PND-CLI1',
      '--dc09-code-override',
      'CID 120=fall.detected',
    ]);
    expect(onMqtt.code).toBe(2);

    const cleared = await cli([
      'device',
      'update',
      'HUB-CLI9',
      '--clear-dc09-code-overrides',
      '--clear',
      'location',
    ]);
    expect(cleared.stdout).toContain('code overrides: none');
    const after = JSON.parse((await cli(['--json', 'device', 'show', 'HUB-CLI9'])).stdout);
    expect(after.device).toMatchObject({ dc09CodeOverrides: {}, location: null });
    expect(after.health).toMatchObject({ lastHeartbeatAt: null });

    const unpaired = await cli(['--json', 'device', 'update', 'HUB-CLI9', '--unpair']);
    expect(JSON.parse(unpaired.stdout)).toMatchObject({ residentId: null, state: 'stock' });
  });

  it('sets a DC-09 panel’s clock zone on register and update, shows it, and clears it back to UTC', async () => {
    const registered = await cli([
      '--json',
      'device',
      'register',
      '--serial',
      'HUB-CLK1',
      '--kind',
      'home-unit',
      '--protocol',
      'dc09',
      '--dc09-account',
      'C1C1',
      '--dc09-clock-zone',
      'europe/london',
      '--resident',
      residentId,
    ]);
    expect(registered.code).toBe(0);
    expect(JSON.parse(registered.stdout)).toMatchObject({ dc09ClockZone: 'Europe/London' });
    expect((await cli(['device', 'show', 'HUB-CLK1'])).stdout).toContain('clock zone    Europe/London');

    const bad = await cli(['device', 'update', 'HUB-CLK1', '--dc09-clock-zone', 'BST']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('dc09ClockZone: must be an IANA time zone');
    const changed = await cli([
      '--json',
      'device',
      'update',
      'HUB-CLK1',
      '--dc09-clock-zone',
      'Europe/Dublin',
    ]);
    expect(JSON.parse(changed.stdout)).toMatchObject({ dc09ClockZone: 'Europe/Dublin' });
    const cleared = await cli(['--json', 'device', 'update', 'HUB-CLK1', '--clear', 'dc09-clock-zone']);
    expect(JSON.parse(cleared.stdout)).toMatchObject({ dc09ClockZone: null });
    expect((await cli(['device', 'show', 'HUB-CLK1'])).stdout).toContain('clock zone    UTC');
  });

  // Two runs of the real binary, each loading the CLI afresh: seconds apiece on a loaded machine. The
  // commands themselves are the in-process runs' to cover; these cover the binary's output and exit.
  it('the real binary: --json output and exit 0, a refusal on stderr with exit 2', async () => {
    const shown = await telecare(['--json', 'device', 'show', 'PND-CLI1']);
    expect(shown.code).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      device: { serial: 'PND-CLI1', residentId, state: 'installed', location: 'worn' },
      health: { batteryPercent: 77 },
    });
    const missing = await telecare(['device', 'show', 'PND-NONE']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^telecare: .*PND-NONE/);
    expect(missing.stdout).toBe('');
  }, 120_000);

  it('decommissions a device', async () => {
    const out = await cli(['device', 'decommission', 'PND-CLI2']);
    expect(out.code).toBe(0);
    expect(out.stdout).toContain('device PND-CLI2 decommissioned');
  });
});
