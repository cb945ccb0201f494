import { randomBytes } from 'node:crypto';
import { createLogger } from '@telecare/platform';
import {
  cleanupNamespace,
  type DynsecMosquitto,
  serviceEnv,
  startDynsecMosquitto,
  uniqueNamespace,
  waitFor,
} from '@telecare/testkit';
import { loadRegistryConfig, type RegistryHandle, startRegistry } from '../src/index.ts';
import { MqttPacketProxy } from './mqtt-proxy.ts';
import { apiCaller, brokerAdmits } from './support.ts';

/**
 * A registry with a data key that drives a dynamic-security Mosquitto of the test's own through an
 * `MqttPacketProxy`, in a namespace of its own: the broker can lose a command or an answer, the
 * link be cut, or the broker crash and come back.
 */
export interface RegistryBehindProxy {
  readonly ns: string;
  readonly broker: DynsecMosquitto;
  readonly proxy: MqttPacketProxy;
  readonly registry: RegistryHandle;
  /** The registry's API with the admin token. */
  readonly call: ReturnType<typeof apiCaller>;
  /** Whether the broker admits the device's login (under its own client id). */
  admits(username: string, password: string): Promise<boolean>;
  close(): Promise<void>;
}

export async function startRegistryBehindProxy(
  label: string,
  env: Record<string, string> = {},
): Promise<RegistryBehindProxy> {
  const ns = uniqueNamespace(label);
  const adminPassword = `admin-secret-for-${label}`;
  const broker = await startDynsecMosquitto({ adminPassword, label });
  const admits = (username: string, password: string) => brokerAdmits(broker.port, username, password);
  await waitFor(() => admits('registry-admin', adminPassword), { what: 'the broker' });
  const proxy = await MqttPacketProxy.start(broker.port);
  const config = serviceEnv(ns, {
    REGISTRY_PORT: '0',
    MQTT_ADMIN_URL: `mqtt://registry-admin:${adminPassword}@127.0.0.1:${proxy.port}`,
    REGISTRY_DATA_KEY: randomBytes(32).toString('hex'),
    ...env,
  });
  const logger = createLogger('registry-test', process.env.TEST_LOG_LEVEL ?? 'silent');
  const registry = await startRegistry(loadRegistryConfig(config), { logger });
  const token = config.TELECARE_ADMIN_TOKEN!;
  return {
    ns,
    broker,
    proxy,
    registry,
    call: apiCaller(
      () => registry.url,
      () => token,
    ),
    admits,
    async close() {
      await registry.close();
      await proxy.close();
      broker.stop();
      await cleanupNamespace(ns);
    },
  };
}
