import { gatewayMqttService } from './service.ts';

await gatewayMqttService.main();
