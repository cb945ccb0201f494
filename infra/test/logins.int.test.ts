import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// infra is not a workspace package, so it reaches the testkit by path (tsconfig references it).
import { cleanupNamespace, freePort, serviceEnv, uniqueNamespace } from '../../packages/testkit/src/index.ts';
import type { EnvValues } from '../lib/env.ts';

// .data/stack.env of this file only: paths.ts reads TELECARE_DATA_DIR when it is first imported,
// so every module that reaches it is imported after it is set (static imports would run first).
const dataDir = mkdtempSync(path.join(tmpdir(), 'telecare-logins-'));
process.env.TELECARE_DATA_DIR = dataDir;
const { resolveStackEnv, saveStackEnv } = await import('../lib/env.ts');
const { repoRoot, stackEnvFile, tsxBin } = await import('../lib/paths.ts');
const { demoSignInLink, ensureDemoOperator, operatorLine, signInLine } = await import('../lib/logins.ts');
const { banner } = await import('../lib/output.ts');
const { stopProcess, waitReady } = await import('../lib/processes.ts');
const { services } = await import('../lib/services.ts');

const KEYS = [
  'HELPLINE_ADMIN_EMAIL',
  'HELPLINE_ADMIN_PASSWORD',
  'DEMO_OPERATOR_EMAIL',
  'DEMO_OPERATOR_PASSWORD',
];
const savedEnv = Object.fromEntries(KEYS.map((key) => [key, process.env[key]]));

afterAll(() => {
  for (const key of KEYS) {
    if (savedEnv[key] === undefined) delete process.env[key];
    else process.env[key] = savedEnv[key];
  }
  rmSync(dataDir, { recursive: true, force: true });
});

describe('console sign-ins in .data/stack.env', () => {
  it('generates the admin and operator passwords once, keeps them across starts, and lets the environment win', () => {
    expect(stackEnvFile).toBe(path.join(dataDir, 'stack.env'));
    for (const key of KEYS) delete process.env[key];
    const first = resolveStackEnv();
    expect(first).toMatchObject({
      HELPLINE_ADMIN_EMAIL: 'admin@telecare.local',
      DEMO_OPERATOR_EMAIL: 'operator@telecare.local',
    });
    expect(first.HELPLINE_ADMIN_PASSWORD).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(first.DEMO_OPERATOR_PASSWORD).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(first.DEMO_OPERATOR_PASSWORD).not.toBe(first.HELPLINE_ADMIN_PASSWORD);
    saveStackEnv(first);
    const file = path.join(dataDir, 'stack.env');
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, 'utf8')).toContain(`HELPLINE_ADMIN_PASSWORD=${first.HELPLINE_ADMIN_PASSWORD}`);

    expect(resolveStackEnv().HELPLINE_ADMIN_PASSWORD).toBe(first.HELPLINE_ADMIN_PASSWORD);
    expect(resolveStackEnv().DEMO_OPERATOR_PASSWORD).toBe(first.DEMO_OPERATOR_PASSWORD);
    // The helpline's registry token: its own, never the admin token, kept across starts.
    expect(first.HELPLINE_REGISTRY_TOKEN).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(first.HELPLINE_REGISTRY_TOKEN).not.toBe(first.TELECARE_ADMIN_TOKEN);
    expect(resolveStackEnv().HELPLINE_REGISTRY_TOKEN).toBe(first.HELPLINE_REGISTRY_TOKEN);
    expect(first.REPORTS_REGISTRY_TOKEN).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(first.REPORTS_REGISTRY_TOKEN).not.toBe(first.TELECARE_ADMIN_TOKEN);
    expect(first.REPORTS_REGISTRY_TOKEN).not.toBe(first.HELPLINE_REGISTRY_TOKEN);
    expect(resolveStackEnv().REPORTS_REGISTRY_TOKEN).toBe(first.REPORTS_REGISTRY_TOKEN);
    // The helpline's token for triage's event index, and where triage is.
    expect(first.HELPLINE_TRIAGE_TOKEN).toMatch(/^[A-Za-z0-9_-]{32,}$/);
    expect(first.HELPLINE_TRIAGE_TOKEN).not.toBe(first.TELECARE_ADMIN_TOKEN);
    expect(resolveStackEnv().HELPLINE_TRIAGE_TOKEN).toBe(first.HELPLINE_TRIAGE_TOKEN);
    expect(first.TRIAGE_URL).toMatch(/^http:\/\/[^/]+:\d+$/);
    process.env.HELPLINE_ADMIN_PASSWORD = 'from-the-environment';
    expect(resolveStackEnv().HELPLINE_ADMIN_PASSWORD).toBe('from-the-environment');
    delete process.env.HELPLINE_ADMIN_PASSWORD;
  });

  it('carries every URL the telecare CLI needs', () => {
    const values = resolveStackEnv();
    expect(values.REGISTRY_URL).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(values.TELECARE_REGISTRY_URL).toBe(values.REGISTRY_URL);
  });
});

describe('the demo logins against a real helpline process', () => {
  const ns = uniqueNamespace('logins');
  let child: ChildProcess;
  let url: string;
  let values: EnvValues;

  beforeAll(async () => {
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    values = {
      ...serviceEnv(ns),
      HELPLINE_PORT: String(port),
      HELPLINE_ADMIN_EMAIL: 'admin@telecare.local',
      HELPLINE_ADMIN_PASSWORD: 'admin-pw-0123456789',
      DEMO_OPERATOR_EMAIL: 'operator@telecare.local',
      DEMO_OPERATOR_PASSWORD: 'operator-pw-0123456789',
    };
    // As the stack starts it: the service's main under tsx, in its own process group.
    child = spawn(tsxBin, ['services/helpline/src/main.ts'], {
      cwd: repoRoot,
      env: { ...process.env, ...values },
      detached: true,
      stdio: 'ignore',
    });
    let exit: string | undefined;
    child.once('exit', (code, signal) => {
      exit = signal ? `signal ${signal}` : `exit code ${code}`;
    });
    await waitReady({ service: 'helpline', url: `${url}/readyz`, timeoutMs: 30_000, exited: () => exit });
  });

  afterAll(async () => {
    if (child?.pid !== undefined) await stopProcess(child.pid, { group: true });
    await cleanupNamespace(ns);
  });

  const login = async (username: string, password: string) =>
    (
      await fetch(`${url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username, password }),
      })
    ).status;

  it('the seeded admin signs in, the demo operator is created once through the API and signs in too', async () => {
    expect(await login('admin@telecare.local', 'admin-pw-0123456789')).toBe(200);

    const created = await ensureDemoOperator(url, values);
    expect(created).toEqual({
      status: 'created',
      email: 'operator@telecare.local',
      password: 'operator-pw-0123456789',
    });
    expect(await ensureDemoOperator(url, values)).toMatchObject({ status: 'exists' });
    expect(await login('operator@telecare.local', 'operator-pw-0123456789')).toBe(200);
    expect(operatorLine(created)).toMatch(
      /demo operator\s+operator@telecare\.local \/ operator-pw-0123456789$/,
    );

    const helpline = services.filter((s) => s.name === 'helpline');
    const text = banner({ ...values, TELECARE_ADMIN_TOKEN: 'a'.repeat(32) }, helpline, [
      operatorLine(created),
    ]);
    // The token link still works, and the sign-in names the console and the login.
    expect(text).toContain(`${url}/#token=${'a'.repeat(32)}`);
    expect(text).toMatch(
      new RegExp(`sign in at\\s+.*${url}/.* as .*admin@telecare\\.local.* / .*admin-pw-0123456789`),
    );
    expect(text).toContain('operator@telecare.local / operator-pw-0123456789');
  });

  it('the demo prints a one-click sign-in: whoever opens it is the operator, available, and there once the console runs', async () => {
    await ensureDemoOperator(url, values);
    const link = await demoSignInLink(url, values);
    expect(signInLine(link)).toContain(link);
    const token = new URLSearchParams(new URL(link).hash.slice(1)).get('token') ?? '';
    expect(link.startsWith(`${url}/#token=`)).toBe(true);
    const auth = { authorization: `Bearer ${token}` };
    const me = (await (await fetch(`${url}/api/me`, { headers: auth })).json()) as {
      user?: { username: string; role: string };
      username?: string;
      role?: string;
    };
    expect(me.user?.username ?? me.username).toBe('operator@telecare.local');
    expect(me.user?.role ?? me.role).toBe('operator');

    // The console the link opens holds a stream and answers its pings: the operator is there.
    const abort = new AbortController();
    const stream = await fetch(`${url}/api/stream`, { headers: auth, signal: abort.signal });
    expect(stream.status).toBe(200);
    const reader = stream.body?.getReader();
    let text = '';
    while (!/event: hello\ndata: (.*)\n/.test(text)) {
      const chunk = await reader?.read();
      if (!chunk || chunk.done) break;
      text += new TextDecoder().decode(chunk.value);
    }
    const hello = JSON.parse(/event: hello\ndata: (.*)\n/.exec(text)?.[1] ?? '{}') as { console: string };
    const beat = await fetch(`${url}/api/presence/heartbeat`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ console: hello.console }),
    });
    expect(beat.status).toBe(200);
    expect(((await beat.json()) as { presence: string }).presence).toBe('available');
    abort.abort();
  });

  it('says why when the helpline refuses the operator', async () => {
    const refused = await ensureDemoOperator(url, {
      ...values,
      TELECARE_ADMIN_TOKEN: 'wrong-token-0123456789',
    });
    expect(refused).toMatchObject({ status: 'failed', reason: expect.stringContaining('401') });
    expect(operatorLine(refused)).toContain('not created');
  });
});
