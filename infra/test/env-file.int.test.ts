import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readEnvFile, writeEnvFile } from '../lib/env.ts';

const dir = mkdtempSync(join(tmpdir(), 'telecare-env-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('.data/stack.env, which holds the admin token', () => {
  it('is readable by its owner alone, a file already there (readable by everyone) too', () => {
    const made = join(dir, 'new.env');
    writeEnvFile(made, { TELECARE_ADMIN_TOKEN: 'a'.repeat(40) }, 'test');
    expect(statSync(made).mode & 0o777).toBe(0o600);

    // A mode given when writing applies only to a file that is made: one left by an earlier run
    // readable by everyone stayed so, with the admin token written into it.
    const existing = join(dir, 'existing.env');
    writeFileSync(existing, '# old\n');
    chmodSync(existing, 0o644);
    writeEnvFile(existing, { TELECARE_ADMIN_TOKEN: 'b'.repeat(40) }, 'test');
    expect(statSync(existing).mode & 0o777).toBe(0o600);
    expect(readEnvFile(existing).TELECARE_ADMIN_TOKEN).toBe('b'.repeat(40));
    expect(readFileSync(existing, 'utf8')).not.toContain('# old');
  });
});
