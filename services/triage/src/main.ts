import { triageService } from './index.ts';

await triageService().main();
