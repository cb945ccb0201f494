import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type Client, createClient, HELPLINE_ROUTES, type HelplineRoutes } from '@telecare/contracts';
import { type GatewayDc09Handle, loadGatewayDc09Config, startGatewayDc09 } from '@telecare/gateway-dc09';
import { type GatewayMqttHandle, loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { loadHelplineConfig, startHelpline } from '@telecare/helpline';
import type { Clock } from '@telecare/platform';
import { loadRegistryConfig, startRegistry } from '@telecare/registry';
import { RegistryClient } from '@telecare/simulators';
import {
  cleanupNamespace,
  freePort,
  type ServiceProcess,
  serviceEnv,
  spawnService,
  uniqueNamespace,
} from '@telecare/testkit';
import { loadTriageConfig, startTriage } from '@telecare/triage';

interface Handle {
  port: number;
  url: string;
  close(): Promise<void>;
}

export interface RunningPlatform {
  readonly namespace: string;
  readonly env: Record<string, string>;
  readonly token: string;
  readonly registry: Handle;
  readonly helpline: Handle;
  readonly triage: Handle;
  /** The gateways' HTTP (health, metrics). */
  readonly gatewayMqtt: Handle;
  readonly gatewayDc09: Handle;
  readonly registryClient: RegistryClient;
  /** Where DC-09 senders reach the platform (accounts come from the dc09Accounts KV bucket). */
  readonly dc09: GatewayDc09Handle['dc09'];
  /**
   * What the DC-09 gateway holds of an account now, its keys left out (in-process only): a test
   * knows the gateway took a registry change without spending a frame on it.
   */
  readonly dc09Account?: GatewayDc09Handle['account'];
  /**
   * What the MQTT gateway holds of a device now (in-process only): a test knows the gateway took a
   * registry change (test mode on or off) before the device's message depends on it.
   */
  readonly mqttDevice?: GatewayMqttHandle['device'];
  /** Where the services write their logs, when each runs in a process of its own. */
  readonly logDir?: string;
  /** GET a helpline API path with the admin token. */
  helplineGet<T>(path: string): Promise<T>;
  /** The helpline's typed client, with the admin token; `helplineApi.listCases.pages()` reads every page. */
  readonly helplineApi: Client<HelplineRoutes>;
  /** Puts a rule set in force through triage's `PUT /api/rules` (per-resident settings from a care plan). */
  putRules(ruleSet: unknown): Promise<void>;
  stop(options?: { keepData?: boolean }): Promise<void>;
}

/**
 * Every foundation service, in this process, against the real servers, in a namespace of its own.
 * Services start in the order a deployment would: registry (device map), helpline, triage, gateway.
 */
export async function startPlatform(
  label: string,
  extraEnv: Record<string, string> = {},
  /**
   * `clock`: every service takes its time from it (a ManualClock runs a month in minutes).
   * `processes`: each service in a process of its own, as deployed (no clock then), so that a
   * load generator in this process does not share the services' event loop.
   */
  options: { clock?: Clock; processes?: boolean } = {},
): Promise<RunningPlatform> {
  const serviceOptions = options.clock ? { clock: options.clock } : {};
  const namespace = uniqueNamespace(label);
  const env = serviceEnv(namespace, {
    REGISTRY_PORT: '0',
    HELPLINE_PORT: '0',
    TRIAGE_PORT: '0',
    GATEWAY_MQTT_PORT: '0',
    GATEWAY_DC09_PORT: '0',
    DC09_PORT: '0',
    MQTT_CLIENT_ID: `${namespace}-gateway`,
    TELECARE_PARTITIONS: '4',
    ...extraEnv,
  });
  const token = env.TELECARE_ADMIN_TOKEN ?? '';
  const handles: Handle[] = [];
  const logDir = options.processes ? mkdtempSync(path.join(tmpdir(), `telecare-${label}-`)) : undefined;
  try {
    if (logDir) {
      const started: ServiceProcess[] = [];
      const spawned = async (name: ServiceProcess['name'], extra: Record<string, string> = {}) => {
        const service = await spawnService(name, { ...env, ...extra }, logDir);
        started.push(service);
        handles.push(service);
        return service;
      };
      const registry = await spawned('registry');
      const helpline = await spawned('helpline', { REGISTRY_URL: registry.url });
      const triage = await spawned('triage');
      const gatewayMqtt = await spawned('gateway-mqtt');
      const dc09Port = await freePort();
      const gatewayDc09 = await spawned('gateway-dc09', { DC09_PORT: String(dc09Port) });
      return running({
        registry,
        helpline,
        triage,
        gatewayMqtt,
        gatewayDc09,
        dc09: { host: env.DC09_HOST ?? '127.0.0.1', tcpPort: dc09Port, udpPort: dc09Port },
        logDir,
      });
    }
    const registry = await startRegistry(loadRegistryConfig(env), serviceOptions);
    handles.push(registry);
    // The helpline reads residents and responders from the registry's API, as deployed.
    const helpline = await startHelpline(
      loadHelplineConfig({ ...env, REGISTRY_URL: registry.url }),
      serviceOptions,
    );
    handles.push(helpline);
    const triage = await startTriage(loadTriageConfig(env), serviceOptions);
    handles.push(triage);
    const gatewayMqtt = await startGatewayMqtt(loadGatewayMqttConfig(env), serviceOptions);
    handles.push(gatewayMqtt);
    const dc09 = await startGatewayDc09(loadGatewayDc09Config(env), serviceOptions);
    handles.push(dc09);
    return running({
      registry,
      helpline,
      triage,
      gatewayMqtt,
      gatewayDc09: dc09,
      dc09: dc09.dc09,
      dc09Account: (account) => dc09.account(account),
      mqttDevice: (serial) => gatewayMqtt.device(serial),
    });
  } catch (err) {
    for (const handle of handles.reverse()) await handle.close().catch(() => undefined);
    await cleanupNamespace(namespace);
    throw err;
  }

  function running(
    parts: Pick<
      RunningPlatform,
      'registry' | 'helpline' | 'triage' | 'gatewayMqtt' | 'gatewayDc09' | 'dc09'
    > & {
      dc09Account?: GatewayDc09Handle['account'];
      mqttDevice?: GatewayMqttHandle['device'];
      logDir?: string;
    },
  ): RunningPlatform {
    const { registry, helpline, triage } = parts;
    return {
      namespace,
      env,
      token,
      ...parts,
      registryClient: new RegistryClient(registry.url, token),
      helplineApi: createClient(HELPLINE_ROUTES, { baseUrl: helpline.url, token, service: 'the helpline' }),
      async helplineGet<T>(path: string): Promise<T> {
        const response = await fetch(new URL(path, helpline.url), {
          headers: { authorization: `Bearer ${token}` },
        });
        if (!response.ok) throw new Error(`GET ${path}: ${response.status} ${await response.text()}`);
        return (await response.json()) as T;
      },
      async putRules(ruleSet: unknown): Promise<void> {
        const response = await fetch(new URL('/api/rules', triage.url), {
          method: 'PUT',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify(ruleSet),
        });
        if (!response.ok) throw new Error(`PUT /api/rules: ${response.status} ${await response.text()}`);
      },
      async stop(options = {}) {
        for (const handle of handles.reverse()) await handle.close();
        if (!options.keepData) await cleanupNamespace(namespace);
      },
    };
  }
}
