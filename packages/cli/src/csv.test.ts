import { describe, expect, it } from 'vitest';
import { csvField, csvLine } from './csv.ts';

describe('csvField', () => {
  it('neutralises a leading = + - @ tab or CR so a spreadsheet shows text, not a formula', () => {
    expect(csvField('=HYPERLINK("http://x")')).toBe(`"'=HYPERLINK(""http://x"")"`);
    expect(csvField('+44 7700')).toBe("'+44 7700");
    expect(csvField('-2+3')).toBe("'-2+3");
    expect(csvField('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvField('\tx')).toBe("'\tx");
  });

  it('leaves ordinary values alone and quotes commas, quotes and line breaks', () => {
    expect(csvField('PND-0001')).toBe('PND-0001');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvLine(['a', '=1', 'b\nc'])).toBe(`a,'=1,"b\nc"`);
  });
});
