export { loadReportsConfig, type ReportsConfig, reportsEnv } from './config.ts';
// The pure figures and the episodes file's check, for the benchmark that times them.
export type { Rows as ReportRows } from './figures.ts';
export { checkEpisodes } from './hospital.ts';
export {
  type ReportsHandle,
  type ReportsOwn,
  rebuildReports,
  reportsService,
  startReports,
} from './service.ts';
export { summarise } from './summary.ts';
