export { loadReportsConfig, type ReportsConfig, reportsEnv } from './config.ts';
// The pure figures and the episodes file's check, for the benchmark that times them.
export type { Rows as ReportRows } from './figures.ts';
export { monthsOf } from './figures.ts';
export { checkEpisodes } from './hospital.ts';
// The read model's store and schema, for the benchmark that times a summary's database read.
export {
  MIGRATIONS,
  type ReportsHandle,
  type ReportsOwn,
  rebuildReports,
  reportsService,
  startReports,
} from './service.ts';
export { ReportsStore } from './store.ts';
export { summarise, summariseCounts } from './summary.ts';
