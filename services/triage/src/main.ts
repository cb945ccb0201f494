import { runService } from '@telecare/platform';
import { loadTriageConfig, startTriage } from './index.ts';

await runService('triage', { load: () => loadTriageConfig(), start: startTriage });
