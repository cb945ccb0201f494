import { describe, expect, it } from 'vitest';
import { InvalidRequestError } from './errors.ts';
import { CreateDeviceBody, CreateResidentBody, parseRequest } from './schemas.ts';

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
    ).toEqual({ name: 'Edith', address: '1 High St', postcode: 'GL1 2AB', phone: null, livesAlone: false });
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
    });
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
