export { loadReportsConfig, type ReportsConfig, reportsEnv } from './config.ts';
// The pure figures, for the benchmark that times a five-year summary.
export type { Rows as ReportRows } from './figures.ts';
export {
  type ReportsHandle,
  type ReportsOwn,
  rebuildReports,
  reportsService,
  startReports,
} from './service.ts';
export { summarise } from './summary.ts';
