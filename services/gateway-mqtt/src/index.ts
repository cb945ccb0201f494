export {
  type GatewayMqttConfig,
  gatewayClientId,
  gatewayMqttEnv,
  gatewaySessionExpiryS,
  gatewaySubscriptions,
  loadGatewayMqttConfig,
} from './config.ts';
export { DeliveryAbandonedError } from './gateway.ts';
export { MAX_PAYLOAD_BYTES } from './intake.ts';
export {
  type GatewayDeviceView,
  type GatewayMqttHandle,
  gatewayMqttService,
  startGatewayMqtt,
} from './service.ts';
