import { randomBytes } from 'node:crypto';
import { type Alert, alertIdFor, names, type Priority } from '@telecare/contracts';
import { type HelplineHandle, loadHelplineConfig, startHelpline } from '@telecare/helpline';
import { type Clock, connectNats, createLogger, jetstream, type NatsConnection } from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import { cleanupNamespace, servers, serviceEnv, uniqueNamespace, waitFor } from '@telecare/testkit';
import { expect } from 'vitest';

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: attack replays read loosely typed JSON bodies
  json: any;
  headers: Headers;
}

/** One HTTP call; `as` is a bearer token, `cookie:<pair>` for a console session, or '' for none. */
export async function call(
  base: string,
  method: string,
  path: string,
  options: { as: string; body?: unknown; headers?: Record<string, string> },
): Promise<Answer> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.as.startsWith('cookie:')) headers.cookie = options.as.slice(7);
  else if (options.as) headers.authorization = `Bearer ${options.as}`;
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(new URL(path, base), {
    method,
    headers,
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = text;
  }
  return { status: response.status, json, headers: response.headers };
}

/**
 * A POST to the registry's API with `token` that must create (201): resolves with what was created.
 */
export function registryCreate(registryUrl: string, token: string | undefined) {
  return async (route: string, body: unknown) => {
    const res = await fetch(new URL(route, registryUrl), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    expect(res.status, text).toBe(201);
    return JSON.parse(text) as Record<string, unknown>;
  };
}

/**
 * The registry and the helpline of one namespace on the real servers, wired as the stack wires
 * them: the helpline reads the registry with a token of its own, never the admin token.
 */
export async function startRegistryAndHelpline(
  label: string,
  extraEnv: Record<string, string> = {},
  options: { clock?: Clock; logLevel?: 'warn' | 'info' } = {},
) {
  const ns = uniqueNamespace(label);
  const env = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    HELPLINE_PORT: '0',
    PRESENCE_ON_LOGIN: 'keep',
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
    ...extraEnv,
  });
  const admin = env.TELECARE_ADMIN_TOKEN ?? '';
  // Warnings and errors (and info, when asked) are kept for the tests to read (what a security
  // event logged), not printed.
  const logs: string[] = [];
  const logger = createLogger(`${label}-test`, options.logLevel ?? 'warn', {
    write: (line: string) => {
      logs.push(line);
    },
  });
  const nc: NatsConnection = await connectNats({ url: servers.natsUrl, name: `${label}-test`, logger });
  const js = jetstream(nc);
  const clock = options.clock ? { clock: options.clock } : {};
  const registry: RegistryHandle = await startRegistry(loadRegistryConfig(env), { logger, ...clock });
  let helpline: HelplineHandle | undefined;
  try {
    helpline = await startHelpline(loadHelplineConfig({ ...env, REGISTRY_URL: registry.url }), {
      logger,
      ...clock,
    });
  } catch (err) {
    await registry.close();
    await nc.close();
    await cleanupNamespace(ns);
    throw err;
  }
  const h = helpline;
  let counter = 0;

  const platform = {
    ns,
    env,
    admin,
    /** JSON log lines at warn (or the level asked) and above from both services. */
    logs,
    registry,
    helpline: h,
    registryCall: (method: string, path: string, options: { as?: string; body?: unknown } = {}) =>
      call(registry.url, method, path, { as: options.as ?? admin, body: options.body }),
    helplineCall: (
      method: string,
      path: string,
      options: { as?: string; body?: unknown; headers?: Record<string, string> } = {},
    ) => call(h.url, method, path, { ...options, as: options.as ?? admin }),
    async resident(name: string, keySafe: string): Promise<string> {
      const created = await platform.registryCall('POST', '/api/residents', {
        body: {
          name,
          address: '1 Test Row, Gloucester',
          postcode: 'GL1 1AA',
          phone: '01452 000000',
          keySafe,
          medicalSummary: 'Type 2 diabetes',
        },
      });
      if (created.status !== 201)
        throw new Error(`resident: ${created.status} ${JSON.stringify(created.json)}`);
      return created.json.id as string;
    },
    /** A registry token of a role, made with the admin token as an administrator would. */
    async registryToken(role: string): Promise<string> {
      const created = await platform.registryCall('POST', '/api/tokens', {
        body: { name: `${role} token`, role },
      });
      if (created.status !== 201) throw new Error(`token: ${created.status} ${JSON.stringify(created.json)}`);
      return created.json.token as string;
    },
    /** A console user, signed in; `cookie:` for call(). */
    async user(username: string, role: string) {
      const password = `Pw-${randomBytes(9).toString('base64url')}`;
      const created = await platform.helplineCall('POST', '/api/users', {
        body: { username, name: `${username} name`, role, password },
      });
      if (created.status !== 201) throw new Error(`user: ${created.status} ${JSON.stringify(created.json)}`);
      const login = await platform.helplineCall('POST', '/api/login', {
        as: '',
        body: { username, password },
      });
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
      return { id: created.json.id as string, cookie: `cookie:${cookie}` };
    },
    /** An alert on ALERTS as triage publishes it; resolves with the case it opened. */
    async caseFor(residentId: string, type = 'pendant.pressed'): Promise<string> {
      counter += 1;
      const evidence = [`evt_${ns}_${counter}`];
      const alert: Alert = {
        id: alertIdFor(`rule.${type}`, residentId, evidence.join(',')),
        residentId,
        priority: 1,
        type: type as Alert['type'],
        raisedAt: new Date().toISOString(),
        rule: { id: `rule.${type}`, version: 1 },
        evidence,
        thresholds: {},
        reason: `${type} at home`,
        late: false,
        testMode: false,
      };
      await js.publish(
        names(ns).subjects.alert(alert.priority as Priority, residentId),
        JSON.stringify(alert),
        {
          msgID: alert.id,
        },
      );
      return waitFor(
        async () => {
          const list = await platform.helplineCall('GET', '/api/cases?state=all');
          return (list.json as { id: string; residentId: string }[]).find((c) => c.residentId === residentId)
            ?.id;
        },
        { what: `a case for ${residentId}` },
      );
    },
    async close() {
      await h.close();
      await registry.close();
      await nc.close();
      await cleanupNamespace(ns);
    },
  };
  return platform;
}
