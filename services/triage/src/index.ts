export { loadTriageConfig, type TriageConfig, triageEnv } from './config.ts';
export { alarmConsumerName, areaConsumerName, consumerName } from './partitions.ts';
export { RedisAway, RedisAwayError } from './redis-away.ts';
export { startTriage, type TriageHandle, type TriageOptions, triageService } from './service.ts';
export { StateStore } from './state-store.ts';
export { TimerStore, timerBucket } from './timers.ts';
