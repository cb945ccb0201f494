import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { dataDir, repoRoot } from './paths.ts';

/** The one list of services the stack and the demo run, in start order. */
export interface ServiceSpec {
  readonly name: string;
  /** Environment variable holding the service's HTTP port (/healthz, /readyz, /metrics). */
  readonly portEnv: string;
  readonly defaultPort: number;
  /** Set when the service serves something a person opens in a browser or calls by hand. */
  /** `tokenInFragment`: the page reads the admin token from `#token=…`, so the printed link signs in. */
  /** `signIn`: the variables holding an email and password that sign in at the page. */
  readonly web?: {
    readonly path: string;
    readonly label: string;
    readonly tokenInFragment?: boolean;
    readonly signIn?: { readonly email: string; readonly password: string };
  };
  /** Variable under which other processes find the service's base URL. */
  readonly urlEnv?: string;
  /**
   * Set for a service that keeps what it must not lose in a crash in a folder of its own (the
   * gateways' security events, GATEWAY_STATE_DIR): the stack gives it one under the data folder.
   */
  readonly stateEnv?: string;
}

export const services: readonly ServiceSpec[] = [
  {
    name: 'registry',
    portEnv: 'REGISTRY_PORT',
    defaultPort: 7020,
    web: { path: '/', label: 'registry API' },
    urlEnv: 'REGISTRY_URL',
  },
  { name: 'gateway-mqtt', portEnv: 'GATEWAY_MQTT_PORT', defaultPort: 7050, stateEnv: 'GATEWAY_STATE_DIR' },
  // DC-09 senders reach it on DC09_PORT (default 7040, TCP and UDP); this is its HTTP port.
  {
    name: 'gateway-dc09',
    portEnv: 'GATEWAY_DC09_PORT',
    defaultPort: 7045,
    stateEnv: 'GATEWAY_STATE_DIR',
  },
  // The helpline reads a resident's event index there (its case timeline).
  { name: 'triage', portEnv: 'TRIAGE_PORT', defaultPort: 7060, urlEnv: 'TRIAGE_URL' },
  {
    name: 'helpline',
    portEnv: 'HELPLINE_PORT',
    defaultPort: 7010,
    web: {
      path: '/',
      label: 'helpline console',
      tokenInFragment: true,
      signIn: { email: 'HELPLINE_ADMIN_EMAIL', password: 'HELPLINE_ADMIN_PASSWORD' },
    },
    urlEnv: 'HELPLINE_URL',
  },
  {
    name: 'reports',
    portEnv: 'REPORTS_PORT',
    defaultPort: 7030,
    web: { path: '/', label: "commissioners' dashboard" },
    // The helpline links it for a commissioner who signs in to the operators' console.
    urlEnv: 'TELECARE_REPORTS_URL',
  },
];

/**
 * The variables a service gets on top of the stack's: for one that keeps state, its own folder
 * `<data>/state/<service>` (made if missing), kept across restarts like the servers' data.
 */
export function ownEnvOf(service: ServiceSpec): Record<string, string> {
  if (service.stateEnv === undefined) return {};
  const dir = path.join(dataDir, 'state', service.name);
  mkdirSync(dir, { recursive: true });
  return { [service.stateEnv]: dir };
}

export const entryOf = (service: ServiceSpec): string =>
  path.join(repoRoot, 'services', service.name, 'src', 'main.ts');

/** Services whose entry point exists; the others are announced and skipped. */
export function runnableServices(warn: (line: string) => void): ServiceSpec[] {
  return services.filter((service) => {
    if (existsSync(entryOf(service))) return true;
    warn(`skipping ${service.name}: services/${service.name}/src/main.ts does not exist yet`);
    return false;
  });
}

export function portOf(service: ServiceSpec, env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[service.portEnv];
  if (raw === undefined || raw === '') return service.defaultPort;
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new Error(`${service.portEnv}=${raw} is not a TCP port`);
  }
  return port;
}

/** Where the service answers: HTTP_HOST when it names one address, else loopback. */
export function hostOf(env: NodeJS.ProcessEnv = process.env): string {
  const host = env.HTTP_HOST;
  if (!host || host === '0.0.0.0' || host === '::') return '127.0.0.1';
  return host.includes(':') ? `[${host}]` : host;
}

export function baseUrlOf(service: ServiceSpec, env: NodeJS.ProcessEnv = {}): string {
  const merged = { ...process.env, ...env };
  return `http://${hostOf(merged)}:${portOf(service, merged)}`;
}

export const simulatorEntry = path.join(repoRoot, 'simulators', 'src', 'main.ts');
