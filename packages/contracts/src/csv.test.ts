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

  it('leaves ordinary values alone and quotes commas, quotes and line breaks', () => {
    expect(csvCell('PND-0001')).toBe('PND-0001');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell('say "hi"')).toBe('"say ""hi"""');
    expect(csvRow(['a', '=1', 'b\nc'])).toBe(`a,'=1,"b\nc"`);
  });
});
