import { ListResidentsQuery } from '@telecare/contracts';
import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from './errors.ts';
import {
  CreateDeviceBody,
  CreateResidentBody,
  parseRequest,
  UpdateDeviceBody,
  UpdateResidentBody,
} from './schemas.ts';

const issuesOf = (run: () => unknown) => {
  try {
    run();
  } catch (err) {
    if (err instanceof InvalidRequestError) return err.issues;
    throw err;
  }
  throw new Error('expected an InvalidRequestError');
};

describe('CreateResidentBody', () => {
  it('normalises the postcode and fills defaults', () => {
    expect(
      parseRequest(CreateResidentBody, { name: ' Edith ', address: '1 High St', postcode: 'gl12ab' }),
    ).toEqual({
      externalRef: null,
      name: 'Edith',
      address: '1 High St',
      postcode: 'GL1 2AB',
      phone: null,
      livesAlone: false,
      mobilityNotes: null,
      riskNotes: null,
      keySafe: null,
      medicalSummary: null,
      consent: false,
      referredOn: null,
      firstInstalledOn: null,
    });
  });

  it('takes a referral and a first-install day, the install not before the referral', () => {
    const base = { name: 'Edith', address: '1 High St', postcode: 'GL1 2AB' };
    expect(
      parseRequest(CreateResidentBody, { ...base, referredOn: '2025-06-01', firstInstalledOn: '2025-07-01' }),
    ).toMatchObject({ referredOn: '2025-06-01', firstInstalledOn: '2025-07-01' });
    expect(issuesOf(() => parseRequest(CreateResidentBody, { ...base, referredOn: '2025-02-30' }))).toEqual([
      { path: 'referredOn', message: 'must be a real date' },
    ]);
    expect(
      issuesOf(() =>
        parseRequest(CreateResidentBody, {
          ...base,
          referredOn: '2025-06-01',
          firstInstalledOn: '2025-05-01',
        }),
      ),
    ).toEqual([{ path: 'firstInstalledOn', message: 'must be on or after referredOn' }]);
  });

  it('names each missing field as required, even with no body at all', () => {
    expect(issuesOf(() => parseRequest(CreateResidentBody, undefined))).toEqual([
      { path: 'name', message: 'required' },
      { path: 'address', message: 'required' },
      { path: 'postcode', message: 'required' },
    ]);
  });

  it('names unknown fields one by one', () => {
    const issues = issuesOf(() =>
      parseRequest(CreateResidentBody, {
        name: 'A',
        address: 'B',
        postcode: 'GL1 2AB',
        livesalone: true,
        x: 1,
      }),
    );
    expect(issues.map((i) => i.path).sort()).toEqual(['livesalone', 'x']);
  });
});

describe('CreateDeviceBody', () => {
  it('defaults the protocol to mqtt and optional fields to null', () => {
    expect(parseRequest(CreateDeviceBody, { serial: 'PND-0001', kind: 'pendant' })).toEqual({
      serial: 'PND-0001',
      residentId: null,
      kind: 'pendant',
      protocol: 'mqtt',
      location: null,
      supervisionIntervalS: null,
      model: null,
      voiceUri: null,
      dc09Account: null,
      dc09Key: null,
      dc09KeyEncoding: 'hex',
      dc09CodeOverrides: {},
      dc09ClockZone: null,
    });
  });

  it("takes a home unit's speech line as a phone number or sip: URI, and nothing else", () => {
    const base = { serial: 'HUB-0001', kind: 'home-unit' };
    expect(parseRequest(CreateDeviceBody, { ...base, voiceUri: 'sip:unit-7@pbx.example.org' }).voiceUri).toBe(
      'sip:unit-7@pbx.example.org',
    );
    expect(parseRequest(CreateDeviceBody, { ...base, voiceUri: '01452 000222' }).voiceUri).toBe(
      '01452 000222',
    );
    expect(() => parseRequest(CreateDeviceBody, { ...base, voiceUri: 'javascript:alert(1)' })).toThrow(
      /phone number or a sip: URI/,
    );
  });

  it('upper-cases DC-09 code overrides and names a bad code or type', () => {
    const base = { serial: 'DSP-0002', kind: 'home-unit', protocol: 'dc09', dc09Account: '1a2b' };
    expect(
      parseRequest(CreateDeviceBody, { ...base, dc09CodeOverrides: { 'sia  ma': 'pendant.pressed' } })
        .dc09CodeOverrides,
    ).toEqual({ 'SIA MA': 'pendant.pressed' });
    expect(
      issuesOf(() =>
        parseRequest(CreateDeviceBody, { ...base, dc09CodeOverrides: { 'CID 1101': 'fall.detected' } }),
      ),
    ).toEqual([{ path: 'dc09CodeOverrides.CID 1101', message: expect.stringMatching(/3 hex digits/) }]);
  });

  it('keeps a DC-09 panel clock zone by its canonical IANA name, and refuses abbreviations', () => {
    const base = { serial: 'DSP-0003', kind: 'home-unit', protocol: 'dc09', dc09Account: '1a2b' };
    const zoneOf = (dc09ClockZone: unknown) =>
      parseRequest(CreateDeviceBody, { ...base, dc09ClockZone }).dc09ClockZone;
    expect(zoneOf('europe/london')).toBe('Europe/London');
    expect(zoneOf('UTC')).toBe('UTC');
    expect(zoneOf('Etc/GMT-1')).toBe('Etc/GMT-1');
    expect(zoneOf(null)).toBeNull();
    expect(parseRequest(UpdateDeviceBody, { dc09ClockZone: 'Europe/Paris' }).dc09ClockZone).toBe(
      'Europe/Paris',
    );
    // The time zone data reads BST as Bangladesh's, EST as Panama's.
    for (const zone of ['BST', 'EST', 'GB', 'Europe/Londres', '']) {
      expect(issuesOf(() => zoneOf(zone))).toEqual([
        { path: 'dc09ClockZone', message: expect.stringMatching(/^must be an IANA time zone/) },
      ]);
    }
  });

  it('refuses a DC-09 key of the wrong length for its encoding, naming the field', () => {
    const base = { serial: 'DSP-0001', kind: 'home-unit', protocol: 'dc09', dc09Account: '1a2b' };
    expect(issuesOf(() => parseRequest(CreateDeviceBody, { ...base, dc09Key: 'ab'.repeat(15) }))).toEqual([
      {
        path: 'dc09Key',
        message: 'must be 32, 48 or 64 hex digits (AES-128/192/256) for hex encoding, not 30',
      },
    ]);
    expect(
      issuesOf(() =>
        parseRequest(CreateDeviceBody, { ...base, dc09Key: 'x'.repeat(20), dc09KeyEncoding: 'ascii' }),
      ),
    ).toEqual([
      {
        path: 'dc09Key',
        message: 'must be 16, 24 or 32 characters (AES-128/192/256) for ascii encoding, not 20',
      },
    ]);
    expect(parseRequest(CreateDeviceBody, { ...base, dc09Key: '0123456789abcdef'.repeat(2) })).toMatchObject({
      dc09Account: '1A2B',
      dc09KeyEncoding: 'hex',
    });
  });

  it('refuses DC-09 fields on an MQTT device', () => {
    const issues = issuesOf(() =>
      parseRequest(CreateDeviceBody, { serial: 'PND-0002', kind: 'pendant', dc09Account: '1234' }),
    );
    expect(issues).toEqual([{ path: 'dc09Account', message: 'only for protocol dc09' }]);
  });

  it('refuses a serial that cannot be a KV key or topic level', () => {
    const issues = issuesOf(() => parseRequest(CreateDeviceBody, { serial: 'a/b.c', kind: 'pendant' }));
    expect(issues.map((i) => i.path)).toEqual(['serial']);
  });

  it('refuses a resident id of the wrong kind', () => {
    const issues = issuesOf(() =>
      parseRequest(CreateDeviceBody, { serial: 'PND-0001', kind: 'pendant', residentId: 'dev_0000000001' }),
    );
    expect(issues).toEqual([{ path: 'residentId', message: 'must be a resident id (res_…)' }]);
  });
});

describe('names and free text', () => {
  const base = { address: '1 High St', postcode: 'GL1 2AB' };

  it('keeps every name in one Unicode form (NFC), so a search typed either way finds it', () => {
    // "Zoë Núñez" as some keyboards and copied text give it: letters followed by combining marks.
    const decomposed = 'Zoe\u0308 Nu\u0301n\u0303ez';
    const created = parseRequest(CreateResidentBody, {
      ...base,
      name: decomposed,
      mobilityNotes: 'cafe\u0301',
    });
    expect(created.name).toBe('Zoë Núñez');
    expect(created.mobilityNotes).toBe('café');
    expect(parseRequest(UpdateResidentBody, { name: decomposed }).name).toBe('Zoë Núñez');
    // A device's location and model, on registration and on a change.
    const device = { serial: 'PND-0001', kind: 'pendant', location: 'cafe\u0301', model: 'Ne\u0301o' };
    expect(parseRequest(CreateDeviceBody, device)).toMatchObject({ location: 'café', model: 'Néo' });
    expect(parseRequest(UpdateDeviceBody, { location: 'cafe\u0301', model: 'Ne\u0301o' })).toEqual({
      location: 'café',
      model: 'Néo',
    });
    expect(parseRequest(ListResidentsQuery, { name: 'Zoe\u0308' }).name).toBe('Zoë');
    // 200 accented letters are 200 characters, however they were typed.
    expect(parseRequest(CreateResidentBody, { ...base, name: 'e\u0301'.repeat(200) }).name).toHaveLength(200);
  });

  it('refuses control and text-direction characters in a name, naming the field', () => {
    for (const name of [
      'Edith\nSmith',
      'Edith\u0007',
      'Edith \u202Ehtims',
      'Edith\u2066x\u2069',
      'Edith\u0085',
    ]) {
      expect(
        issuesOf(() => parseRequest(CreateResidentBody, { ...base, name })),
        JSON.stringify(name),
      ).toEqual([
        { path: 'name', message: 'must not contain control, invisible or text-direction characters' },
      ]);
    }
    // Notes may run over lines.
    expect(
      parseRequest(CreateResidentBody, { ...base, name: 'Edith', riskNotes: 'stairs\nsteep' }).riskNotes,
    ).toBe('stairs\nsteep');
  });

  it('refuses invisible characters in a name, which make one that looks registered but is not found', () => {
    // "Ed\u200Bith Smith" shows as "Edith Smith", is not found by a search for it, and passes the
    // import's same-name-and-postcode check: the same person registered twice.
    for (const name of ['Ed\u200Bith Smith', 'Edith\u2060 Smith', 'Edith\uFEFF Smith', 'Ed\u00ADith Smith']) {
      expect(
        issuesOf(() => parseRequest(CreateResidentBody, { ...base, name })),
        JSON.stringify(name),
      ).toEqual([
        { path: 'name', message: 'must not contain control, invisible or text-direction characters' },
      ]);
      expect(
        issuesOf(() => parseRequest(UpdateResidentBody, { name })),
        JSON.stringify(name),
      ).toEqual([
        { path: 'name', message: 'must not contain control, invisible or text-direction characters' },
      ]);
    }
    // The joiners are letters' business in Persian and Indic names, and stay.
    const persian = '\u0645\u06CC\u200C\u0631\u0636\u0627';
    expect(parseRequest(CreateResidentBody, { ...base, name: persian }).name).toBe(persian);
    expect(
      parseRequest(CreateResidentBody, { ...base, name: 'Lakshmi \u0932\u0915\u094D\u200D\u0937' }).name,
    ).toBe('Lakshmi \u0932\u0915\u094D\u200D\u0937');
  });
});
