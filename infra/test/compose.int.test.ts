/**
 * infra/compose.yaml, read without a Docker engine: every service of services/ is in it and runs
 * its main.ts, each one's environment passes that service's own config loader (the CA it mounts
 * from ./certs made by infra/certs.sh), every URL names a compose service and reaches it over TLS,
 * on a port and with a login the server's own configuration (as compose mounts it) has.
 * `${VAR}` is read as compose reads it, each variable given a placeholder of its own (64 hex
 * digits: a token, a password, a 32-byte key).
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { gatewayDc09Env, loadGatewayDc09Config } from '../../services/gateway-dc09/src/index.ts';
import { gatewayMqttEnv, loadGatewayMqttConfig } from '../../services/gateway-mqtt/src/index.ts';
import { helplineEnv, loadHelplineConfig } from '../../services/helpline/src/index.ts';
import { loadRegistryConfig, registryEnv } from '../../services/registry/src/index.ts';
import { loadReportsConfig, reportsEnv } from '../../services/reports/src/index.ts';
import { loadTriageConfig, triageEnv } from '../../services/triage/src/index.ts';

const infra = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const repo = path.dirname(infra);

type Env = Record<string, string>;
type Loader = (env: Record<string, string | undefined>) => unknown;

/** Each service's own config loader and the settings its schema knows. */
const SERVICES: Record<string, { load: Loader; known: object }> = {
  'gateway-dc09': { load: loadGatewayDc09Config, known: gatewayDc09Env },
  'gateway-mqtt': { load: loadGatewayMqttConfig, known: gatewayMqttEnv },
  helpline: { load: loadHelplineConfig, known: helplineEnv },
  registry: { load: loadRegistryConfig, known: registryEnv },
  reports: { load: loadReportsConfig, known: reportsEnv },
  triage: { load: loadTriageConfig, known: triageEnv },
};

/**
 * What production must give each service, though its loader has a default or takes it unset: a
 * default names 127.0.0.1, and an unset secret turns a feature off (devices' broker logins, the
 * registry's sealed fields, a service's own token).
 */
const EVERY = [
  'NATS_URL',
  'TELECARE_TLS_CA',
  'TELECARE_ADMIN_TOKEN',
  'TELECARE_STREAM_REPLICAS',
  'TELECARE_JETSTREAM_MAX_BYTES',
  'HTTP_HOST',
];
const REQUIRED: Record<string, string[]> = {
  'gateway-dc09': ['GATEWAY_STATE_DIR', 'DC09_HOST'],
  'gateway-mqtt': ['GATEWAY_STATE_DIR', 'MQTT_URL'],
  helpline: [
    'DATABASE_URL',
    'REGISTRY_URL',
    'HELPLINE_REGISTRY_TOKEN',
    'TRIAGE_URL',
    'HELPLINE_TRIAGE_TOKEN',
  ],
  registry: [
    'DATABASE_URL',
    'MQTT_ADMIN_URL',
    'REGISTRY_DATA_KEY',
    'HELPLINE_REGISTRY_TOKEN',
    'REPORTS_REGISTRY_TOKEN',
  ],
  reports: ['DATABASE_URL', 'REGISTRY_URL', 'REPORTS_REGISTRY_TOKEN', 'REPORTS_PSEUDONYM_KEY'],
  triage: ['REDIS_URL', 'HELPLINE_TRIAGE_TOKEN'],
};

/** A variable's placeholder: its own, so two settings agree only when they name one variable. */
const placeholder = (name: string) => createHash('sha256').update(name).digest('hex');

/** Compose's interpolation: `$$`, `$VAR`, `${VAR}`, `${VAR:-default}`, `${VAR:?error}`. */
const VARIABLE = /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])([^}]*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

interface Reference {
  readonly name: string;
  readonly required: boolean;
}

function interpolate(text: string, seen: Reference[]): string {
  return text.replace(VARIABLE, (match, braced?: string, op?: string, arg?: string, bare?: string) => {
    if (match === '$$') return '$';
    const name = (braced ?? bare) as string;
    seen.push({ name, required: op?.endsWith('?') === true || op?.endsWith('-') === true });
    if (op?.endsWith('-')) return arg ?? '';
    if (op?.endsWith('+')) return '';
    return placeholder(name);
  });
}

function interpolateAll(value: unknown, seen: Reference[]): unknown {
  if (typeof value === 'string') return interpolate(value, seen);
  if (Array.isArray(value)) return value.map((one) => interpolateAll(one, seen));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolateAll(v, seen)]));
  return value;
}

interface ComposeService {
  readonly image?: string;
  readonly command?: string[] | string;
  readonly entrypoint?: string[] | string;
  readonly environment?: Record<string, string | number | null> | string[];
  readonly volumes?: string[];
  readonly ports?: string[];
}

const words = (value: string[] | string | undefined): string[] =>
  value === undefined ? [] : Array.isArray(value) ? value.map(String) : value.split(/\s+/);

function environmentOf(service: ComposeService): Env {
  const env = service.environment ?? {};
  if (Array.isArray(env))
    return Object.fromEntries(env.map((line) => [line.split('=')[0], line.slice(line.indexOf('=') + 1)]));
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
}

/** `source:target[:mode]` of a service's volumes, by target. */
function mountsOf(service: ComposeService): Map<string, string> {
  return new Map(
    (service.volumes ?? []).map((volume) => {
      const [source = '', target = ''] = volume.split(':');
      return [target, source];
    }),
  );
}

/** The Node service a compose service runs: the folder of the `services/<name>/src/main.ts` it names. */
const nodeServiceOf = (service: ComposeService): string | undefined =>
  words(service.command)
    .map((word) => /^services\/([^/]+)\/src\/main\.ts$/.exec(word)?.[1])
    .find((name) => name !== undefined);

/** A comma-separated list of URLs, or none. */
function urlsIn(value: string): URL[] {
  const urls = value.split(',').map((one) => URL.parse(one.trim()));
  return urls.every((url) => url !== null && url.host !== '') ? (urls as URL[]) : [];
}

const SERVER_SCHEMES = new Set(['nats:', 'tls:', 'redis:', 'rediss:', 'mqtt:', 'mqtts:', 'ws:', 'wss:']);

let compose: Record<string, ComposeService>;
let references: Reference[];
let certs: string;

/** A file a service mounts from the compose folder, as this test reads it (./certs: the test's). */
function hostFile(source: string): string {
  const relative = path.normalize(source);
  if (relative.startsWith(`certs${path.sep}`)) return path.join(certs, relative.slice('certs/'.length));
  return path.join(infra, relative);
}

/** The file a container sees at `target`, through a mount of the file or of a folder above it. */
function fileIn(service: ComposeService, target: string): string | undefined {
  for (const [mounted, source] of mountsOf(service)) {
    if (!source.startsWith('.')) continue;
    if (mounted === target) return hostFile(source);
    if (target.startsWith(`${mounted}/`))
      return hostFile(path.join(source, target.slice(mounted.length + 1)));
  }
  return undefined;
}

function serviceNamed(name: string): ComposeService {
  const service = compose[name];
  if (!service) throw new Error(`no compose service ${name}`);
  return service;
}

/** Mosquitto's configuration as mounted: its listeners (port, TLS) and the lines outside them. */
function mosquittoOf(service: ComposeService) {
  const file = fileIn(service, '/mosquitto/config/mosquitto.conf');
  if (!file) throw new Error('the broker mounts no /mosquitto/config/mosquitto.conf');
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const listeners: { port: number; settings: Map<string, string> }[] = [];
  const settings = new Map<string, string>();
  for (const line of lines) {
    const [key = '', ...rest] = line.split(/\s+/);
    if (key === 'listener') listeners.push({ port: Number(rest[0]), settings: new Map() });
    (listeners.at(-1)?.settings ?? settings).set(key, rest.join(' '));
    settings.set(key, rest.join(' '));
  }
  return { listeners, settings };
}

function natsConfOf(service: ComposeService): string {
  const file = fileIn(service, words(service.command).at(-1) ?? '');
  if (!file) throw new Error('a NATS node mounts no configuration file');
  return readFileSync(file, 'utf8');
}

/** `--name value` or `-c name=value` in a server's command line. */
function flag(service: ComposeService, name: string): string | undefined {
  const args = words(service.command);
  const at = args.indexOf(`--${name}`);
  if (at !== -1) return args[at + 1];
  return args.map((arg) => new RegExp(`^${name}=(.*)$`).exec(arg)?.[1]).find((one) => one !== undefined);
}

/** The files a server's configuration names for its TLS: [certificate, key]. */
function serverTlsFiles(name: string, service: ComposeService): [string | undefined, string | undefined] {
  const image = service.image ?? '';
  if (image.startsWith('nats')) {
    const conf = natsConfOf(service);
    const tls = /^tls\s*\{([^}]*)\}/m.exec(conf)?.[1] ?? '';
    return [/cert_file:\s*"?([^\s"]+)/.exec(tls)?.[1], /key_file:\s*"?([^\s"]+)/.exec(tls)?.[1]];
  }
  if (image.startsWith('eclipse-mosquitto')) {
    const { settings } = mosquittoOf(service);
    return [settings.get('certfile'), settings.get('keyfile')];
  }
  if (image.startsWith('redis')) return [flag(service, 'tls-cert-file'), flag(service, 'tls-key-file')];
  if (image.startsWith('postgres')) return [flag(service, 'ssl_cert_file'), flag(service, 'ssl_key_file')];
  throw new Error(`${name}: not a server this test knows (${image})`);
}

beforeAll(() => {
  certs = path.join(mkdtempSync(path.join(tmpdir(), 'telecare-compose-')), 'certs');
  execFileSync('bash', [path.join(infra, 'certs.sh'), certs], { stdio: 'pipe' });
  references = [];
  const raw = parse(readFileSync(path.join(infra, 'compose.yaml'), 'utf8'), { merge: true }) as {
    services: Record<string, ComposeService>;
  };
  compose = interpolateAll(raw.services, references) as Record<string, ComposeService>;
});

afterAll(() => {
  if (certs) rmSync(path.dirname(certs), { recursive: true, force: true });
});

const nodeServices = () =>
  Object.entries(compose ?? {}).flatMap(([name, service]) => {
    const runs = nodeServiceOf(service);
    return runs ? [{ name, runs, service, env: environmentOf(service) }] : [];
  });

describe('infra/compose.yaml', () => {
  it('runs every service under services/ by its main.ts', () => {
    const folders = readdirSync(path.join(repo, 'services')).filter((name) =>
      existsSync(path.join(repo, 'services', name, 'src', 'main.ts')),
    );
    expect(nodeServices().map((one) => one.runs)).toEqual(expect.arrayContaining(folders));
    expect(Object.keys(SERVICES).sort()).toEqual(folders.sort());
  });

  it('stops at start-up on an unset secret rather than passing it empty', () => {
    // Compose reads every service's settings at once: one `${VAR:?…}` of a variable stops it.
    const required = new Set(references.filter((one) => one.required).map((one) => one.name));
    expect([...new Set(references.map((one) => one.name))].filter((name) => !required.has(name))).toEqual([]);
  });

  it.each(Object.keys(SERVICES))('gives %s an environment its own config loader takes', (folder) => {
    const found = nodeServices().find((one) => one.runs === folder);
    if (!found) throw new Error(`no compose service runs services/${folder}/src/main.ts`);
    const { service, env } = found;
    const { load, known } = SERVICES[folder] as { load: Loader; known: object };
    const problems = [
      ...[...EVERY, ...(REQUIRED[folder] ?? [])].filter((key) => !env[key]).map((key) => `${key}: unset`),
      ...Object.keys(env)
        .filter((key) => !(key in known))
        .map((key) => `${key}: not a setting of ${folder}`),
    ];
    const ca = fileIn(service, env.TELECARE_TLS_CA ?? '');
    if (!ca?.startsWith(`${certs}/`)) problems.push('TELECARE_TLS_CA: not a file mounted from ./certs');
    const state = env.GATEWAY_STATE_DIR;
    if (state !== undefined && !mountsOf(service).has(state))
      problems.push('GATEWAY_STATE_DIR: not a volume');
    try {
      load({ ...env, ...(ca ? { TELECARE_TLS_CA: ca } : {}) });
    } catch (err) {
      problems.push((err as Error).message);
    }
    expect(problems).toEqual([]);
  });

  it('gives the services that share a token one variable for it', () => {
    const tokens = new Map<string, Set<string>>();
    for (const { env } of nodeServices())
      for (const [key, value] of Object.entries(env))
        if (key.endsWith('_TOKEN')) tokens.set(key, (tokens.get(key) ?? new Set()).add(value));
    expect([...tokens].filter(([, values]) => values.size > 1).map(([key]) => key)).toEqual([]);
  });

  it('reaches every server and service by its compose name, over TLS, with a login the server has', () => {
    const problems: string[] = [];
    for (const { name, env } of nodeServices())
      for (const [key, value] of Object.entries(env)) {
        for (const url of urlsIn(value)) {
          const where = `${name} ${key} (${url.protocol}//${url.host})`;
          const target = compose[url.hostname];
          if (!target) {
            problems.push(`${where}: no compose service ${url.hostname}`);
            continue;
          }
          const port = Number(url.port);
          const password = decodeURIComponent(url.password);
          const user = decodeURIComponent(url.username);
          if (url.protocol === 'http:' || url.protocol === 'https:') {
            const ports = Object.entries(environmentOf(target)).filter(([k]) => k.endsWith('_PORT'));
            if (!nodeServiceOf(target) || !ports.some(([, v]) => Number(v) === port))
              problems.push(`${where}: not a service's HTTP port`);
          } else if (url.protocol === 'postgresql:' || url.protocol === 'postgres:') {
            const server = environmentOf(target);
            if (url.searchParams.get('sslmode') !== 'verify-full')
              problems.push(`${where}: not sslmode=verify-full`);
            if (flag(target, 'ssl') !== 'on') problems.push(`${where}: the server runs without ssl=on`);
            if ((port || 5432) !== Number(flag(target, 'port') ?? 5432))
              problems.push(`${where}: not its port`);
            if (user !== server.POSTGRES_USER || password !== server.POSTGRES_PASSWORD)
              problems.push(`${where}: not the server's POSTGRES_USER and POSTGRES_PASSWORD`);
            if (url.pathname.slice(1) !== server.POSTGRES_DB) problems.push(`${where}: not its POSTGRES_DB`);
          } else if (url.protocol === 'redis:' || url.protocol === 'rediss:') {
            if (url.protocol !== 'rediss:') problems.push(`${where}: not TLS`);
            if (Number(flag(target, 'tls-port')) !== port || flag(target, 'port') !== '0')
              problems.push(`${where}: the server takes TLS only on ${flag(target, 'tls-port')}`);
            if ((flag(target, 'requirepass') ?? '') !== password)
              problems.push(`${where}: not the server's requirepass`);
          } else if (url.protocol.startsWith('mqtt') || url.protocol.startsWith('ws')) {
            const tls = url.protocol === 'mqtts:' || url.protocol === 'wss:';
            if (!tls) problems.push(`${where}: not TLS`);
            const { listeners, settings } = mosquittoOf(target);
            const listener = listeners.find((one) => one.port === port);
            if (!listener) problems.push(`${where}: the broker has no listener ${port}`);
            else if (tls !== listener.settings.has('certfile'))
              problems.push(`${where}: listener ${port} TLS differs`);
            if (key === 'MQTT_ADMIN_URL' && !settings.get('plugin')?.includes('dynamic_security'))
              problems.push(`${where}: the broker mounts no dynamic-security configuration`);
            const broker = environmentOf(target);
            const admin = key === 'MQTT_ADMIN_URL';
            if (user !== (admin ? 'registry-admin' : 'telecare-gateway-mqtt'))
              problems.push(`${where}: user ${user} is not one the broker's set-up makes`);
            if (password !== broker[admin ? 'MQTT_ADMIN_PASSWORD' : 'MQTT_GATEWAY_PASSWORD'])
              problems.push(`${where}: not the password the broker's set-up gives ${user}`);
          } else if (url.protocol === 'nats:' || url.protocol === 'tls:') {
            if (url.protocol !== 'tls:') problems.push(`${where}: not TLS`);
            const conf = natsConfOf(target);
            if (!/^tls\s*\{/m.test(conf))
              problems.push(`${where}: the node's configuration has no tls block`);
            if (Number(/^listen:\s*\S+:(\d+)/m.exec(conf)?.[1]) !== port)
              problems.push(`${where}: not its port`);
            const entry = new RegExp(`\\{\\s*user:\\s*"?${user}"?,\\s*password:\\s*\\$(\\w+)\\s*\\}`).exec(
              conf,
            );
            if (!entry) problems.push(`${where}: no NATS user ${user}`);
            else if (environmentOf(target)[entry[1] as string] !== password)
              problems.push(`${where}: not the password the node gets as $${entry[1]}`);
          } else if (SERVER_SCHEMES.has(url.protocol))
            problems.push(`${where}: a scheme this test does not know`);
        }
      }
    expect(problems).toEqual([]);
  });

  it('gives every server a certificate from ./certs naming it as the services reach it', () => {
    const ca = new X509Certificate(readFileSync(path.join(certs, 'ca.crt')));
    const names = new Map<string, Set<string>>();
    for (const { env } of nodeServices())
      for (const value of Object.values(env))
        for (const url of urlsIn(value))
          if (compose[url.hostname] && !nodeServiceOf(serviceNamed(url.hostname)))
            names.set(url.hostname, (names.get(url.hostname) ?? new Set()).add(url.hostname));
    expect(names.size, 'servers the services reach').toBeGreaterThan(0);
    const problems: string[] = [];
    for (const [server, hosts] of names) {
      const service = serviceNamed(server);
      const [cert, key] = serverTlsFiles(server, service);
      const certFile = cert && fileIn(service, cert);
      if (!certFile || !key || !fileIn(service, key)) {
        problems.push(`${server}: its certificate and key (${cert}, ${key}) are not mounted from ./certs`);
        continue;
      }
      const certificate = new X509Certificate(readFileSync(certFile));
      if (!certificate.verify(ca.publicKey))
        problems.push(`${server}: its certificate is not signed by ca.crt`);
      for (const host of hosts)
        if (certificate.checkHost(host) === undefined)
          problems.push(`${server}: its certificate does not name ${host}`);
    }
    expect(problems).toEqual([]);
  });

  it('keeps the NATS cluster routes on the nodes compose runs', () => {
    const nodes = Object.entries(compose).filter(([, service]) => service.image?.startsWith('nats'));
    expect(nodes.length).toBe(3);
    for (const [name, service] of nodes) {
      const conf = natsConfOf(service);
      expect(conf).toMatch(new RegExp(`^server_name:\\s*${name}$`, 'm'));
      const port = /cluster\s*\{[^}]*listen:\s*\S+:(\d+)/.exec(conf)?.[1];
      const routes = [...conf.matchAll(/nats-route:\/\/([^:\s]+):(\d+)/g)];
      expect(routes.map((route) => route[1]).sort()).toEqual(nodes.map(([node]) => node).sort());
      for (const route of routes) expect(route[2]).toBe(port);
    }
  });
});
