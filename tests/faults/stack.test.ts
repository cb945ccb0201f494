import { spawn } from 'node:child_process';
import { freePort } from '@telecare/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultStack, type SupervisedService } from './stack.ts';

const stack = new FaultStack();
afterAll(() => stack.stop());

describe('FaultStack.waitReady', () => {
  it('names a service whose supervisor exited at once, not after the timeout, and never as ready', async () => {
    // A supervisor that gave up (it does on a crash it takes for a start-up failure): the service
    // is gone for good, and a run must not count it recovered.
    const supervisor = spawn(process.execPath, ['-e', 'process.exit(3)'], { stdio: 'ignore' });
    await new Promise((resolve) => supervisor.once('exit', resolve));
    const service: SupervisedService = {
      id: 'gateway-dc09',
      service: 'gateway-dc09',
      port: await freePort(),
      logFile: '/dev/null',
      supervisor,
    };
    const started = Date.now();
    expect(await stack.waitReady([service], 20_000)).toEqual(['gateway-dc09']);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});
