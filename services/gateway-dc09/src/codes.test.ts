import { TAXONOMY, type TelecareEvent } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { testAccount } from '../test/support.ts';
import { frameBody } from './frame.ts';
import { mapEvent } from './mapping.ts';
import { interpretFrame } from './receiver.ts';

/**
 * Codes real panels send from a smoke detector, a sprinkler or an intruder zone, and what each
 * becomes: a fire reaches an operator as a fire, a fire detector's fault as a fault someone sees,
 * and a burglary zone stays a record (README, "Code mapping").
 */

const cid = (qualifier: string, code: string) => mapEvent({ protocol: 'CID', qualifier, code, zone: '004' });
const sia = (code: string) => mapEvent({ protocol: 'SIA', code, zone: '4' });

const NOW = new Date(Date.UTC(2026, 11, 7, 3, 0, 0));
const TS = '_03:00:00,12-07-2026';
const entry = testAccount('1234', { serial: 'DC09-FLAT-1', residentId: 'res_flat' });

/** The events a whole frame carrying `data` becomes, as `type sourcecode`. */
async function eventsOf(type: 'ADM-CID' | 'SIA-DCS', data: string): Promise<string[]> {
  const out = await interpretFrame(frameBody(`"${type}"0007L0#1234[#1234|${data}]${TS}`), {
    now: NOW,
    window: { behindMs: 40_000, aheadMs: 20_000 },
    partitions: 4,
    keyless: 'allow',
    lookup: (acct) => (acct === entry.account ? entry : undefined),
  });
  expect(out.reply, out.refusal?.detail).toBe('ACK');
  return out.events.map((e: TelecareEvent) => (e.sourcecode ? `${e.type} ${e.sourcecode}` : e.type));
}

describe('a sprinkler flowing, a duct detector and a near alarm are fires', () => {
  it('Contact ID 113 (water flow), 116 (duct) and 118 (near alarm) raise smoke.detected; their restores restore it', () => {
    for (const code of ['113', '116', '118']) {
      expect(cid('1', code), code).toEqual({ type: 'smoke.detected' });
      expect(cid('6', code), code).toEqual({ type: 'smoke.detected', condition: 'still-present' });
      expect(cid('3', code), code).toEqual({ type: 'smoke.restored', condition: 'restore' });
    }
  });

  it('SIA SA (sprinkler alarm) raises smoke.detected; SH (its restore) and SR (restoral) restore it', () => {
    expect(sia('SA')).toEqual({ type: 'smoke.detected' });
    expect(sia('SH')).toEqual({ type: 'smoke.restored' });
    expect(sia('SR')).toEqual({ type: 'smoke.restored' });
  });

  it('whole frames: a sprinkler and a near alarm reach triage as fires, with the code they were sent as', async () => {
    expect(await eventsOf('ADM-CID', '1113 01 004')).toEqual(['smoke.detected CID 1113', 'heartbeat']);
    expect(await eventsOf('ADM-CID', '1118 01 004')).toEqual(['smoke.detected CID 1118', 'heartbeat']);
    expect(await eventsOf('ADM-CID', '1116 01 004')).toEqual(['smoke.detected CID 1116', 'heartbeat']);
    expect(await eventsOf('SIA-DCS', 'Nri1/SA004')).toEqual(['smoke.detected SIA SA', 'heartbeat']);
  });

  it('whole frames: their restores never raise an alarm', async () => {
    expect(await eventsOf('ADM-CID', '3113 01 004')).toEqual(['smoke.restored CID 3113', 'heartbeat']);
    expect(await eventsOf('ADM-CID', '3118 01 004')).toEqual(['smoke.restored CID 3118', 'heartbeat']);
    expect(await eventsOf('SIA-DCS', 'Nri1/SH004')).toEqual(['smoke.restored SIA SH', 'heartbeat']);
    expect(await eventsOf('SIA-DCS', 'Nri1/SR004')).toEqual(['smoke.restored SIA SR', 'heartbeat']);
  });
});

describe("a fire detector with a fault is the detector's own fault, which an operator sees", () => {
  // Fire trouble, sensor trouble, a smoke detector's sensitivity out of range, a failed self-test,
  // a detector that needs cleaning.
  const TROUBLES = ['373', '380', '385', '386', '389', '393'];

  it('Contact ID fire and sensor troubles raise device.fault (P3); their restores fault.restored', () => {
    for (const code of TROUBLES) {
      expect(cid('1', code), code).toEqual({ type: 'device.fault' });
      expect(cid('6', code), code).toEqual({ type: 'device.fault', condition: 'still-present' });
      expect(cid('3', code), code).toEqual({ type: 'fault.restored', condition: 'restore' });
    }
  });

  it('the operator reads that the device reports a fault of its own, not a communication line fault', () => {
    const type = cid('1', '373')?.type ?? 'code.unmapped';
    expect(TAXONOMY[type]).toMatchObject({
      priority: 3,
      category: 'technical',
      description: 'Device reports a fault of its own',
    });
    const restore = cid('3', '373')?.type ?? 'code.unmapped';
    expect(TAXONOMY[restore]).toMatchObject({ priority: 5, restores: type });
  });

  it('Contact ID 374 is an exit error (an intruder zone open as the panel armed), not a fire trouble: unmapped', () => {
    expect(cid('1', '374')).toBeUndefined();
  });

  it('SIA FT (fire trouble), FY (fire point missing) and ST (sprinkler trouble) raise device.fault; FJ and SJ restore it', () => {
    for (const code of ['FT', 'FY', 'ST']) expect(sia(code), code).toEqual({ type: 'device.fault' });
    for (const code of ['FJ', 'SJ']) expect(sia(code), code).toEqual({ type: 'fault.restored' });
    // FK is DC-03's fire test end, no trouble.
    expect(sia('FK')).toBeUndefined();
  });

  it('whole frames: a fire trouble and its restore', async () => {
    expect(await eventsOf('ADM-CID', '1373 01 004')).toEqual(['device.fault CID 1373', 'heartbeat']);
    expect(await eventsOf('ADM-CID', '3373 01 004')).toEqual(['fault.restored CID 3373', 'heartbeat']);
    expect(await eventsOf('ADM-CID', '1393 01 004')).toEqual(['device.fault CID 1393', 'heartbeat']);
    expect(await eventsOf('SIA-DCS', 'Nri1/FT004')).toEqual(['device.fault SIA FT', 'heartbeat']);
    expect(await eventsOf('SIA-DCS', 'Nri1/FJ004')).toEqual(['fault.restored SIA FJ', 'heartbeat']);
  });
});

describe('a burglary zone stays a record, on purpose', () => {
  it('Contact ID 130–136 and 146, SIA BA and its restores: code.unmapped, kept with their code', async () => {
    for (const code of ['130', '131', '132', '133', '134', '135', '136', '146']) {
      expect(cid('1', code), code).toBeUndefined();
      expect(cid('3', code), code).toBeUndefined();
    }
    for (const code of ['BA', 'BH', 'BR', 'BV']) expect(sia(code), code).toBeUndefined();
    expect(await eventsOf('ADM-CID', '1132 01 004')).toEqual(['code.unmapped CID 1132', 'heartbeat']);
    expect(await eventsOf('SIA-DCS', 'Nri1/BA004')).toEqual(['code.unmapped SIA BA', 'heartbeat']);
  });
});
