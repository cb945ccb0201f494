import { registryService } from './service.ts';

await registryService.main();
