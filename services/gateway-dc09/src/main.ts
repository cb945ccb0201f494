import { ConfigError, createLogger, exitOnSignals, Lifecycle } from '@telecare/platform';
import { type GatewayDc09Config, loadGatewayDc09Config } from './config.ts';
import { SERVICE } from './gateway.ts';
import { startGatewayDc09 } from './service.ts';

let config: GatewayDc09Config;
try {
  config = loadGatewayDc09Config();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger(SERVICE, config.LOG_LEVEL);
const handle = await startGatewayDc09(config, { logger });
const lifecycle = new Lifecycle(logger);
lifecycle.add(SERVICE, () => handle.close());
exitOnSignals(lifecycle, logger);
