import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { names } from '@telecare/contracts';
import { OwnNatsServer, uniqueNamespace, waitFor } from '@telecare/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connectNats,
  createLogger,
  ensureStreams,
  jetstreamManager,
  type NatsConnection,
  natsAnswers,
} from '../src/index.ts';
import { storedSecurityEvents } from './fixtures/security.ts';

const FIXTURE = fileURLToPath(new URL('./fixtures/security-outbox.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const namespace = uniqueNamespace('secspool');
const n = names(namespace);
const logger = createLogger('security-spool-test', 'silent');

const stored = (nc: NatsConnection) => storedSecurityEvents(nc, n.streams.security);
const count = async (nc: NatsConnection) =>
  (await (await jetstreamManager(nc)).streams.info(n.streams.security)).state.messages;
/** Enough that a crash as soon as one is stored comes in the middle of sending them. */
const RAISED = 100;

/** The fixture process holding an outbox whose spool is in `stateDir`; its output lines kept. */
function holder(url: string, stateDir: string) {
  const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--import', 'tsx', FIXTURE], {
    cwd: ROOT,
    env: { ...process.env, NATS_URL: url, TELECARE_NAMESPACE: namespace, OUTBOX_STATE_DIR: stateDir },
  });
  const lines: string[] = [];
  let stderr = '';
  let buffer = '';
  child.stdout.on('data', (chunk) => {
    buffer += String(chunk);
    const parts = buffer.split('\n');
    buffer = parts.pop() ?? '';
    lines.push(...parts);
  });
  child.stderr.on('data', (chunk) => {
    stderr += String(chunk);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const said = (line: string) =>
    waitFor(() => lines.includes(line), { timeoutMs: 30_000, what: `the holder to say ${line} (${stderr})` });
  return {
    said,
    lines,
    send: (line: string) => child.stdin.write(`${line}\n`),
    crash: async () => {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

describe('a security-event outbox with a state folder', () => {
  let own: OwnNatsServer;
  let nc: NatsConnection;
  const stateDir = mkdtempSync(path.join(tmpdir(), 'telecare-secspool-'));

  beforeAll(async () => {
    own = await OwnNatsServer.start('security-spool');
    nc = await connectNats({ url: own.url, name: 'security-spool-test', logger });
    await ensureStreams(await jetstreamManager(nc), n, ['security']);
  });

  afterAll(async () => {
    await nc?.close();
    await own?.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('stores once each, after its process crashed twice, the events it held while NATS was down', async () => {
    const first = holder(own.url, stateDir);
    await first.said('ready');
    await own.stop();
    first.send(`raise 0 ${RAISED}`);
    await first.said('raised');
    await first.crash();

    await own.start();
    await waitFor(() => natsAnswers(nc, 500), { timeoutMs: 20_000, what: 'the test connection back' });
    // Crashed again as soon as it has stored one: the rest, and maybe that one, still spooled.
    const second = holder(own.url, stateDir);
    await waitFor(async () => (await count(nc)) > 0, {
      timeoutMs: 30_000,
      intervalMs: 5,
      what: 'one stored',
    });
    await second.crash();
    const storedBeforeCrash = await count(nc);

    const third = holder(own.url, stateDir);
    try {
      await third.said('ready');
      await third.said('empty');
      const all = await stored(nc);
      expect(all.map((m) => m.i).sort((a, b) => a - b)).toEqual([...Array(RAISED).keys()]);
      expect(new Set(all.map((m) => m.msgId)).size).toBe(RAISED);
      // The crash came while the second was sending (else this run proved the first crash only).
      expect(storedBeforeCrash).toBeLessThan(RAISED);
      for (const { msgId } of all) expect(msgId).toMatch(/^sec_[0-9a-f]{32}$/);
      // Sent, so no longer kept.
      expect(readFileSync(path.join(stateDir, 'security-events.jsonl'), 'utf8')).toBe('');
    } finally {
      await third.crash();
    }
  }, 120_000);
});
