import { gatewayDc09Service } from './service.ts';

await gatewayDc09Service.main();
