/**
 * infra/compose.yaml, read without a Docker engine: every service of services/ is in it and runs
 * its main.ts, each one's environment passes that service's own config loader (the CA it mounts
 * from ./certs made by infra/certs.sh), every URL names a compose service and reaches it over TLS,
 * on a port and with a login the server's own configuration (as compose mounts it) has; the NATS
 * nodes' routes reach every node over mutual TLS (./certs) with the route login.
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

/** A comma-separated list of URLs, or none; a multi-host PostgreSQL URL is one URL per host. */
function urlsIn(value: string): URL[] {
  const hosts = /^(postgres(?:ql)?:\/\/(?:[^@/]*@)?)([^/?]*)(.*)$/.exec(value);
  if (hosts?.[2]?.includes(','))
    return hosts[2].split(',').flatMap((host) => urlsIn(`${hosts[1]}${host}${hosts[3]}`));
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

/** The inside of a NATS configuration's `name { … }` block (the first, nested blocks kept whole). */
function blockOf(conf: string, name: string): string | undefined {
  const text = conf.replace(/#.*$/gm, '');
  const open = new RegExp(`^\\s*${name}\\s*[:=]?\\s*\\{`, 'm').exec(text);
  if (!open) return undefined;
  let depth = 1;
  for (let at = open.index + open[0].length; at < text.length; at++) {
    if (text[at] === '{') depth++;
    else if (text[at] === '}' && --depth === 0) return text.slice(open.index + open[0].length, at);
  }
  return undefined;
}

/** A `key: value` of a NATS configuration block's own lines, quotes taken off. */
const setting = (block: string, key: string): string | undefined =>
  new RegExp(`^\\s*${key}\\s*[:=]\\s*"?([^\\s"]+)"?\\s*$`, 'm').exec(block.replace(/#.*$/gm, ''))?.[1];

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
  if (image.startsWith('redis')) {
    const settings = redisSettingsOf(service);
    return [redisSetting(settings, 'tls-cert-file'), redisSetting(settings, 'tls-key-file')];
  }
  if (image.startsWith('postgres')) return [flag(service, 'ssl_cert_file'), flag(service, 'ssl_key_file')];
  throw new Error(`${name}: not a server this test knows (${image})`);
}

const isSentinel = (service: ComposeService) =>
  service.image?.startsWith('redis') === true &&
  (words(service.command)[0] === 'redis-sentinel' || words(service.command).includes('--sentinel'));
const redisServers = () =>
  Object.entries(compose).filter(([, service]) => service.image?.startsWith('redis') && !isSentinel(service));
const sentinels = () => Object.entries(compose).filter(([, service]) => isSentinel(service));

/**
 * A Redis server's or Sentinel's settings, each a line of words: its configuration file's lines,
 * then its command line's `--name args…` (which Redis reads after the file). A Sentinel rewrites
 * its file, so it runs a copy on its volume of the one mounted under /etc/redis (same name).
 */
function redisSettingsOf(service: ComposeService): string[][] {
  const args = words(service.command).slice(1);
  const lines: string[][] = [];
  const conf = args[0]?.endsWith('.conf') ? args[0] : undefined;
  if (conf) {
    const file = fileIn(service, conf) ?? fileIn(service, `/etc/redis/${path.basename(conf)}`);
    if (!file) throw new Error(`${conf}: not a file mounted from the compose folder`);
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const parts = line.trim().split(/\s+/);
      if (parts[0] && !parts[0].startsWith('#')) lines.push(parts);
    }
  }
  for (const arg of args.slice(conf ? 1 : 0))
    if (arg.startsWith('--')) lines.push([arg.slice(2)]);
    else lines.at(-1)?.push(arg);
  return lines.filter((line) => line.join(' ') !== 'sentinel');
}

/** The rest of the last settings line that starts with `key` (words), or undefined. */
function redisSetting(lines: string[][], ...key: string[]): string | undefined {
  const found = lines.findLast((line) => key.every((word, at) => line[at]?.toLowerCase() === word));
  return found?.slice(key.length).join(' ');
}

/** A certificate a Redis server or Sentinel is given, checked: [problems, certificate]. */
function redisCertificate(name: string, service: ComposeService, lines: string[][]) {
  const ca = new X509Certificate(readFileSync(path.join(certs, 'ca.crt')));
  const [cert, key, caFile] = ['tls-cert-file', 'tls-key-file', 'tls-ca-cert-file'].map((one) => {
    const target = redisSetting(lines, one);
    return target ? fileIn(service, target) : undefined;
  });
  if (!cert?.startsWith(`${certs}/`) || !key?.startsWith(`${certs}/`))
    return { problems: [`${name}: its certificate and key are not mounted from ./certs`] };
  const problems: string[] = [];
  if (caFile !== path.join(certs, 'ca.crt')) problems.push(`${name}: tls-ca-cert-file is not ./certs/ca.crt`);
  const certificate = new X509Certificate(readFileSync(cert));
  if (!certificate.verify(ca.publicKey)) problems.push(`${name}: its certificate is not signed by ca.crt`);
  return { problems, certificate };
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
            // A standby's logins and databases are its primary's: a copy of it.
            const standbyOf = environmentOf(target).POSTGRES_STANDBY_OF?.split(':')[0];
            const server = environmentOf(standbyOf ? serviceNamed(standbyOf) : target);
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
            const settings = redisSettingsOf(target);
            if (Number(redisSetting(settings, 'tls-port')) !== port || redisSetting(settings, 'port') !== '0')
              problems.push(`${where}: the server takes TLS only on ${redisSetting(settings, 'tls-port')}`);
            if ((redisSetting(settings, 'requirepass') ?? '') !== password)
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

  it('keeps the NATS cluster routes on the nodes compose runs, over mutual TLS, with the route login', () => {
    const nodes = Object.entries(compose).filter(([, service]) => service.image?.startsWith('nats'));
    expect(nodes.length).toBe(3);
    const ca = new X509Certificate(readFileSync(path.join(certs, 'ca.crt')));
    const problems: string[] = [];
    for (const [name, service] of nodes) {
      const conf = natsConfOf(service);
      expect(conf).toMatch(new RegExp(`^server_name:\\s*${name}$`, 'm'));
      const cluster = blockOf(conf, 'cluster') ?? '';
      const port = setting(cluster, 'listen')?.split(':').at(-1);
      // Gossiped routes reach a node by the name it advertises: its certificate names that.
      if (setting(cluster, 'advertise') !== `${name}:${port}`)
        problems.push(`${name}: does not advertise its routes as ${name}:${port}`);

      const tls = blockOf(cluster, 'tls');
      const [certFile, keyFile, caFile] = ['cert_file', 'key_file', 'ca_file'].map((key) => {
        const target = tls && setting(tls, key);
        return target ? fileIn(service, target) : undefined;
      });
      if (!tls) problems.push(`${name}: routes without TLS (cluster tls)`);
      else if (setting(tls, 'verify') !== 'true')
        problems.push(`${name}: routes' TLS takes a route without a certificate (verify: true)`);
      if (tls && (!certFile?.startsWith(`${certs}/`) || !keyFile?.startsWith(`${certs}/`)))
        problems.push(`${name}: routes' certificate and key are not mounted from ./certs`);
      if (tls && caFile !== path.join(certs, 'ca.crt'))
        problems.push(`${name}: routes' ca_file is not ./certs/ca.crt`);
      const certificate =
        certFile && existsSync(certFile) ? new X509Certificate(readFileSync(certFile)) : undefined;
      if (certificate && !certificate.verify(ca.publicKey))
        problems.push(`${name}: its routes' certificate is not signed by ca.crt`);
      // A node is the TLS server of the routes others open to it, and the client of those it opens.
      for (const [usage, oid] of [
        ['serverAuth', '1.3.6.1.5.5.7.3.1'],
        ['clientAuth', '1.3.6.1.5.5.7.3.2'],
      ])
        if (certificate && !certificate.keyUsage?.includes(oid as string))
          problems.push(`${name}: its routes' certificate lacks the ${usage} usage`);

      const authorization = blockOf(cluster, 'authorization') ?? '';
      const user = setting(authorization, 'user');
      const secret = /^\$(\w+)$/.exec(setting(authorization, 'password') ?? '')?.[1];
      if (!user || !secret)
        problems.push(`${name}: routes without a login (cluster authorization user, password: $VAR)`);
      else if (!environmentOf(service)[secret])
        problems.push(`${name}: $${secret} is not in its environment`);

      // A route URL carries the login: the configuration reads it from the environment whole.
      const env = environmentOf(service);
      const routes = (/routes:\s*\[([^\]]*)\]/.exec(cluster)?.[1] ?? '')
        .split(/[\s,]+/)
        .filter((entry) => entry !== '')
        .map((entry) => (entry.startsWith('$') ? (env[entry.slice(1)] ?? '') : entry.replace(/"/g, '')))
        .map((entry) => URL.parse(entry));
      const hosts = routes.map((route) => route?.hostname ?? '(not a URL)');
      if (
        hosts.sort().join() !==
        nodes
          .map(([node]) => node)
          .sort()
          .join()
      )
        problems.push(`${name}: routes to ${hosts.join(', ')}, not to every node`);
      for (const route of routes) {
        if (!route) continue;
        const target = compose[route.hostname];
        const targetCluster = target ? (blockOf(natsConfOf(target), 'cluster') ?? '') : '';
        const targetSecret = /^\$(\w+)$/.exec(
          setting(blockOf(targetCluster, 'authorization') ?? '', 'password') ?? '',
        )?.[1];
        const where = `${name} route to ${route.hostname}`;
        if (route.protocol !== 'nats-route:') problems.push(`${where}: not nats-route://`);
        if (route.port !== port) problems.push(`${where}: not port ${port}`);
        if (certificate && certificate.checkHost(route.hostname) === undefined)
          problems.push(`${where}: its certificate does not name ${route.hostname}`);
        if (!user || !target || !targetSecret) continue;
        if (decodeURIComponent(route.username) !== user)
          problems.push(`${where}: not the route user ${user}`);
        else if (decodeURIComponent(route.password) !== environmentOf(target)[targetSecret])
          problems.push(`${where}: not the password the node gets as $${targetSecret}`);
      }
    }
    expect(problems).toEqual([]);
  });
  it('runs Redis as a primary and a replica under three Sentinels, TLS only, with one password', () => {
    const servers = redisServers();
    const watchers = sentinels();
    expect(servers.map(([name]) => name).length, 'Redis servers').toBe(2);
    expect(watchers.length, 'Sentinels').toBe(3);
    const problems: string[] = [];
    const passwords = new Set<string | undefined>();
    const replicas: string[] = [];
    const primaries: string[] = [];
    for (const [name, service] of servers) {
      const lines = redisSettingsOf(service);
      if (redisSetting(lines, 'port') !== '0' || !redisSetting(lines, 'tls-port'))
        problems.push(`${name}: takes more than TLS (port 0, tls-port)`);
      if (redisSetting(lines, 'tls-replication') !== 'yes') problems.push(`${name}: replicates without TLS`);
      passwords.add(redisSetting(lines, 'requirepass'));
      passwords.add(redisSetting(lines, 'masterauth'));
      // The Sentinels give a server out by the address it announces, which the client's TLS checks
      // against its certificate: its own compose name (checked below).
      if (redisSetting(lines, 'replica-announce-ip') !== name)
        problems.push(`${name}: replica-announce-ip is not ${name}`);
      const of = redisSetting(lines, 'replicaof') ?? redisSetting(lines, 'slaveof');
      if (of === undefined) primaries.push(name);
      else {
        replicas.push(name);
        const [host = '', port] = of.split(' ');
        const primary = compose[host];
        if (!primary || isSentinel(primary) || !primary.image?.startsWith('redis'))
          problems.push(`${name}: a replica of ${host}, no Redis server of compose`);
        else if (redisSetting(redisSettingsOf(primary), 'tls-port') !== port)
          problems.push(`${name}: a replica of ${host} on ${port}, not its tls-port`);
      }
    }
    expect({ primaries: primaries.length, replicas: replicas.length }).toEqual({ primaries: 1, replicas: 1 });

    const sentinelPasswords = new Set<string | undefined>();
    const monitors = new Set<string | undefined>();
    for (const [name, service] of watchers) {
      const lines = redisSettingsOf(service);
      if (redisSetting(lines, 'port') !== '0' || !redisSetting(lines, 'tls-port'))
        problems.push(`${name}: takes more than TLS (port 0, tls-port)`);
      if (redisSetting(lines, 'tls-replication') !== 'yes')
        problems.push(`${name}: reaches the Redis servers without TLS (tls-replication)`);
      for (const key of ['resolve-hostnames', 'announce-hostnames'])
        if (redisSetting(lines, 'sentinel', key) !== 'yes') problems.push(`${name}: not sentinel ${key} yes`);
      if (redisSetting(lines, 'sentinel', 'announce-ip') !== name)
        problems.push(`${name}: does not announce itself as ${name}`);
      sentinelPasswords.add(redisSetting(lines, 'requirepass'));
      const monitor = redisSetting(lines, 'sentinel', 'monitor');
      monitors.add(monitor);
      const [master, host = '', port, quorum] = monitor?.split(' ') ?? [];
      if (!master || host !== primaries[0])
        problems.push(`${name}: monitors ${monitor}, not the primary ${primaries[0]}`);
      else if (redisSetting(redisSettingsOf(serviceNamed(host)), 'tls-port') !== port)
        problems.push(`${name}: monitors ${host} on ${port}, not its tls-port`);
      if (Number(quorum) !== 2) problems.push(`${name}: a quorum of ${quorum}, not 2 of the 3`);
      if (master && !passwords.has(redisSetting(lines, 'sentinel', 'auth-pass', master)))
        problems.push(`${name}: sentinel auth-pass ${master} is not the servers' password`);
    }
    if (passwords.size !== 1 || passwords.has(undefined))
      problems.push('the Redis servers do not share one requirepass and masterauth');
    if (sentinelPasswords.size !== 1 || sentinelPasswords.has(undefined))
      problems.push('the Sentinels do not share one requirepass');
    if ([...sentinelPasswords].some((one) => passwords.has(one)))
      problems.push("the Sentinels' password is the servers' own");
    if (monitors.size !== 1)
      problems.push(`the Sentinels monitor different masters: ${[...monitors].join('; ')}`);

    for (const [name, service] of [...servers, ...watchers]) {
      const { problems: found, certificate } = redisCertificate(name, service, redisSettingsOf(service));
      problems.push(...found);
      // Any server may be reached by any name the Sentinels announce, once a failover moves it.
      if (certificate && certificate.checkHost(name) === undefined)
        problems.push(`${name}: its certificate does not name ${name}`);
    }
    expect(problems).toEqual([]);
  });

  it('gives every service that uses Redis the three Sentinels, the master they monitor and their password', () => {
    const users = nodeServices().filter(({ env }) => env.REDIS_URL !== undefined);
    expect(users.length).toBeGreaterThan(0);
    const watchers = sentinels();
    expect(watchers.length, 'Sentinels').toBe(3);
    const problems: string[] = [];
    for (const { name, env } of users) {
      const named = (env.REDIS_SENTINELS ?? '').split(',').filter((one) => one !== '');
      const expected = watchers.map(
        ([sentinel, service]) => `${sentinel}:${redisSetting(redisSettingsOf(service), 'tls-port')}`,
      );
      if (named.sort().join() !== expected.sort().join())
        problems.push(`${name}: REDIS_SENTINELS ${named.join(',')}, not ${expected.join(',')}`);
      for (const [sentinel, service] of watchers) {
        const lines = redisSettingsOf(service);
        if (redisSetting(lines, 'sentinel', 'monitor')?.split(' ')[0] !== env.REDIS_SENTINEL_MASTER)
          problems.push(`${name}: REDIS_SENTINEL_MASTER is not the master ${sentinel} monitors`);
        if (redisSetting(lines, 'requirepass') !== env.REDIS_SENTINEL_PASSWORD)
          problems.push(`${name}: REDIS_SENTINEL_PASSWORD is not ${sentinel}'s requirepass`);
      }
      if (!env.REDIS_URL?.startsWith('rediss:')) problems.push(`${name}: REDIS_URL is not rediss:`);
    }
    expect(problems).toEqual([]);
  });

  it('runs PostgreSQL as a primary and a standby streaming from it over TLS, every URL naming both', () => {
    const servers = Object.entries(compose).filter(([, service]) => service.image?.startsWith('postgres'));
    expect(servers.length, 'PostgreSQL servers').toBe(2);
    const problems: string[] = [];
    const standbys = servers.filter(([, service]) => environmentOf(service).POSTGRES_STANDBY_OF);
    expect(standbys.length, 'standbys').toBe(1);
    const [standbyName, standby] = standbys[0] as [string, ComposeService];
    const env = environmentOf(standby);
    const [primaryName = '', primaryPort] = (env.POSTGRES_STANDBY_OF ?? '').split(':');
    const primary = compose[primaryName];
    if (!primary?.image?.startsWith('postgres') || primaryName === standbyName)
      throw new Error(`${standbyName}: a standby of ${primaryName}, not the other PostgreSQL`);
    if (Number(primaryPort) !== Number(flag(primary, 'port') ?? 5432))
      problems.push(`${standbyName}: a standby of ${primaryName} on ${primaryPort}, not its port`);
    // Its entrypoint makes it a copy of the primary (pg_basebackup -R) over TLS, as servers.sh does.
    const entrypoint = fileIn(standby, words(standby.entrypoint).find((one) => one.endsWith('.sh')) ?? '');
    const script = entrypoint ? readFileSync(entrypoint, 'utf8') : '';
    if (!/pg_basebackup\b[^\n]*(\\\n[^\n]*)*-R\b/.test(script) || !script.includes('sslmode=verify-full'))
      problems.push(
        `${standbyName}: its entrypoint makes no streaming copy over TLS (pg_basebackup -R, verify-full)`,
      );
    // The replication login: the one the primary makes, with its password, let in over TLS only.
    const primaryEnv = environmentOf(primary);
    for (const key of ['POSTGRES_REPLICATION_USER', 'POSTGRES_REPLICATION_PASSWORD'])
      if (!env[key] || env[key] !== primaryEnv[key])
        problems.push(`${standbyName}: ${key} is not the one ${primaryName} is given`);
    const hba = fileIn(primary, flag(primary, 'hba_file') ?? '');
    const rules = hba
      ? readFileSync(hba, 'utf8')
          .split('\n')
          .map((line) => line.trim().split(/\s+/))
          .filter((line) => line[0] && !line[0].startsWith('#'))
      : [];
    const replicator = env.POSTGRES_REPLICATION_USER;
    if (!rules.some((rule) => rule[0] === 'hostssl' && rule[1] === 'replication' && rule[2] === replicator))
      problems.push(`${primaryName}: its pg_hba.conf lets no replication in over TLS (hostssl replication)`);
    if (rules.some((rule) => rule[0]?.startsWith('host') && rule[0] !== 'hostssl'))
      problems.push(`${primaryName}: its pg_hba.conf lets a connection in without TLS`);
    const initdb = [...mountsOf(primary)].find(([target]) =>
      target.startsWith('/docker-entrypoint-initdb.d'),
    );
    const init = initdb ? readFileSync(hostFile(initdb[1]), 'utf8') : '';
    if (!/CREATE ROLE[^\n]*REPLICATION/i.test(init) || !init.includes('POSTGRES_REPLICATION_PASSWORD'))
      problems.push(`${primaryName}: its first start makes no replication role (docker-entrypoint-initdb.d)`);

    for (const [name, service] of servers) {
      if (flag(service, 'ssl') !== 'on') problems.push(`${name}: runs without ssl=on`);
      if (flag(service, 'hba_file') !== flag(primary, 'hba_file'))
        problems.push(`${name}: another pg_hba.conf`);
    }
    const names = servers.map(([name]) => name).sort();
    for (const { name, env: serviceEnv } of nodeServices()) {
      const url = serviceEnv.DATABASE_URL;
      if (url === undefined) continue;
      const hosts = urlsIn(url);
      if (hosts.map((one) => one.hostname).join() !== [primaryName, standbyName].join())
        problems.push(
          `${name}: DATABASE_URL names ${hosts.map((one) => one.hostname).join(',')}, not ${names.join(',')} (the primary first)`,
        );
      if (hosts[0]?.searchParams.get('target_session_attrs') !== 'read-write')
        problems.push(`${name}: DATABASE_URL without target_session_attrs=read-write`);
    }
    expect(problems).toEqual([]);
  });
});
