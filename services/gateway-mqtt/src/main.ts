import { ConfigError, createLogger, exitOnSignals, Lifecycle } from '@telecare/platform';
import { type GatewayMqttConfig, loadGatewayMqttConfig } from './config.ts';
import { SERVICE } from './gateway.ts';
import { startGatewayMqtt } from './service.ts';

let config: GatewayMqttConfig;
try {
  config = loadGatewayMqttConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger(SERVICE, config.LOG_LEVEL);
const handle = await startGatewayMqtt(config, { logger });
const lifecycle = new Lifecycle(logger);
lifecycle.add(SERVICE, () => handle.close());
exitOnSignals(lifecycle, logger);
