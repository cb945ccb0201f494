import { randomUUID } from 'node:crypto';
import type { DeviceTopics } from '@telecare/contracts';
import { connectMqtt, type Logger, type MqttClient } from '@telecare/platform';
import { DependencyError } from './errors.ts';

/** Where device secrets are installed so the broker admits a device as its serial. */
export interface CredentialAuthority {
  /** Creates (or replaces the secret of) the device's broker client, allowed only its own topics. */
  install(serial: string, secret: string): Promise<void>;
  /** Removes the device's broker client (which disconnects it); a no-op if it is not there. */
  revoke(serial: string): Promise<void>;
  close(): Promise<void>;
}

const CONTROL = '$CONTROL/dynamic-security/v1';
const ANSWER_WAIT_MS = 5_000;

interface DynsecResponse {
  command: string;
  error?: string;
  correlationData?: string;
}

/** The broker's answer names an existing or missing client or role: fine for an idempotent step. */
const already = (error: string | undefined): boolean => error !== undefined && /already exists/i.test(error);
const missing = (error: string | undefined): boolean => error !== undefined && /not found/i.test(error);

/**
 * Mosquitto's dynamic security plugin, driven over MQTT on `$CONTROL/dynamic-security/v1` by an
 * admin client. Each device gets its own client (username = serial) and its own role holding
 * exactly its topics: publish events and status, subscribe to ack and config. Changes apply at
 * once, without a reload, and deleting a client disconnects it.
 */
export class DynsecAuthority implements CredentialAuthority {
  readonly #client: MqttClient;
  readonly #topics: DeviceTopics;
  readonly #log: Logger;
  readonly #waiting = new Map<string, (response: DynsecResponse) => void>();

  private constructor(client: MqttClient, topics: DeviceTopics, logger: Logger) {
    this.#client = client;
    this.#topics = topics;
    this.#log = logger;
    client.on('message', (topic, payload) => {
      if (topic !== `${CONTROL}/response`) return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(payload.toString('utf8'));
      } catch {
        return;
      }
      const responses = (parsed as { responses?: DynsecResponse[] }).responses ?? [];
      for (const response of responses) {
        const done = response.correlationData ? this.#waiting.get(response.correlationData) : undefined;
        if (done) {
          this.#waiting.delete(response.correlationData!);
          done(response);
        }
      }
    });
  }

  static async connect(options: { url: string; topics: DeviceTopics; logger: Logger; clientId: string }) {
    const url = new URL(options.url);
    const username = decodeURIComponent(url.username);
    const password = decodeURIComponent(url.password);
    url.username = '';
    url.password = '';
    const logger = options.logger.child({ component: 'credentials' });
    const client = await connectMqtt({
      url: url.toString(),
      clientId: options.clientId,
      logger,
      username,
      password,
      clean: true,
    });
    await client.subscribeAsync(`${CONTROL}/response`, { qos: 1 });
    return new DynsecAuthority(client, options.topics, logger);
  }

  roleOf(serial: string): string {
    return `device-${serial}`;
  }

  async install(serial: string, secret: string): Promise<void> {
    const rolename = this.roleOf(serial);
    const t = this.#topics;
    const acls = [
      { acltype: 'publishClientSend', topic: t.events(serial), allow: true },
      { acltype: 'publishClientSend', topic: t.status(serial), allow: true },
      { acltype: 'subscribePattern', topic: t.ack(serial), allow: true },
      { acltype: 'subscribePattern', topic: t.config(serial), allow: true },
    ];
    const role = await this.#command({ command: 'createRole', rolename, acls });
    if (role.error && !already(role.error))
      throw new DependencyError(`broker refused role ${rolename}: ${role.error}`);
    const created = await this.#command({
      command: 'createClient',
      username: serial,
      password: secret,
      roles: [{ rolename }],
    });
    if (!created.error) return;
    if (!already(created.error))
      throw new DependencyError(`broker refused client ${serial}: ${created.error}`);
    // Re-issue: the client exists, so replace its secret and make sure it holds its role.
    const reset = await this.#command({ command: 'setClientPassword', username: serial, password: secret });
    if (reset.error) throw new DependencyError(`broker refused new secret for ${serial}: ${reset.error}`);
    const linked = await this.#command({ command: 'addClientRole', username: serial, rolename });
    if (linked.error && !already(linked.error)) {
      throw new DependencyError(`broker refused role for ${serial}: ${linked.error}`);
    }
  }

  async revoke(serial: string): Promise<void> {
    const removed = await this.#command({ command: 'deleteClient', username: serial });
    if (removed.error && !missing(removed.error)) {
      throw new DependencyError(`broker refused to remove ${serial}: ${removed.error}`);
    }
    const role = await this.#command({ command: 'deleteRole', rolename: this.roleOf(serial) });
    if (role.error && !missing(role.error)) this.#log.warn({ serial, error: role.error }, 'role not removed');
  }

  async close(): Promise<void> {
    for (const done of this.#waiting.values()) done({ command: '', error: 'closing' });
    this.#waiting.clear();
    await this.#client.endAsync();
  }

  async #command(command: Record<string, unknown>): Promise<DynsecResponse> {
    const correlationData = randomUUID();
    const answer = new Promise<DynsecResponse>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(correlationData);
        reject(
          new DependencyError(`the broker did not answer ${String(command.command)} in ${ANSWER_WAIT_MS} ms`),
        );
      }, ANSWER_WAIT_MS);
      this.#waiting.set(correlationData, (response) => {
        clearTimeout(timer);
        resolve(response);
      });
    });
    try {
      await this.#client.publishAsync(
        CONTROL,
        JSON.stringify({ commands: [{ ...command, correlationData }] }),
        {
          qos: 1,
        },
      );
    } catch (err) {
      this.#waiting.get(correlationData)?.({ command: '', error: 'not sent' });
      throw new DependencyError('could not reach the broker to change credentials', { cause: err });
    }
    const response = await answer;
    this.#log.debug({ command: command.command, error: response.error }, 'dynamic security');
    return response;
  }
}
