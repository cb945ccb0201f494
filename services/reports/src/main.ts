import { runService } from '@telecare/platform';
import { loadReportsConfig } from './config.ts';
import { rebuildReports, startReports } from './service.ts';

// `main.ts rebuild`: empty the read model so the next start replays the streams from the start.
if (process.argv[2] === 'rebuild') await rebuildReports(loadReportsConfig());
else await runService('reports', { load: () => loadReportsConfig(), start: startReports });
