import { DeviceMapEntry } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { buildDc09AccountEntry } from './dc09-accounts.ts';
import { buildDeviceMapEntry } from './device-map-entry.ts';
import type { DeviceRow, ResidentRow } from './records.ts';

const resident: ResidentRow = {
  external_ref: null,
  id: 'res_0000000001abcdef',
  name: 'Edith Example',
  address: '1 High Street, Gloucester',
  postcode: 'GL1 2AB',
  postcode_district: 'GL1',
  phone: '01452 000000',
  lives_alone: true,
  mobility_notes: null,
  risk_notes: null,
  key_safe_enc: null,
  medical_summary_enc: null,
  consent_given: true,
  consent_at: null,
  created_at: new Date('2025-01-01T09:00:00.000Z'),
  updated_at: new Date('2025-01-01T09:00:00.000Z'),
};

const device: DeviceRow = {
  id: 'dev_0000000002abcdef',
  serial: 'PND-0001',
  resident_id: resident.id,
  kind: 'pendant',
  model: 'Lifeline Vi',
  voice_uri: null,
  protocol: 'mqtt',
  location: 'worn',
  supervision_interval_s: 3600,
  state: 'installed',
  test_mode: false,
  dc09_account: null,
  dc09_key_enc: null,
  dc09_key_encoding: 'hex',
  dc09_prev_key_enc: null,
  dc09_prev_key_encoding: null,
  dc09_prev_key_until: null,
  dc09_key_changed_at: null,
  dc09_key_fp: null,
  dc09_prev_key_fp: null,
  credential_hash: null,
  credential_issued_at: null,
  credential_enc: null,
  dc09_code_overrides: {},
  dc09_clock_zone: null,
  paired_at: new Date('2025-01-02T09:30:00.000Z'),
  previous_resident_id: null,
  previous_paired_at: null,
  previous_pairing_ended_at: null,
  stocked_at: null,
  decommissioned_at: null,
  created_at: new Date('2025-01-02T10:00:00.000Z'),
  updated_at: new Date('2025-01-02T10:00:00.000Z'),
};

describe('buildDeviceMapEntry', () => {
  it('maps a device and its resident to a valid entry', () => {
    const entry = buildDeviceMapEntry(device, resident);
    expect(entry).toEqual({
      serial: 'PND-0001',
      deviceId: device.id,
      residentId: resident.id,
      kind: 'pendant',
      protocol: 'mqtt',
      location: 'worn',
      supervisionIntervalS: 3600,
      state: 'installed',
      testMode: false,
      postcodeDistrict: 'GL1',
      pairedAt: '2025-01-02T09:30:00.000Z',
      updatedAt: '2025-01-02T10:00:00.000Z',
    });
    expect(DeviceMapEntry.safeParse(entry).success).toBe(true);
  });

  it('carries no personal data', () => {
    const json = JSON.stringify(buildDeviceMapEntry(device, resident));
    for (const personal of [
      resident.name,
      resident.address,
      resident.phone!,
      resident.postcode,
      'Lifeline Vi',
    ]) {
      expect(json).not.toContain(personal);
    }
  });

  it('takes the later of the two rows as updatedAt, because either changes the entry', () => {
    const moved = { ...resident, updated_at: new Date('2025-03-01T00:00:00.000Z') };
    expect(buildDeviceMapEntry(device, moved)?.updatedAt).toBe('2025-03-01T00:00:00.000Z');
  });

  it('keeps nullable fields null and copies test mode', () => {
    const entry = buildDeviceMapEntry(
      { ...device, location: null, supervision_interval_s: null, test_mode: true, state: 'test' },
      resident,
    );
    expect(entry).toMatchObject({
      location: null,
      supervisionIntervalS: null,
      testMode: true,
      state: 'test',
    });
  });

  it('leaves pairedAt out when the row has none, as entries written before it was kept', () => {
    const entry = buildDeviceMapEntry({ ...device, paired_at: null }, resident);
    expect(entry).not.toHaveProperty('pairedAt');
    expect(DeviceMapEntry.safeParse(entry).success).toBe(true);
  });

  it('carries the previous pairing when the row has one, its start only where known', () => {
    const moved = {
      ...device,
      previous_resident_id: 'res_0000000007aaaaaa',
      previous_paired_at: new Date('2024-06-01T08:00:00.000Z'),
      previous_pairing_ended_at: new Date('2025-01-01T16:00:00.000Z'),
    };
    expect(buildDeviceMapEntry(moved, resident)?.previousPairing).toEqual({
      residentId: 'res_0000000007aaaaaa',
      pairedAt: '2024-06-01T08:00:00.000Z',
      endedAt: '2025-01-01T16:00:00.000Z',
    });
    expect(buildDeviceMapEntry({ ...moved, previous_paired_at: null }, resident)?.previousPairing).toEqual({
      residentId: 'res_0000000007aaaaaa',
      endedAt: '2025-01-01T16:00:00.000Z',
    });
    expect(buildDeviceMapEntry(device, resident)).not.toHaveProperty('previousPairing');
  });

  it('carries when the device entered stock before its pairing, when the row knows', () => {
    const fromStock = { ...device, stocked_at: new Date('2024-12-20T08:00:00.000Z') };
    expect(buildDeviceMapEntry(fromStock, resident)?.stockedAt).toBe('2024-12-20T08:00:00.000Z');
    expect(buildDeviceMapEntry(device, resident)).not.toHaveProperty('stockedAt');
  });

  it('has no entry for a device without a resident', () => {
    expect(buildDeviceMapEntry({ ...device, resident_id: null, state: 'stock' }, null)).toBeNull();
  });

  it('refuses rows that do not belong together', () => {
    expect(() => buildDeviceMapEntry(device, { ...resident, id: 'res_0000000009zzzzzz' })).toThrow(
      RangeError,
    );
  });

  it('refuses a kind the contracts do not know', () => {
    expect(() => buildDeviceMapEntry({ ...device, kind: 'toaster' }, resident)).toThrow();
  });
});

describe('buildDc09AccountEntry', () => {
  const panel: DeviceRow = {
    ...device,
    kind: 'home-unit',
    protocol: 'dc09',
    dc09_account: '1234',
    dc09_key_enc: 'sealed-new',
    dc09_prev_key_enc: 'sealed-old',
    dc09_prev_key_encoding: 'ascii',
    dc09_prev_key_until: new Date('2025-01-05T10:00:00.000Z'),
    dc09_key_changed_at: new Date('2025-01-02T10:00:00.000Z'),
  };
  const open = (stored: string) => (stored === 'sealed-new' ? 'NEWKEY' : 'OLDKEY');

  it('hands on the previous key, its own encoding and its end while its grace runs', () => {
    const entry = buildDc09AccountEntry(panel, resident, open, new Date('2025-01-05T09:59:59.000Z'));
    expect(entry).toMatchObject({
      key: 'NEWKEY',
      previousKey: { key: 'OLDKEY', keyEncoding: 'ascii', until: '2025-01-05T10:00:00.000Z' },
    });
  });

  it('carries the pairings the device map carries, for the DC-09 gateway to attribute a moved panel’s backlog', () => {
    const moved: DeviceRow = {
      ...panel,
      previous_resident_id: 'res_0000000007aaaaaa',
      previous_paired_at: new Date('2024-06-01T08:00:00.000Z'),
      previous_pairing_ended_at: new Date('2025-01-01T12:00:00.000Z'),
      stocked_at: new Date('2025-01-01T12:00:00.000Z'),
    };
    const entry = buildDc09AccountEntry(moved, resident, open, new Date('2025-01-03T00:00:00.000Z'));
    const mapped = buildDeviceMapEntry(moved, resident);
    expect(entry?.pairedAt).toBe('2025-01-02T09:30:00.000Z');
    expect(entry?.pairedAt).toBe(mapped?.pairedAt);
    expect(entry?.stockedAt).toBe('2025-01-01T12:00:00.000Z');
    expect(entry?.stockedAt).toBe(mapped?.stockedAt);
    expect(entry?.previousPairing).toEqual(mapped?.previousPairing);
    expect(entry?.previousPairing).toEqual({
      residentId: 'res_0000000007aaaaaa',
      pairedAt: '2024-06-01T08:00:00.000Z',
      endedAt: '2025-01-01T12:00:00.000Z',
    });
    expect(buildDc09AccountEntry(panel, resident, open)).not.toHaveProperty('previousPairing');
  });

  it('leaves it out once the grace is over, or when the account has no key now', () => {
    expect(
      buildDc09AccountEntry(panel, resident, open, new Date('2025-01-05T10:00:00.000Z')),
    ).not.toHaveProperty('previousKey');
    expect(
      buildDc09AccountEntry(
        { ...panel, dc09_key_enc: null },
        resident,
        open,
        new Date('2025-01-03T00:00:00.000Z'),
      ),
    ).not.toHaveProperty('previousKey');
  });
});
