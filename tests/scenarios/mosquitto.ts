import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@telecare/testkit';

const serversScript = fileURLToPath(new URL('../../infra/servers.sh', import.meta.url));

export interface OwnMosquitto {
  readonly url: string;
  stop(): void;
}

/**
 * A Mosquitto of the run's own on a free port, configured as infra/servers.sh configures one
 * (Nagle off), so each ack comes back at once instead of waiting on a delayed TCP ACK.
 */
export async function startOwnMosquitto(): Promise<OwnMosquitto> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'telecare-scenario-'));
  const env = {
    ...process.env,
    MQTT_URL: `mqtt://127.0.0.1:${await freePort()}`,
    TELECARE_DATA_DIR: dataDir,
  };
  const up = spawnSync('bash', [serversScript, 'up', 'mosquitto'], { env, encoding: 'utf8' });
  if (up.status !== 0) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`could not start Mosquitto: ${up.stderr || up.stdout}`);
  }
  return {
    url: env.MQTT_URL,
    stop() {
      spawnSync('bash', [serversScript, 'down', 'mosquitto'], { env });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
