import { runService } from '@telecare/platform';
import { loadHelplineConfig } from './config.ts';
import { startHelpline } from './service.ts';

await runService('helpline', { load: () => loadHelplineConfig(), start: startHelpline });
