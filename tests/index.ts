export { mapHubs } from './support/homes.ts';
export { type RunningPlatform, startPlatform } from './support/platform.ts';
