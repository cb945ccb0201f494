import { helplineService } from './service.ts';

await helplineService.main();
