export { loadTriageConfig, type TriageConfig, triageEnv } from './config.ts';
export { consumerName } from './partitions.ts';
export { startTriage, type TriageHandle, type TriageOptions } from './service.ts';
