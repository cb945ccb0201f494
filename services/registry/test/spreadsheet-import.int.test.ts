import { names } from '@telecare/contracts';
import { createLogger } from '@telecare/platform';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { apiCaller } from './support.ts';

// Installers keep their lists in Excel or LibreOffice and export CSV: what those write is what the
// import gets, and what it cannot read without a guess it refuses, naming the row and the column.
const ns = uniqueNamespace('regsheet');
const n = names(ns);
const env = serviceEnv(ns, { REGISTRY_PORT: '0' });
const config = loadRegistryConfig(env);
const token = env.TELECARE_ADMIN_TOKEN!;
const logger = createLogger('regsheet-test', env.LOG_LEVEL);

let registry: RegistryHandle;
let db: pg.Client;
const call = apiCaller(
  () => registry.url,
  () => token,
);

interface Errors {
  errors: Array<{ file: string; line: number; field: string; message: string }>;
}

const count = async (table: 'residents' | 'devices', where: string, value: string): Promise<number> => {
  const { rows } = await db.query<{ n: number }>(
    `select count(*)::int as n from "${n.schema('registry')}".${table} where ${where} like $1`,
    [value],
  );
  return rows[0]!.n;
};

beforeAll(async () => {
  registry = await startRegistry(config, { logger });
  db = new pg.Client({ connectionString: servers.databaseUrl });
  await db.connect();
});

afterAll(async () => {
  await registry?.close();
  await db?.end();
  await cleanupNamespace(ns);
});

describe("an installer's spreadsheet, exported as CSV", () => {
  // Excel on Windows: a byte-order mark, CRLF, a header typed by hand, a cell with a line break and
  // quotes, a name pasted with no-break spaces, a postcode in lower case, a UK date, a trailing row
  // of commas and a blank line.
  const residents = [
    '\uFEFFRef, Name ,Address,POSTCODE,Phone,Referred On,Lives Alone,Risk Notes',
    'XL-1,Zoë\u00A0O’Brien,"Flat 2\r\n""The Maltings"", Gloucester",gl12ab,01452 000001,06/12/2024,TRUE,"=HYPERLINK(""http://x.example"",""falls"")"',
    'XL-2,Arthur Sample ,22 Park Road,GL5 1AA ,07700 900002,2024-11-30,no,-2 steps at the door',
    ',,,,,,,',
    '',
  ].join('\r\n');
  const devices = [
    'Serial,Kind,Resident,Location',
    'XL-PND-1,pendant,XL-1,worn',
    'XL-PND-2,pendant,XL-2,',
  ].join('\r\n');

  it('imports it as people wrote it, normalised, and a second run of the same file changes nothing', async () => {
    const first = await call('POST', '/api/import', { residents, devices });
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({
      imported: true,
      residents: [
        { line: 2, ref: 'XL-1', action: 'created' },
        { line: 4, ref: 'XL-2', action: 'created' },
      ],
      devices: [
        { line: 2, serial: 'XL-PND-1', action: 'created' },
        { line: 3, serial: 'XL-PND-2', action: 'created' },
      ],
      errors: [],
    });
    const id = (first.body.residents as Array<{ id: string }>)[0]!.id;
    const zoe = await call('GET', `/api/residents/${id}`);
    expect(zoe.body).toMatchObject({
      name: 'Zoë O’Brien',
      address: 'Flat 2\r\n"The Maltings", Gloucester',
      postcode: 'GL1 2AB',
      referredOn: '2024-12-06',
      livesAlone: true,
      // Stored as typed, as text: the CSVs the platform writes neutralise it (reports' csv.ts, the CLI's).
      riskNotes: '=HYPERLINK("http://x.example","falls")',
    });
    const again = await call('POST', '/api/import', { residents, devices });
    expect(again.status).toBe(200);
    expect((again.body.residents as Array<{ action: string }>).map((r) => r.action)).toEqual([
      'unchanged',
      'unchanged',
    ]);
    expect((again.body.devices as Array<{ action: string }>).map((d) => d.action)).toEqual([
      'unchanged',
      'unchanged',
    ]);
    expect(await count('residents', 'external_ref', 'XL-%')).toBe(2);
  });

  it('refuses what a spreadsheet changed beyond reading, naming the row and column, and writes nothing', async () => {
    const mangled = [
      'ref,name,address,postcode,phone,referredOn',
      'MG-1,Edith Example,1 High Street,GL1 2AB,7700900123,',
      'MG-2,Zo\uFFFD Example,2 High Street,GL1 2AB,,',
      'MG-3,Mary Specimen,3 High Street,GL1 2AB,,45632',
      'MG-4,Ada Example,4 High Street,GL1 2AB,,',
    ].join('\r\n');
    const serials = ['serial,kind,resident', '1.23457E+11,pendant,MG-4'].join('\r\n');
    const refused = await call('POST', '/api/import', { residents: mangled, devices: serials });
    expect(refused.status).toBe(422);
    expect((refused.body as unknown as Errors).errors.map((e) => [e.file, e.line, e.field])).toEqual([
      ['residents', 2, 'phone'],
      ['residents', 3, 'name'],
      ['residents', 4, 'referredOn'],
      ['devices', 2, 'serial'],
    ]);
    const [phone, name, day, serial] = (refused.body as unknown as Errors).errors.map((e) => e.message);
    expect(phone).toMatch(/07700900123/);
    expect(name).toMatch(/UTF-8/);
    expect(day).toMatch(/2024-12-06/);
    expect(serial).toMatch(/scientific notation/);
    expect(await count('residents', 'external_ref', 'MG-%')).toBe(0);
  });

  it('names the line a duplicated row repeats, and keeps a device paired with someone else where it is', async () => {
    const dup = [
      'ref,name,address,postcode',
      'DU-1,Edith Example,1 High Street,GL1 2AB',
      'DU-2,Arthur Sample,2 High Street,GL1 2AB',
      'DU-1,Edith Example,1 High Street,GL1 2AB',
    ].join('\n');
    const taken = [
      'serial,kind,resident',
      'XL-PND-1,pendant,DU-2',
      'DU-PND,pendant,DU-2',
      'DU-PND,pendant,DU-2',
    ];
    const refused = await call('POST', '/api/import', { residents: dup, devices: taken.join('\n') });
    expect(refused.status).toBe(422);
    expect((refused.body as unknown as Errors).errors).toEqual([
      expect.objectContaining({
        file: 'residents',
        line: 4,
        field: 'ref',
        message: expect.stringMatching(/line 2/),
      }),
      expect.objectContaining({
        file: 'devices',
        line: 2,
        field: 'resident',
        message: expect.stringMatching(/unpair/),
      }),
      expect.objectContaining({
        file: 'devices',
        line: 4,
        field: 'serial',
        message: expect.stringMatching(/line 3/),
      }),
    ]);
    // With the good rows asked for: those go in, the refused ones are named, the paired device stays.
    const partly = await call('POST', '/api/import', {
      residents: dup,
      devices: taken.join('\n'),
      importValid: true,
    });
    expect(partly.status).toBe(200);
    expect(partly.body).toMatchObject({
      imported: true,
      residents: [
        { line: 2, ref: 'DU-1', action: 'created' },
        { line: 3, ref: 'DU-2', action: 'created' },
      ],
      devices: [{ line: 3, serial: 'DU-PND', action: 'created' }],
    });
    expect(await count('residents', 'external_ref', 'DU-%')).toBe(2);
  });

  it('refuses a 20,000-row file for its row 15,000 by line and column, and writes none of the rest', async () => {
    const rows = ['ref,name,address,postcode,phone'];
    for (let i = 1; i <= 20_000; i++) {
      rows.push(
        `BIG-${i},Resident ${i},${i} Long Road,GL1 2AB,${i === 15_000 ? '1452000001' : '01452 000001'}`,
      );
    }
    const refused = await call('POST', '/api/import', { residents: rows.join('\r\n') });
    expect(refused.status).toBe(422);
    expect((refused.body as unknown as Errors).errors).toEqual([
      expect.objectContaining({ file: 'residents', line: 15_001, field: 'phone' }),
    ]);
    expect(refused.body.imported).toBe(false);
    expect(await count('residents', 'external_ref', 'BIG-%')).toBe(0);
  }, 120_000);
});
