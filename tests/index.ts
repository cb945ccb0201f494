export { type RunningPlatform, startPlatform } from './support/platform.ts';
export { mapHubs } from './support/homes.ts';
