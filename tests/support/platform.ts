import { type GatewayDc09Handle, loadGatewayDc09Config, startGatewayDc09 } from '@telecare/gateway-dc09';
import { loadGatewayMqttConfig, startGatewayMqtt } from '@telecare/gateway-mqtt';
import { loadHelplineConfig, startHelpline } from '@telecare/helpline';
import type { Clock } from '@telecare/platform';
import { loadRegistryConfig, startRegistry } from '@telecare/registry';
import { RegistryClient } from '@telecare/simulators';
import { cleanupNamespace, serviceEnv, uniqueNamespace } from '@telecare/testkit';
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
  /** GET a helpline API path with the admin token. */
  helplineGet<T>(path: string): Promise<T>;
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
  /** `clock`: every service takes its time from it (a ManualClock runs a month in minutes). */
  options: { clock?: Clock } = {},
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
  try {
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
    return {
      namespace,
      env,
      token,
      registry,
      helpline,
      triage,
      gatewayMqtt,
      gatewayDc09: dc09,
      dc09: dc09.dc09,
      registryClient: new RegistryClient(registry.url, token),
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
  } catch (err) {
    for (const handle of handles.reverse()) await handle.close().catch(() => undefined);
    await cleanupNamespace(namespace);
    throw err;
  }
}
