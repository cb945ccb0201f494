import { runService } from '@telecare/platform';
import { seedCommand } from './commands.ts';
import { loadReportsConfig } from './config.ts';
import { rebuildReports, startReports } from './service.ts';

// `main.ts rebuild`: empty the read model so the next start replays the streams from the start.
// `main.ts seed`: simulated past activity for a demonstration (see seed.ts).
const [command, ...args] = process.argv.slice(2);
if (command === 'rebuild') await rebuildReports(loadReportsConfig());
else if (command === 'seed') await seedCommand(loadReportsConfig(), args);
else await runService('reports', { load: () => loadReportsConfig(), start: startReports });
