import { describe, expect, it } from 'vitest';
import { serviceLabel } from './security.ts';

describe('the service label of helpline_security_events_read_total', () => {
  it('keeps the known services and counts anything else as other', () => {
    for (const known of ['gateway-dc09', 'gateway-mqtt', 'triage', 'registry', 'reports', 'helpline'])
      expect(serviceLabel(known)).toBe(known);
    for (const unknown of ['', 'gateway-dc09 ', 'Gateway-DC09', 'evil-1', `x${'y'.repeat(500)}`, 'other'])
      expect(serviceLabel(unknown)).toBe('other');
  });
});
