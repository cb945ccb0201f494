export { loadReportsConfig, type ReportsConfig, reportsEnv } from './config.ts';
export { type ReportsHandle, rebuildReports, startReports } from './service.ts';
