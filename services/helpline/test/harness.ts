import { randomBytes } from 'node:crypto';
import { type Alert, alertIdFor, names, type Priority, type TelecareEvent } from '@telecare/contracts';
import {
  type Clock,
  connectNats,
  createLogger,
  ensureStreams,
  type JetStreamClient,
  type JetStreamManager,
  jetstream,
  jetstreamManager,
  type NatsConnection,
} from '@telecare/platform';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '@telecare/registry';
import {
  chromiumLaunchOptions,
  cleanupNamespace,
  pendantEvent,
  servers,
  serviceEnv,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import {
  consumerOf,
  type HelplineHandle,
  loadHelplineConfig,
  PRIORITIES,
  startHelpline,
} from '../src/index.ts';
import { readSse } from './sse.ts';

/** A helpline on the real PostgreSQL and NATS in a namespace of its own, with helpers to drive it. */
export async function helplineHarness(
  label: string,
  extraEnv: Record<string, string> = {},
  /** Where the helpline's log lines go (one JSON line per write), at what level; none unless said. */
  options: { logs?: { level: string; destination: { write(line: string): void } } } = {},
) {
  const ns = uniqueNamespace(label);
  const n = names(ns);
  // Queue tests set presence explicitly; tests of sign-in presence pass PRESENCE_ON_LOGIN themselves.
  const env = serviceEnv(ns, { HELPLINE_PORT: '0', PRESENCE_ON_LOGIN: 'keep', ...extraEnv });
  const adminToken = env.TELECARE_ADMIN_TOKEN as string;
  const logger = options.logs
    ? createLogger(`${label}-test`, options.logs.level, options.logs.destination)
    : createLogger(`${label}-test`, process.env.TEST_LOG_LEVEL ?? 'silent');
  const nc: NatsConnection = await connectNats({ url: servers.natsUrl, name: `${label}-test`, logger });
  const js: JetStreamClient = jetstream(nc);
  let jsm: JetStreamManager = await jetstreamManager(nc);
  let helpline: HelplineHandle | undefined;
  let registry: RegistryHandle | undefined;
  let counter = 0;

  const h = {
    ns,
    names: n,
    adminToken,
    /** The environment the helpline starts with (a second instance may start from it too). */
    env,
    get helpline(): HelplineHandle {
      if (!helpline) throw new Error('helpline not started');
      return helpline;
    },
    async start(clock?: Clock, env2: Record<string, string> = {}) {
      helpline = await startHelpline(loadHelplineConfig({ ...env, ...env2 }), {
        logger,
        ...(clock ? { clock } : {}),
      });
      jsm = await jetstreamManager(nc);
      return helpline;
    },
    async stop() {
      await helpline?.close();
      helpline = undefined;
    },
    /** The real registry in the same namespace (port 0, its own data key); its URL for REGISTRY_URL. */
    async startRegistry(env2: Record<string, string> = {}): Promise<RegistryHandle> {
      registry = await startRegistry(
        loadRegistryConfig({
          ...env,
          REGISTRY_PORT: '0',
          REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
          ...env2,
        }),
        { logger },
      );
      return registry;
    },
    async stopRegistry() {
      await registry?.close();
      registry = undefined;
    },
    /** A request to the registry's API with the admin token. */
    async registryApi(path: string, body?: unknown) {
      if (!registry) throw new Error('registry not started');
      const response = await fetch(`${registry.url}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      // biome-ignore lint/suspicious/noExplicitAny: test reads loosely typed JSON bodies
      const json = (await response.json()) as any;
      if (!response.ok) throw new Error(`registry ${path}: ${response.status} ${JSON.stringify(json)}`);
      return json;
    },
    /** A device event on EVENTS, on the resident's partition subject, as a gateway publishes it. */
    async deviceEvent(
      residentId: string,
      serial: string,
      type: string,
      data: Record<string, unknown> = {},
      partitions = 8,
    ): Promise<TelecareEvent> {
      counter += 1;
      const event = pendantEvent({ residentId, serial, type, key: `${ns}-${counter}`, partitions, data });
      await js.publish(n.subjects.event(event.partition, type), JSON.stringify(event), { msgID: event.id });
      return event;
    },
    /** The test's own NATS connection (a core subscription to CASES, say). */
    nc,
    /** EVENTS as the gateways create it (the helpline only reads it). */
    async ensureEvents() {
      await ensureStreams(jsm, n, ['events']);
    },
    /** Any event on EVENTS, on its own partition subject (a DC-09 panel's unmapped code, say). */
    async publishEvent(event: TelecareEvent) {
      await js.publish(n.subjects.event(event.partition, event.type), JSON.stringify(event), {
        msgID: event.id,
      });
    },
    async close() {
      await h.stop();
      await h.stopRegistry();
      await nc.close();
      await cleanupNamespace(ns);
    },
    alert(overrides: Partial<Alert> & { residentId: string }): Alert {
      counter += 1;
      const evidence = overrides.evidence ?? [`evt_${ns}_${counter}`];
      const type = overrides.type ?? 'pendant.pressed';
      return {
        id: alertIdFor(`rule.${type}`, overrides.residentId, evidence.join(',')),
        priority: 1,
        type,
        raisedAt: new Date().toISOString(),
        rule: { id: `rule.${type}`, version: 1 },
        evidence,
        thresholds: {},
        reason: `${type} at home`,
        late: false,
        testMode: false,
        ...overrides,
      };
    },
    async publish(a: Alert) {
      await js.publish(n.subjects.alert(a.priority as Priority, a.residentId), JSON.stringify(a), {
        msgID: a.id,
      });
    },
    async drained() {
      await waitFor(
        async () => {
          for (const p of PRIORITIES) {
            const info = await jsm.consumers.info(n.streams.alerts, consumerOf(p));
            if (info.num_pending > 0 || info.num_ack_pending > 0) return false;
          }
          return true;
        },
        { what: 'helpline consumer to catch up' },
      );
    },
    /** A request as `as` (a bearer token, or `cookie:<session>`), default the admin token. */
    async api(path: string, init: { method?: string; body?: unknown; as?: string; key?: string } = {}) {
      const headers: Record<string, string> = {};
      const as = init.as ?? adminToken;
      if (as.startsWith('cookie:')) headers.cookie = as.slice(7);
      else if (as) headers.authorization = `Bearer ${as}`;
      if (init.body !== undefined) headers['content-type'] = 'application/json';
      if (init.key) headers['idempotency-key'] = init.key;
      const response = await fetch(`${h.helpline.url}${path}`, {
        method: init.method ?? 'GET',
        headers,
        body: init.body === undefined ? undefined : JSON.stringify(init.body),
      });
      const text = await response.text();
      // biome-ignore lint/suspicious/noExplicitAny: test reads loosely typed JSON bodies
      const json = (text ? JSON.parse(text) : undefined) as any;
      return { status: response.status, json, setCookie: response.headers.get('set-cookie') ?? '' };
    },
    async user(username: string, role: string, password = 'correct horse battery') {
      const created = await h.api('/api/users', {
        method: 'POST',
        body: { username, name: `${username} name`, role, password },
      });
      if (created.status !== 201)
        throw new Error(`user ${username}: ${created.status} ${JSON.stringify(created.json)}`);
      const login = await h.api('/api/login', { method: 'POST', body: { username, password }, as: '' });
      const cookie = login.setCookie.split(';')[0] ?? '';
      return { id: created.json.id as string, cookie: `cookie:${cookie}` };
    },
    /**
     * A console as the browser runs it: holds the live stream open as `as`, and answers each of the
     * server's pings with a heartbeat naming the console id the stream said hello with. `stall()`
     * stops the answers (a network that went away without closing the connection); `close()` ends
     * the stream (a closed tab).
     */
    async openConsole(as: string, instanceUrl?: string) {
      const abort = new AbortController();
      const headers: Record<string, string> = as.startsWith('cookie:')
        ? { cookie: as.slice(7) }
        : { authorization: `Bearer ${as}` };
      const base = instanceUrl ?? h.helpline.url;
      const response = await fetch(`${base}/api/stream`, { headers, signal: abort.signal });
      if (response.status !== 200 || !response.body)
        throw new Error(`stream as ${as.slice(0, 20)}: ${response.status}`);
      const state = { id: undefined as string | undefined, stalled: false, ended: false, beats: 0 };
      /** Heartbeats sent and not yet answered: a stall waits for them (see `stall`). */
      const inFlight = new Set<Promise<unknown>>();
      const beat = async () => {
        if (!state.id) return undefined;
        const sent = fetch(`${base}/api/presence/heartbeat`, {
          method: 'POST',
          headers: { ...headers, 'content-type': 'application/json' },
          body: JSON.stringify({ console: state.id }),
        });
        inFlight.add(sent);
        try {
          const r = await sent;
          state.beats += 1;
          return { status: r.status, json: (await r.json()) as Record<string, unknown> };
        } finally {
          inFlight.delete(sent);
        }
      };
      void (async () => {
        await readSse(response.body as ReadableStream<Uint8Array>, async ({ event, data }) => {
          if (event === 'hello' && data) {
            state.id = (JSON.parse(data) as { console: string }).console;
            await beat().catch(() => undefined);
          } else if (event === 'ping' && !state.stalled) await beat().catch(() => undefined);
        });
        state.ended = true;
      })();
      await waitFor(() => state.beats > 0, { what: 'the console to say hello and send its first heartbeat' });
      return {
        get id() {
          return state.id as string;
        },
        get ended() {
          return state.ended;
        },
        /** Heartbeats answered: one a ping while the console answers them. */
        get beats() {
          return state.beats;
        },
        beat,
        /**
         * No more answers to pings. Resolves once a heartbeat already on its way has been taken:
         * one landing after the test moves its clock on would mark the console there at the new time.
         */
        async stall() {
          state.stalled = true;
          await Promise.allSettled([...inFlight]);
        },
        close() {
          abort.abort();
        },
      };
    },
    async caseOf(residentId: string) {
      return waitFor(
        async () => {
          const list = await h.api('/api/cases?state=all');
          return (list.json as { id: string; residentId: string }[]).find((c) => c.residentId === residentId);
        },
        { what: `a case for ${residentId}` },
      );
    },
    async detail(id: string) {
      const r = await h.api(`/api/cases/${id}`);
      if (r.status !== 200) throw new Error(`detail ${id}: ${r.status}`);
      return r.json;
    },
  };
  return h;
}

/**
 * Chromium for the console's browser tests: the one `pnpm test` found or installed
 * (`CHROMIUM_PATH`, see infra/chromium.sh), never a downloaded browser.
 */
export function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch(chromiumLaunchOptions(extraArgs));
}

/**
 * Opens the console at `url` in a browser context of its own and signs `username` in with the
 * password `user()` gives; resolves once its live stream is open. `prepare` runs on the context
 * before the console loads (scripts to run before the page's own, routes).
 */
export async function signInConsole(
  browser: Browser,
  url: string,
  username: string,
  viewport: { width: number; height: number } = { width: 1366, height: 768 },
  prepare?: (context: BrowserContext) => Promise<unknown>,
): Promise<Page> {
  const context = await browser.newContext({ viewport });
  await prepare?.(context);
  const page = await context.newPage();
  await page.goto(url);
  await page.fill('#username', username);
  await page.fill('#password', 'correct horse battery');
  await page.click('button[type=submit]');
  await page.waitForSelector('#status:text("live")');
  return page;
}
