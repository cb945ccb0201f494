import { describe, expect, it } from 'vitest';
import { mqttDebugWanted } from './mqtt.ts';

describe('mqttDebugWanted', () => {
  it('keeps mqtt.js logging only where DEBUG names it', () => {
    expect(mqttDebugWanted(undefined)).toBe(false);
    expect(mqttDebugWanted('')).toBe(false);
    expect(mqttDebugWanted('express:*')).toBe(false);
    expect(mqttDebugWanted('-mqttjs*')).toBe(false);
    expect(mqttDebugWanted('mqttjs*')).toBe(true);
    expect(mqttDebugWanted('mqttjs:client')).toBe(true);
    expect(mqttDebugWanted('express:*,mqttjs*')).toBe(true);
    expect(mqttDebugWanted('express:* mqttjs:client')).toBe(true);
    expect(mqttDebugWanted('*')).toBe(true);
  });
});
