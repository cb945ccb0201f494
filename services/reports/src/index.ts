export { loadReportsConfig, type ReportsConfig, reportsEnv } from './config.ts';
export {
  type ReportsHandle,
  type ReportsOwn,
  rebuildReports,
  reportsService,
  startReports,
} from './service.ts';
