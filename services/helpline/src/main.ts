import { ConfigError, createLogger, exitOnSignals, Lifecycle } from '@telecare/platform';
import { loadHelplineConfig } from './config.ts';
import { startHelpline } from './service.ts';

let config: ReturnType<typeof loadHelplineConfig>;
try {
  config = loadHelplineConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger('helpline', config.LOG_LEVEL);
const helpline = await startHelpline(config, { logger }).catch((err: unknown) => {
  logger.fatal({ err }, 'helpline could not start');
  process.exit(1);
});
const lifecycle = new Lifecycle(logger);
lifecycle.add('helpline', () => helpline.close());
exitOnSignals(lifecycle, logger);
