import { runService } from '@telecare/platform';
import { loadGatewayMqttConfig } from './config.ts';
import { SERVICE } from './gateway.ts';
import { startGatewayMqtt } from './service.ts';

await runService(SERVICE, { load: () => loadGatewayMqttConfig(), start: startGatewayMqtt });
