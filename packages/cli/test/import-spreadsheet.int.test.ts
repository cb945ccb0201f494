import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../src/index.ts';
import { type Run, runInProcess } from './support.ts';

// `telecare import` with the files a spreadsheet writes: Excel's plain "CSV" on Windows is
// Windows-1252, a header typed by hand has capitals, and a long file takes a while.
const ns = uniqueNamespace('clisheet');
const env = serviceEnv(ns, { REGISTRY_PORT: '0' });
const logger = createLogger('clisheet-test', env.LOG_LEVEL);
let registry: RegistryHandle;
let dir: string;

const cliEnv = () => ({ TELECARE_REGISTRY_URL: registry.url, TELECARE_TOKEN: env.TELECARE_ADMIN_TOKEN! });
const cli = (args: string[]): Promise<Run> => runInProcess(args, cliEnv());

beforeAll(async () => {
  registry = await startRegistry(loadRegistryConfig(env), { logger });
  dir = mkdtempSync(join(tmpdir(), 'telecare-clisheet-'));
});

afterAll(async () => {
  await registry?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
  await cleanupNamespace(ns);
});

describe('telecare import with a spreadsheet export', () => {
  it('refuses a Windows-1252 file naming its line, and reads it as that with --encoding windows-1252', async () => {
    const file = join(dir, 'residents-1252.csv');
    // "Zoë O’Brien" as Excel on Windows writes it: ë is 0xEB, the curly apostrophe 0x92.
    const row = Buffer.concat([
      Buffer.from('CP-1,Zo'),
      Buffer.from([0xeb]),
      Buffer.from(' O'),
      Buffer.from([0x92]),
      Buffer.from('Brien,1 High Street,GL1 2AB\r\n'),
    ]);
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from('ref,name,address,postcode\r\nCP-0,Ann Plain,2 High Street,GL1 2AB\r\n'),
        row,
      ]),
    );
    const refused = await cli(['import', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('is not UTF-8 text (line 3 is not)');
    expect(refused.stderr).toContain('--encoding windows-1252');
    expect((await cli(['--json', 'resident', 'search', 'CP-'])).stdout).toContain('"total":0');

    const read = await cli(['import', file, '--encoding', 'windows-1252']);
    expect(read.stdout).toMatch(/residents\.csv line 3: CP-1 res_\S+ created/);
    expect(read.code).toBe(0);
    const found = JSON.parse((await cli(['--json', 'resident', 'search', 'Brien'])).stdout);
    expect(found.residents.map((r: { name: string }) => r.name)).toEqual(['Zoë O’Brien']);
  });

  it('tells devices.csv by a header typed with capitals and spaces', async () => {
    const residents = join(dir, 'caps-residents.csv');
    const devices = join(dir, 'caps-devices.csv');
    writeFileSync(residents, '\uFEFFRef,Name,Address,Postcode\r\nCAP-1,Rita Row,1 Street,gl34ab\r\n');
    writeFileSync(devices, '\uFEFF Serial , Kind , Resident \r\nCAP-PND-1,pendant,CAP-1\r\n');
    const imported = await cli(['import', residents, devices]);
    expect(imported.stdout).toContain('devices.csv line 2: CAP-PND-1 created');
    expect(imported.code).toBe(0);
  });

  it('refuses a file larger than the registry takes before sending it, saying how to split it', async () => {
    const file = join(dir, 'huge-residents.csv');
    const rows = ['ref,name,address,postcode'];
    for (let i = 0; i < 70_000; i++)
      rows.push(`HUGE-${i},Resident ${i},${i} A Rather Long Road Name,GL3 4AB`);
    writeFileSync(file, rows.join('\r\n'));
    const refused = await cli(['import', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(
      /^telecare: huge-residents\.csv: 4\.\d MiB to send, .* at most 4 MiB .*split the rows/,
    );
    expect((await cli(['--json', 'resident', 'search', 'HUGE-'])).stdout).toContain('"total":0');
  });

  it('shows on a terminal that the import is at work, and nothing on stderr when not one', async () => {
    const file = join(dir, 'live-residents.csv');
    writeFileSync(file, 'ref,name,address,postcode\nLIVE-1,Lena Live,1 Street,GL3 4AB\n');
    let stderr = '';
    const code = await runCli(['import', file], {
      stdout: () => undefined,
      stderr: (text) => {
        stderr += text;
      },
      env: cliEnv(),
      interactive: true,
    });
    expect(code).toBe(0);
    expect(stderr).toContain(
      'importing live-residents.csv (2 lines): the registry checks every row, then writes',
    );
    const quiet = await cli(['import', file]);
    expect(quiet.stderr).toBe('');
  });
});
