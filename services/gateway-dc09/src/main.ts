import { runService } from '@telecare/platform';
import { loadGatewayDc09Config } from './config.ts';
import { SERVICE } from './gateway.ts';
import { startGatewayDc09 } from './service.ts';

await runService(SERVICE, { load: () => loadGatewayDc09Config(), start: startGatewayDc09 });
