import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import path from 'node:path';
import { names } from '@telecare/contracts';
import { type DynsecMosquitto, freePort, listening, waitFor } from '@telecare/testkit';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';

/** Connects once (MQTT v5, no reconnect), or resolves with the broker's refusal. */
export function connectAs(port: number, options: IClientOptions): Promise<MqttClient | Error> {
  return new Promise((resolve) => {
    const client = mqtt.connect(`mqtt://127.0.0.1:${port}`, {
      protocolVersion: 5,
      reconnectPeriod: 0,
      connectTimeout: 3_000,
      ...options,
    });
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      resolve(err);
    });
  });
}

/** Waits until the dynamic-security broker takes its admin's login (its plugin has loaded). */
export async function dynsecAdminReady(broker: DynsecMosquitto, adminPassword: string, clientId: string) {
  await waitFor(async () => {
    const probe = await connectAs(broker.port, {
      username: 'registry-admin',
      password: adminPassword,
      clientId,
    });
    if (probe instanceof Error) return false;
    await probe.endAsync();
    return true;
  });
}

export interface StaticMosquitto {
  readonly port: number;
  /** Stops the broker and, once it has exited, removes its folder. */
  stop(): Promise<void>;
}

/**
 * A Mosquitto of its own on the shipped static configuration (infra/mosquitto: password file and
 * ACL), with a loopback listener in place of TLS, files of its own, and the ACL's device topics in
 * `namespace`'s tree in place of `telecare`'s. `users` are the password file's logins.
 */
export async function startStaticMosquitto(
  namespace: string,
  users: ReadonlyArray<readonly [user: string, secret: string]>,
): Promise<StaticMosquitto> {
  const dir = mkdtempSync(path.join(tmpdir(), 'telecare-static-mqtt-'));
  const port = await freePort();
  const shipped = readFileSync(new URL('../../infra/mosquitto/mosquitto.conf', import.meta.url), 'utf8');
  const dropped = /^(listener|certfile|keyfile|tls_version|password_file|acl_file|persistence_location)\b/;
  const kept = shipped.split('\n').filter((line) => !dropped.test(line.trim()));
  const passwd = path.join(dir, 'passwd');
  writeFileSync(passwd, '');
  for (const [user, secret] of users) execFileSync('mosquitto_passwd', ['-b', passwd, user, secret]);
  const acl = path.join(dir, 'telecare.acl');
  const shippedAcl = readFileSync(new URL('../../infra/mosquitto/telecare.acl', import.meta.url), 'utf8');
  writeFileSync(acl, shippedAcl.replaceAll('telecare/v1/devices/', `${names(namespace).mqtt.root}/`));
  writeFileSync(
    path.join(dir, 'mosquitto.conf'),
    [
      `listener ${port} 127.0.0.1`,
      ...kept,
      `password_file ${passwd}`,
      `acl_file ${acl}`,
      `persistence_location ${dir}/`,
      `user ${userInfo().username}`,
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn('mosquitto', ['-c', path.join(dir, 'mosquitto.conf')], {
    stdio: 'ignore',
  });
  const stop = async () => {
    // Mosquitto writes its persistence file as it stops: the folder is removed once it has exited.
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 5 });
  };
  try {
    await waitFor(() => listening(port), { what: 'the static-config Mosquitto to listen' });
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, stop };
}
