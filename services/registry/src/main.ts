import { runService } from '@telecare/platform';
import { loadRegistryConfig } from './config.ts';
import { startRegistry } from './service.ts';

await runService('registry', { load: () => loadRegistryConfig(), start: startRegistry });
