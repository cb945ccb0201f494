import { ConfigError, createLogger, exitOnSignals, Lifecycle } from '@telecare/platform';
import { loadTriageConfig, startTriage, type TriageConfig } from './index.ts';

let config: TriageConfig;
try {
  config = loadTriageConfig();
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  throw err;
}

const logger = createLogger('triage', config.LOG_LEVEL);
try {
  const triage = await startTriage(config, { logger });
  const lifecycle = new Lifecycle(logger);
  lifecycle.add('triage', () => triage.close());
  exitOnSignals(lifecycle, logger);
} catch (err) {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(1);
  }
  logger.fatal({ err }, 'triage failed to start');
  process.exit(1);
}
