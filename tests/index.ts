export {
  type LoadReport,
  runPreviousVersion,
  seedAt012,
  tallyMismatches,
} from './support/helpline-upgrade.ts';
export { mapHubs } from './support/homes.ts';
export { type RunningPlatform, startPlatform } from './support/platform.ts';
