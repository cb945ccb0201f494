import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '@telecare/platform';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
import { loadTriageConfig, startTriage, type TriageHandle } from '@telecare/triage';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBinary, runInProcess } from './support.ts';

const ns = uniqueNamespace('cli-rules');
const env = serviceEnv(ns, { TRIAGE_PORT: '0', TELECARE_PARTITIONS: '1' });
const logger = createLogger('cli-rules-test', env.LOG_LEVEL);
let triage: TriageHandle;
let dir: string;

const cli = (args: string[], token = env.TELECARE_ADMIN_TOKEN) =>
  runInProcess(args, { TELECARE_TRIAGE_URL: triage.url, TELECARE_TOKEN: token });

beforeAll(async () => {
  triage = await startTriage(loadTriageConfig(env), { logger });
  dir = mkdtempSync(join(tmpdir(), 'telecare-cli-rules-'));
});

afterAll(async () => {
  await triage?.close();
  await cleanupNamespace(ns);
  rmSync(dir, { recursive: true, force: true });
});

describe('telecare rules', () => {
  it('gets the rules in force, puts an edited version based on its revision, and lists the versions', async () => {
    const file = join(dir, 'rules.json');
    const got = await cli(['rules', 'get', '--save', file]);
    expect(got.code).toBe(0);
    expect(got.stdout).toContain('rules in force: version 1');
    expect(got.stdout).toContain('the default rules: no valid rule set stored');
    expect(got.stdout).toMatch(/trigger\.pendant\s+v\d+\s+trigger/);
    expect(got.stdout).toContain(`telecare rules put ${file} --based-on 0`);
    expect((await cli(['rules', 'history'])).stdout).toContain('no rule set stored yet');

    const edited = JSON.parse(readFileSync(file, 'utf8'));
    edited.version = 2;
    writeFileSync(file, JSON.stringify(edited));
    const put = await cli(['rules', 'put', file, '--based-on', '0']);
    expect(put).toMatchObject({ code: 0, stderr: '' });
    expect(put.stdout).toMatch(/^rule set version 2 \(\d+ rules\) stored as revision 1 and in force\n$/);

    // Based on a revision that is no longer the latest: refused, and nothing changes.
    edited.version = 3;
    writeFileSync(file, JSON.stringify(edited));
    const stale = await cli(['rules', 'put', file, '--based-on', '0']);
    expect(stale.code).toBe(2);
    expect(stale.stderr).toContain('the rule set changed since revision 0');
    const again = await cli(['rules', 'put', file, '--based-on', '1', '--json']);
    expect(JSON.parse(again.stdout)).toMatchObject({ version: 3, revision: 2 });

    const history = await cli(['rules', 'history']);
    expect(history.stdout.split('\n')[0]).toMatch(/^revision 2\s+version 3\s+\d+ rules {2}\S+ {2}admin$/);
    expect(history.stdout).toMatch(/revision 1\s+version 2/);
    expect(JSON.parse((await cli(['--json', 'rules', 'get'])).stdout)).toMatchObject({
      source: 'stored',
      revision: 2,
      version: 3,
      putBy: 'admin',
    });
  });

  it('refuses an invalid rule set with the path and reason of each error, and a wrong token', async () => {
    const file = join(dir, 'broken.json');
    writeFileSync(
      file,
      JSON.stringify({
        version: 9,
        rules: [{ id: 'x', version: 1, kind: 'trigger', on: ['pendant.squeezed'], reason: '{what}' }],
      }),
    );
    const refused = await cli(['rules', 'put', file]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('rules.0.on.0: unknown event type "pendant.squeezed"');
    expect((await cli(['rules', 'get'], 'wrong-token-0123456789')).code).toBe(3);
  });

  // The real binary compiles the CLI afresh: seconds on a loaded machine.
  it('runs as the real binary: --json on stdout, exit 0', async () => {
    const run = await runBinary(['--json', 'rules', 'history'], {
      TELECARE_TRIAGE_URL: triage.url,
      TELECARE_TOKEN: env.TELECARE_ADMIN_TOKEN,
    });
    expect(run).toMatchObject({ code: 0, stderr: '' });
    expect((JSON.parse(run.stdout) as { versions: unknown[] }).versions).toHaveLength(2);
  }, 60_000);
});
