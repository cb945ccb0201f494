import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { consolePolicy } from './web-security.ts';

describe('consolePolicy', () => {
  it("allows scripts from its own origin only, the inline style by hash, never 'unsafe-inline', and no framing", () => {
    const html = '<html><style>b{color:red}</style><script>console.log(1)</script></html>';
    const policy = consolePolicy(html);
    const hash = (t: string) => createHash('sha256').update(t).digest('base64');
    // An inline script is not allowed, even one in the page: the console's script is a file.
    expect(policy).toContain("script-src 'self';");
    expect(policy).not.toContain(hash('console.log(1)'));
    expect(policy).toContain(`style-src 'sha256-${hash('b{color:red}')}'`);
    expect(policy).toContain("frame-ancestors 'none'");
    expect(policy).toContain("default-src 'none'");
    expect(policy).not.toMatch(/script-src[^;]*unsafe/);
    expect(policy).not.toMatch(/style-src [^;]*unsafe/);
  });
});
