import { describe, expect, it } from 'vitest';
import { type ImportError, readCell, readCsv } from './spreadsheet.ts';

const COLUMNS = { required: ['ref', 'name'], optional: ['phone', 'referredOn'] };

const readCsvWith = (text: string) => {
  const errors: ImportError[] = [];
  return { rows: readCsv('residents', text, COLUMNS, errors), errors };
};

const read = (text: string) => {
  const { rows, errors } = readCsvWith(text);
  return { rows: rows.map((r) => ({ line: r.line, ...r.values, problems: r.problems.length })), errors };
};

describe('a CSV as a spreadsheet exports it', () => {
  it('reads a byte-order mark, Windows line ends, a header typed in other case and spaces', () => {
    expect(read('\uFEFF Ref , NAME \r\nA-1,Edith Example\r\n')).toEqual({
      rows: [{ line: 2, ref: 'A-1', name: 'Edith Example', problems: 0 }],
      errors: [],
    });
    expect(read('Ref,Name,Referred On\nA-1,Edith,\n').rows[0]).toMatchObject({ referredOn: '' });
  });

  it('skips blank lines and rows of empty cells, and numbers each row by the line it starts on', () => {
    const text = 'ref,name\r\n,\r\n"A-1","Edith\r\n""Edie"" Example"\r\n\r\n , \r\nA-2,Arthur\r\n,,\r\n\r\n';
    expect(read(text)).toEqual({
      rows: [
        { line: 3, ref: 'A-1', name: 'Edith\r\n"Edie" Example', problems: 0 },
        { line: 7, ref: 'A-2', name: 'Arthur', problems: 0 },
      ],
      errors: [],
    });
  });

  it('counts old Mac line ends (CR alone) as lines too', () => {
    expect(read('ref,name\rA-1,Edith\r\rA-2,Arthur\r').rows.map((r) => r.line)).toEqual([2, 4]);
  });

  it('names the line an unclosed quote starts on, however many lines it swallowed', () => {
    const { errors } = read('ref,name\r\nA-1,Edith\r\nA-2,"Arthur\r\nA-3,Mary\r\n');
    expect(errors).toEqual([expect.objectContaining({ line: 3, field: 'name' })]);
    expect(errors[0]?.message).toBe(
      'not readable CSV: Quote Not Closed: the parsing is finished with an opening quote',
    );
  });

  it('turns no-break spaces into spaces and trims them, so the name is the one a search finds', () => {
    expect(read('ref,name\nA-1,\u00A0Edith\u00A0Example\u00A0 \n').rows[0]).toMatchObject({
      name: 'Edith Example',
    });
  });

  it('ignores the unnamed empty columns a spreadsheet adds at the end of the header', () => {
    expect(read('ref,name,,\r\nA-1,Edith,,\r\n')).toEqual({
      rows: [{ line: 2, ref: 'A-1', name: 'Edith', problems: 0 }],
      errors: [],
    });
    // A value under no header name is the row's error, not lost.
    const { rows } = readCsvWith('ref,name,,\r\nA-1,Edith,,x\r\n');
    expect(rows[0]?.problems).toEqual([
      expect.objectContaining({
        line: 2,
        field: 'column 4',
        message: 'has 4 cells, but the header names 2 columns',
      }),
    ]);
    expect(read('ref,,name\n').errors).toEqual([
      expect.objectContaining({ line: 1, field: 'column 2', message: 'column 2 has no name in the header' }),
    ]);
  });

  it('refuses a file separated by semicolons, saying so, rather than list one unknown column', () => {
    expect(read('ref;name\r\nA-1;Edith\r\n').errors).toEqual([
      {
        file: 'residents',
        line: 1,
        field: '(file)',
        message:
          'its columns are separated by ; (a spreadsheet set to a European language): save it as CSV with commas',
      },
    ]);
  });

  it('still refuses a column it does not know, and one given twice in other spellings', () => {
    expect(read('ref,name,colour\n').errors).toEqual([
      expect.objectContaining({ line: 1, field: 'colour', message: 'unknown column colour' }),
    ]);
    expect(read('ref,name,Phone,phone\n').errors).toEqual([
      expect.objectContaining({ field: 'phone', message: 'column phone appears twice' }),
    ]);
  });
});

describe('a cell a spreadsheet changed', () => {
  it('refuses a number that lost its leading 0 or + rather than dial another one', () => {
    expect(readCell('phone', '7700900123').problem).toMatch(/does not start with 0 or \+.*07700900123/);
    expect(readCell('phone', '447700900123').problem).toMatch(/\+447700900123/);
    expect(readCell('phone', '07700 900123')).toEqual({ value: '07700 900123' });
    expect(readCell('phone', '+44 7700 900123')).toEqual({ value: '+44 7700 900123' });
  });

  it('refuses a serial or number in scientific notation, or cut to 15 digits', () => {
    expect(readCell('serial', '1.23457E+11').problem).toMatch(/scientific notation.*digits .* are lost/);
    expect(readCell('phone', '7.7009E+09').problem).toMatch(/scientific notation/);
    expect(readCell('serial', '8944100000000012340').problem).toBeUndefined();
    expect(readCell('serial', '8944100000000010000').problem).toMatch(/15th digit/);
    // A genuine serial that ends so has a way through: registered alone, as given.
    expect(readCell('serial', '8944100000000010000').problem).toMatch(
      /telecare device register --serial 8944100000000010000/,
    );
    // A hex DC-09 account may read like a small exponent: only a spreadsheet's form is refused.
    expect(readCell('dc09Account', '1E03')).toEqual({ value: '1E03' });
    expect(readCell('name', '1.5E+3')).toEqual({ value: '1.5E+3' });
  });

  it("reads a UK day/month/year date and refuses a spreadsheet's day number, naming its day", () => {
    expect(readCell('referredOn', '06/12/2024')).toEqual({ value: '2024-12-06' });
    expect(readCell('referredOn', '6/1/2025')).toEqual({ value: '2025-01-06' });
    expect(readCell('referredOn', '2024-12-06')).toEqual({ value: '2024-12-06' });
    expect(readCell('referredOn', '12/31/2024').problem).toMatch(/31 is not a month/);
    expect(readCell('referredOn', '45632').problem).toMatch(/day number \(2024-12-06 in Excel/);
  });

  it('reads a number of seconds written with thousands separators', () => {
    expect(readCell('supervisionIntervalS', '86,400')).toEqual({ value: '86400' });
    expect(readCell('supervisionIntervalS', '3,6')).toEqual({ value: '3,6' });
  });

  it('refuses text with a replacement character: the file was read in the wrong encoding', () => {
    expect(readCell('name', 'Zo\uFFFD')).toMatchObject({ problem: expect.stringMatching(/UTF-8/) });
  });
});
