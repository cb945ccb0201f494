import { describe, expect, it } from 'vitest';
import { deliveryInfo, PullRefusedError } from './pull.ts';

describe('deliveryInfo', () => {
  it('reads a delivery from the ack subject of servers before and after domains', () => {
    const old = deliveryInfo('$JS.ACK.T_ALERTS.helpline-p1.2.117.40.1796461754429421432.5');
    expect(old).toEqual({
      stream: 'T_ALERTS',
      consumer: 'helpline-p1',
      deliveryCount: 2,
      streamSequence: 117,
      pending: 5,
    });
    const withDomain = deliveryInfo(
      '$JS.ACK.hub.ACCHASH.T_EVENTS.triage-p3.1.9.9.1796461754429421432.0.rAnd0m',
    );
    expect(withDomain).toEqual({
      stream: 'T_EVENTS',
      consumer: 'triage-p3',
      deliveryCount: 1,
      streamSequence: 9,
      pending: 0,
    });
  });

  it('refuses a reply subject that is not a JetStream delivery', () => {
    expect(() => deliveryInfo('_INBOX.abc.1')).toThrow(/not a JetStream delivery/);
    expect(() => deliveryInfo('')).toThrow(/not a JetStream delivery/);
  });
});

describe('PullRefusedError', () => {
  it('names the status the server refused the pull with', () => {
    const refused = new PullRefusedError(409, 'Consumer Deleted');
    expect(refused.message).toBe('pull refused: 409 Consumer Deleted');
    expect(refused.code).toBe(409);
  });
});
