import { describe, expect, it } from 'vitest';
import { csvCell, csvRow } from './csv.ts';

describe('csvCell', () => {
  it('neutralises a leading = + - @ tab or CR so a spreadsheet shows text, not a formula', () => {
    expect(csvCell('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvCell('+44 7700')).toBe("'+44 7700");
    expect(csvCell('-2+3')).toBe("'-2+3");
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('\tx')).toBe("'\tx");
  });

  // Spreadsheets skip leading blanks before they look for a formula, some locales read the
  // full-width signs as the ASCII ones, and a leading | starts a DDE call in older Excel.
  it.each([
    ['a formula after leading spaces', '  =1+2', `'  =1+2`],
    ['a formula after a leading tab', '\t=1+2', `'\t=1+2`],
    ['a formula after a line break', '\n@SUM(A1)', `"'\n@SUM(A1)"`],
    ['a formula after a no-break space', '\u00a0=1+2', `'\u00a0=1+2`],
    ['a value starting with CR', '\rx', `"'\rx"`],
    ['a full-width equals sign', '＝1+2', `'＝1+2`],
    ['a full-width plus sign', '＋1', `'＋1`],
    ['a full-width hyphen-minus', '－1', `'－1`],
    ['a full-width commercial at', '＠SUM(A1)', `'＠SUM(A1)`],
    ['a full-width sign after spaces', ' ＝1+2', `' ＝1+2`],
    ['a DDE call', `|' /C calc'!A0`, `'|' /C calc'!A0`],
    ['a DDE call after spaces', `  |' /C calc'!A0`, `'  |' /C calc'!A0`],
    ['a DDE call written as one', `=cmd|' /C calc'!A0`, `'=cmd|' /C calc'!A0`],
    ['text that reads as a negative number', '-3', `'-3`],
  ])('neutralises %s', (_, value, cell) => {
    expect(csvCell(value)).toBe(cell);
  });

  it('leaves ordinary values alone and quotes commas, quotes and line breaks', () => {
    expect(csvCell('PND-0001')).toBe('PND-0001');
    expect(csvCell('GL1 2AB')).toBe('GL1 2AB');
    expect(csvCell('answered within 60 s')).toBe('answered within 60 s');
    // A | inside text starts nothing: only a cell's first character after blanks does.
    expect(csvCell('cmd|x')).toBe('cmd|x');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvRow(['a', '=1', 'b\nc'])).toBe(`a,'=1,"b\nc"`);
  });

  it('writes the figures the platform holds as numbers as they are, negative ones too', () => {
    expect(csvCell(-3)).toBe('-3');
    expect(csvCell(-0.25)).toBe('-0.25');
    expect(csvCell(-1e-7)).toBe('-1e-7');
    expect(csvCell(12)).toBe('12');
    expect(csvCell(true)).toBe('true');
    expect(csvCell(null)).toBe('');
    expect(csvRow(['mean_change', -2, '-2'])).toBe(`mean_change,-2,'-2`);
  });

  it('writes a figure that is not a finite number as text, never as a formula', () => {
    expect(csvCell(Number.NEGATIVE_INFINITY)).toBe(`'-Infinity`);
  });
});
