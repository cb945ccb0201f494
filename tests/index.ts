export { type RunningPlatform, startPlatform } from './support/platform.ts';
