import { ConfigError, createLogger, exitOnSignals, Lifecycle } from '@telecare/platform';
import { loadRegistryConfig, type RegistryConfig } from './config.ts';
import { startRegistry } from './service.ts';

let config: RegistryConfig;
try {
  config = loadRegistryConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger('registry', config.LOG_LEVEL);
const registry = await startRegistry(config, { logger });
const lifecycle = new Lifecycle(logger);
lifecycle.add('registry', () => registry.close());
exitOnSignals(lifecycle, logger);
