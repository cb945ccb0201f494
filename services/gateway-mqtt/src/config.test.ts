import { ConfigError } from '@telecare/platform';
import { describe, expect, it } from 'vitest';
import { gatewaySessionExpiryS, gatewaySubscriptions, loadGatewayMqttConfig } from './config.ts';

describe('gateway-mqtt alone or in a shared group', () => {
  it('alone: subscribes to every device topic and keeps its session for a week', () => {
    const config = loadGatewayMqttConfig({ TELECARE_NAMESPACE: 'ops' });
    expect(gatewaySubscriptions(config)).toEqual({
      events: 'ops/v1/devices/+/events',
      status: 'ops/v1/devices/+/status',
    });
    expect(gatewaySessionExpiryS(config)).toBe(604_800);
  });

  it('in a group: subscribes as a member of $share/<group>, with no session past a disconnect', () => {
    const config = loadGatewayMqttConfig({
      TELECARE_NAMESPACE: 'ops',
      GATEWAY_MQTT_SHARED_GROUP: 'gateways',
      MQTT_CLIENT_ID: 'ops-gateway-mqtt-2',
    });
    expect(gatewaySubscriptions(config)).toEqual({
      events: '$share/gateways/ops/v1/devices/+/events',
      status: '$share/gateways/ops/v1/devices/+/status',
    });
    expect(gatewaySessionExpiryS(config)).toBe(0);
    expect(gatewaySessionExpiryS({ ...config, GATEWAY_MQTT_SESSION_EXPIRY_S: 30 })).toBe(30);
  });

  it('a group member needs a client id of its own, and a group a name MQTT allows', () => {
    expect(() => loadGatewayMqttConfig({ GATEWAY_MQTT_SHARED_GROUP: 'gateways' })).toThrow(
      /MQTT_CLIENT_ID: required with GATEWAY_MQTT_SHARED_GROUP/,
    );
    for (const bad of ['a/b', 'a+', '#', 'a b', '']) {
      expect(() => loadGatewayMqttConfig({ GATEWAY_MQTT_SHARED_GROUP: bad, MQTT_CLIENT_ID: 'x' })).toThrow(
        ConfigError,
      );
    }
  });
});
