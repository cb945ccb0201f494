import { randomUUID } from 'node:crypto';
import type { DeviceTopics } from '@telecare/contracts';
import { connectMqtt, type Logger, type MqttClient, type TlsCa } from '@telecare/platform';
import { DependencyError } from './errors.ts';

/** Where device secrets are installed so the broker admits a device as its serial. */
export interface CredentialAuthority {
  /** Creates (or replaces the secret of) the device's broker client, allowed only its own topics. */
  install(serial: string, secret: string): Promise<void>;
  /**
   * Installs new devices' clients as `install` would, several to a broker message; `sending` is
   * told each message's serials before it goes, so a caller that fails can take them out again.
   */
  installMany(devices: ReadonlyArray<NewLogin>, sending: (serials: string[]) => void): Promise<void>;
  /** Removes the device's broker client (which disconnects it); a no-op if it is not there. */
  revoke(serial: string): Promise<void>;
  /** Serials of the device clients and roles in the broker that are this registry's (see DynsecAuthority.deviceLogins). */
  deviceLogins(): Promise<string[]>;
  /** Brings the broker in step with the registry's devices (see DynsecAuthority.resync). */
  resync(devices: readonly DeviceCredential[]): Promise<ResyncReport>;
  close(): Promise<void>;
}

/** What the broker should hold for one MQTT device (from RegistryStore.mqttCredentials). */
export interface DeviceCredential {
  serial: string;
  /** Admitted: issued and not decommissioned. */
  live: boolean;
  /** The issued secret when it can be recovered (sealed under the data key), else null. */
  secret: string | null;
}

export interface ResyncReport {
  /** Live devices checked. */
  checked: number;
  /** Each repair made, `<serial>: <what>`. */
  repaired: string[];
  /** Live devices whose client is gone and whose secret cannot be recovered: re-issue needed. */
  reissue: string[];
  /** Serials of retired devices whose client or role was removed. */
  removed: string[];
}

/** A device's login to install: its serial and the secret issued to it. */
export interface NewLogin {
  serial: string;
  secret: string;
}

/**
 * The most bytes of commands put in one message: below the `max_packet_size` (65,536) every broker
 * configuration of the project sets, with room for the topic and the packet's own header.
 */
const BATCH_BYTES = 48_000;

/** Clients or roles asked of the broker in one command (see `#list`). */
const LIST_PAGE = 200;

interface Acl {
  acltype: string;
  topic: string;
  allow: boolean;
  priority?: number;
}

interface BrokerClient {
  username: string;
  clientid?: string;
  disabled?: boolean;
  roles?: Array<{ rolename: string }>;
  groups?: Array<{ groupname: string }>;
}

const aclKey = (acl: Acl): string => `${acl.acltype} ${acl.topic} ${acl.allow ? 'allow' : 'deny'}`;

const CONTROL = '$CONTROL/dynamic-security/v1';
const ANSWER_WAIT_MS = 5_000;
/**
 * More time a message's answer is given for each command past its first: the broker answers a
 * message once it has run all its commands, and Mosquitto 2.0 writes its whole file after each.
 */
const COMMAND_WAIT_MS = 500;

interface DynsecResponse {
  command: string;
  error?: string;
  correlationData?: string;
  data?: unknown;
}

/** The broker's answer names an existing or missing client or role: fine for an idempotent step. */
const already = (error: string | undefined): boolean => error !== undefined && /already exists/i.test(error);
const missing = (error: string | undefined): boolean => error !== undefined && /not found/i.test(error);

/**
 * Mosquitto's dynamic security plugin, driven over MQTT on `$CONTROL/dynamic-security/v1` by an
 * admin client. Each device gets its own client (username = serial) and its own role holding
 * exactly its topics: publish events and status, subscribe to ack and config. The client is bound
 * to the client id `serial`, so the device cannot log in under another id and take over that
 * session (the gateway's, or another device's, with what the broker queued for it). Changes apply
 * at once, without a reload, and deleting a client disconnects it.
 */
export class DynsecAuthority implements CredentialAuthority {
  readonly #client: MqttClient;
  readonly #topics: DeviceTopics;
  readonly #log: Logger;
  readonly #waiting = new Map<string, (response: DynsecResponse) => void>();

  readonly #batch: number;

  private constructor(client: MqttClient, topics: DeviceTopics, logger: Logger, batch: number) {
    this.#client = client;
    this.#topics = topics;
    this.#log = logger;
    this.#batch = batch;
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

  static async connect(options: {
    url: string;
    topics: DeviceTopics;
    logger: Logger;
    clientId: string;
    /** Devices `installMany` puts in one message at most (REGISTRY_BROKER_BATCH). */
    batch?: number;
    /** The CA the broker's certificate is verified against (TELECARE_TLS_CA), for `mqtts:`/`wss:`. */
    tls?: TlsCa | undefined;
  }) {
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
      tls: options.tls,
      setting: 'MQTT_ADMIN_URL',
      username,
      password,
      clean: true,
      // Commands are sent only while connected (`#command`): none waits offline to go out late.
      queueQoSZero: false,
    });
    await client.subscribeAsync(`${CONTROL}/response`, { qos: 1 });
    return new DynsecAuthority(client, options.topics, logger, options.batch ?? 50);
  }

  /** The only client id the broker admits the device's login with. */
  clientIdOf(serial: string): string {
    return serial;
  }

  roleOf(serial: string): string {
    return `device-${serial}`;
  }

  /** Exactly the device's own topics: publish events and status, subscribe to ack and config. */
  aclsOf(serial: string): Acl[] {
    const t = this.#topics;
    return [
      { acltype: 'publishClientSend', topic: t.events(serial), allow: true },
      { acltype: 'publishClientSend', topic: t.status(serial), allow: true },
      { acltype: 'subscribePattern', topic: t.ack(serial), allow: true },
      { acltype: 'subscribePattern', topic: t.config(serial), allow: true },
    ];
  }

  /**
   * A new client is created with its secret in one command. An existing client (a re-issue) is
   * first bound to its client id and given its role, and only then has its password replaced, as
   * the last command: a broker that fails any step before it leaves the secret the device holds in
   * force. One that fails the replacement itself may or may not have made it (an answer lost), so
   * the caller puts the held secret back when its write does not commit (`routes/devices.ts`).
   */
  async install(serial: string, secret: string): Promise<void> {
    const rolename = this.roleOf(serial);
    const acls = this.aclsOf(serial);
    const role = await this.#command({ command: 'createRole', rolename, acls });
    if (role.error && !already(role.error))
      throw new DependencyError(`broker refused role ${rolename}: ${role.error}`);
    const created = await this.#command({
      command: 'createClient',
      username: serial,
      clientid: this.clientIdOf(serial),
      password: secret,
      roles: [{ rolename }],
    });
    if (!created.error) return;
    if (!already(created.error))
      throw new DependencyError(`broker refused client ${serial}: ${created.error}`);
    // Re-issue: the client exists, so make sure it is bound and holds its role, then replace its secret.
    const bound = await this.#command({
      command: 'setClientId',
      username: serial,
      clientid: this.clientIdOf(serial),
    });
    if (bound.error) throw new DependencyError(`broker refused client id for ${serial}: ${bound.error}`);
    // Mosquitto 2.0 answers `Internal error` (not `already exists`) to adding a role the client
    // holds, so the role is added only when the client lacks it.
    const found = await this.#command({ command: 'getClient', username: serial });
    if (found.error) throw new DependencyError(`broker refused reading client ${serial}: ${found.error}`);
    const holds = ((found.data as { client?: BrokerClient } | undefined)?.client?.roles ?? []).some(
      (r) => r.rolename === rolename,
    );
    if (!holds) {
      const linked = await this.#command({ command: 'addClientRole', username: serial, rolename });
      if (linked.error && !already(linked.error)) {
        throw new DependencyError(`broker refused role for ${serial}: ${linked.error}`);
      }
    }
    const reset = await this.#command({ command: 'setClientPassword', username: serial, password: secret });
    if (reset.error) throw new DependencyError(`broker refused new secret for ${serial}: ${reset.error}`);
  }

  /**
   * New devices' roles and clients, each device's `createRole` then `createClient` (the broker runs
   * a message's commands in order), up to the batch in one message and one answer: an import of
   * thousands of devices waits for a round trip a batch, not two a device. A device whose client
   * exists already (one left by an import that did not commit) goes the way of a re-issue
   * (`install`). Any other refusal, or no answer, fails the whole: the caller takes out what was sent.
   */
  async installMany(devices: ReadonlyArray<NewLogin>, sending: (serials: string[]) => void): Promise<void> {
    for (const batch of this.#batches(devices)) {
      sending(batch.map((d) => d.serial));
      const answers = await this.#commands(
        batch.flatMap(({ serial, secret }) => this.#creating(serial, secret)),
      );
      for (const [i, { serial, secret }] of batch.entries()) {
        const role = answers[2 * i];
        const created = answers[2 * i + 1];
        if (role?.error && !already(role.error))
          throw new DependencyError(`broker refused role ${this.roleOf(serial)}: ${role.error}`);
        if (!created?.error) continue;
        if (!already(created.error))
          throw new DependencyError(`broker refused client ${serial}: ${created.error}`);
        await this.install(serial, secret);
      }
    }
  }

  /** The two commands that make a new device's role and its client holding it. */
  #creating(serial: string, secret: string): Array<Record<string, unknown>> {
    const rolename = this.roleOf(serial);
    return [
      { command: 'createRole', rolename, acls: this.aclsOf(serial) },
      {
        command: 'createClient',
        username: serial,
        clientid: this.clientIdOf(serial),
        password: secret,
        roles: [{ rolename }],
      },
    ];
  }

  /** Devices in runs of at most the batch, each run's commands under BATCH_BYTES. */
  *#batches(devices: ReadonlyArray<NewLogin>): Generator<NewLogin[]> {
    let batch: NewLogin[] = [];
    let bytes = 0;
    for (const device of devices) {
      // Correlation data (a UUID and its key) is added to each command when it is sent.
      const size = this.#creating(device.serial, device.secret).reduce(
        (sum, command) => sum + JSON.stringify(command).length + 64,
        0,
      );
      if (batch.length > 0 && (batch.length >= this.#batch || bytes + size > BATCH_BYTES)) {
        yield batch;
        batch = [];
        bytes = 0;
      }
      batch.push(device);
      bytes += size;
    }
    if (batch.length > 0) yield batch;
  }

  async revoke(serial: string): Promise<void> {
    const removed = await this.#command({ command: 'deleteClient', username: serial });
    if (removed.error && !missing(removed.error)) {
      throw new DependencyError(`broker refused to remove ${serial}: ${removed.error}`);
    }
    const role = await this.#command({ command: 'deleteRole', rolename: this.roleOf(serial) });
    if (role.error && !missing(role.error)) this.#log.warn({ serial, error: role.error }, 'role not removed');
  }

  /**
   * Makes the broker match the registry, for the serials the registry knows (other clients — the
   * admin, the gateway, other namespaces' devices — are never touched):
   * - a live device has its role with exactly its ACLs, its client enabled, bound to its client id
   *   (the serial), holding that role and no other role or group (a grant added in the broker is
   *   taken away);
   * - a live device whose client is missing is re-created with its sealed secret, or listed for
   *   re-issue when the secret cannot be recovered;
   * - a retired device (decommissioned, or never issued a secret) has no client and no role.
   * Passwords are not compared: the broker does not reveal them, and setting one disconnects the
   * device, so a password changed in the broker is repaired by re-issuing.
   */
  async resync(devices: readonly DeviceCredential[]): Promise<ResyncReport> {
    const report: ResyncReport = { checked: 0, repaired: [], reissue: [], removed: [] };
    const clients = new Map<string, BrokerClient>();
    for (const client of (await this.#list('listClients', 'clients')) as BrokerClient[]) {
      clients.set(client.username, client);
    }
    const roles = await this.#roles();
    const must = async (command: Record<string, unknown>, what: string) => {
      const answer = await this.#command(command);
      if (answer.error && !already(answer.error) && !missing(answer.error)) {
        throw new DependencyError(`broker refused ${what}: ${answer.error}`);
      }
    };

    for (const device of devices) {
      const { serial } = device;
      const rolename = this.roleOf(serial);
      const client = clients.get(serial);
      if (!device.live) {
        if (client) await must({ command: 'deleteClient', username: serial }, `removing ${serial}`);
        if (roles.has(rolename)) await must({ command: 'deleteRole', rolename }, `removing ${rolename}`);
        if (client || roles.has(rolename)) report.removed.push(serial);
        continue;
      }
      report.checked++;
      const wanted = this.aclsOf(serial);
      const held = roles.get(rolename);
      if (!held) {
        await must({ command: 'createRole', rolename, acls: wanted }, `role ${rolename}`);
        report.repaired.push(`${serial}: role re-created`);
      } else {
        const wantedKeys = new Set(wanted.map(aclKey));
        const heldKeys = new Set(held.map(aclKey));
        let changed = false;
        for (const acl of held) {
          if (wantedKeys.has(aclKey(acl))) continue;
          await must(
            { command: 'removeRoleACL', rolename, acltype: acl.acltype, topic: acl.topic },
            `an ACL of ${rolename}`,
          );
          changed = true;
        }
        for (const acl of wanted) {
          if (heldKeys.has(aclKey(acl))) continue;
          await must({ command: 'addRoleACL', rolename, ...acl }, `an ACL of ${rolename}`);
          changed = true;
        }
        if (changed) report.repaired.push(`${serial}: role ACLs restored`);
      }
      if (!client) {
        if (device.secret === null) {
          report.reissue.push(serial);
          continue;
        }
        await must(
          {
            command: 'createClient',
            username: serial,
            clientid: this.clientIdOf(serial),
            password: device.secret,
            roles: [{ rolename }],
          },
          `client ${serial}`,
        );
        report.repaired.push(`${serial}: client re-created`);
        continue;
      }
      if (client.disabled) {
        await must({ command: 'enableClient', username: serial }, `enabling ${serial}`);
        report.repaired.push(`${serial}: client enabled`);
      }
      if (client.clientid !== this.clientIdOf(serial)) {
        // An unbound client (made before ids were bound, or changed by hand) could log in under
        // any id and take over another's session.
        await must(
          { command: 'setClientId', username: serial, clientid: this.clientIdOf(serial) },
          `the client id of ${serial}`,
        );
        report.repaired.push(`${serial}: client id bound`);
      }
      const clientRoles = (client.roles ?? []).map((r) => r.rolename);
      for (const other of clientRoles.filter((r) => r !== rolename)) {
        await must({ command: 'removeClientRole', username: serial, rolename: other }, `a role of ${serial}`);
        report.repaired.push(`${serial}: extra role ${other} removed`);
      }
      if (!clientRoles.includes(rolename)) {
        await must({ command: 'addClientRole', username: serial, rolename }, `the role of ${serial}`);
        report.repaired.push(`${serial}: role restored`);
      }
      for (const group of client.groups ?? []) {
        await must(
          { command: 'removeGroupClient', groupname: group.groupname, username: serial },
          `a group of ${serial}`,
        );
        report.repaired.push(`${serial}: group ${group.groupname} removed`);
      }
    }
    return report;
  }

  /**
   * The serials this registry made a device client or role for in the broker: the role
   * `device-<serial>`, whose ACLs name that serial's topics in this namespace, held by the client
   * `<serial>` — or with no such client at all (a registration that died between making the role and
   * the client, or a removal between deleting them). The admin, the services' own logins and other
   * namespaces' devices are none of them.
   */
  async deviceLogins(): Promise<string[]> {
    const roles = await this.#roles();
    const ours = (serial: string): boolean => {
      const topics = new Set(this.aclsOf(serial).map((acl) => acl.topic));
      return (roles.get(this.roleOf(serial)) ?? []).some((acl) => topics.has(acl.topic));
    };
    const clients = (await this.#list('listClients', 'clients')) as BrokerClient[];
    const named = new Set(clients.map((client) => client.username));
    const withClient = clients
      .filter((client) => (client.roles ?? []).some((r) => r.rolename === this.roleOf(client.username)))
      .map((client) => client.username);
    const prefix = this.roleOf('');
    const roleOnly = [...roles.keys()]
      .filter((rolename) => rolename.startsWith(prefix))
      .map((rolename) => rolename.slice(prefix.length))
      .filter((serial) => !named.has(serial));
    return [...withClient, ...roleOnly].filter(ours);
  }

  /** Every role's ACLs, by role name. */
  async #roles(): Promise<Map<string, Acl[]>> {
    const roles = new Map<string, Acl[]>();
    for (const role of (await this.#list('listRoles', 'roles')) as Array<{
      rolename: string;
      acls?: Acl[];
    }>) {
      roles.set(role.rolename, role.acls ?? []);
    }
    return roles;
  }

  /**
   * Every client or role, a page of LIST_PAGE at a time: the whole list in one answer is a packet
   * of about a kilobyte a device (its role's ACLs), which for a fleet of thousands is megabytes the
   * broker builds on its one thread while devices' alarms wait, and which may be larger than the
   * broker or the client accepts. An entry added or removed between pages may be missed or seen
   * twice: what reads this acts on an entry seen again at a later pass.
   */
  async #list(command: 'listClients' | 'listRoles', field: 'clients' | 'roles'): Promise<unknown[]> {
    const all: unknown[] = [];
    for (let offset = 0; ; offset += LIST_PAGE) {
      const answer = await this.#command({ command, verbose: true, count: LIST_PAGE, offset });
      if (answer.error) throw new DependencyError(`broker refused ${command}: ${answer.error}`);
      const page = (answer.data as Record<string, unknown> | undefined)?.[field];
      if (!Array.isArray(page)) throw new DependencyError(`broker answered ${command} without ${field}`);
      all.push(...page);
      if (page.length < LIST_PAGE) return all;
    }
  }

  async close(): Promise<void> {
    for (const done of this.#waiting.values()) done({ command: '', error: 'closing' });
    this.#waiting.clear();
    await this.#client.endAsync();
  }

  /** Sends one command and waits for its answer (see `#commands`). */
  async #command(command: Record<string, unknown>): Promise<DynsecResponse> {
    const [answer] = await this.#commands([command]);
    return answer!;
  }

  /**
   * Sends commands in one message and waits for each one's answer, for at most ANSWER_WAIT_MS (and
   * COMMAND_WAIT_MS a further command) in all: an answer that never comes (a broker drops a command larger than its message_size_limit)
   * must not hold a registration, or an import, forever.
   *
   * A message goes out once, now, or not at all: QoS 0, and refused while the link is down. At QoS 1
   * the MQTT client library kept an unacknowledged command (and one published while offline) and
   * sent it again on reconnecting — after the registry had given up on it and, for a password,
   * put the old one back — so the broker took a secret nobody was shown. The answer, matched by
   * its correlation data, is the only confirmation the registry acts on.
   */
  async #commands(commands: ReadonlyArray<Record<string, unknown>>): Promise<DynsecResponse[]> {
    const sent = commands.map((command) => ({ ...command, correlationData: randomUUID() }));
    const name = [...new Set(commands.map((command) => String(command.command)))].join(', ');
    if (!this.#client.connected) throw new DependencyError(`the broker is not connected: ${name} not sent`);
    const forget = () => {
      for (const { correlationData } of sent) this.#waiting.delete(correlationData);
    };
    const waitMs = ANSWER_WAIT_MS + COMMAND_WAIT_MS * (commands.length - 1);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        forget();
        reject(new DependencyError(`the broker did not answer ${name} in ${waitMs} ms`));
      }, waitMs);
    });
    const answers = sent.map(
      ({ correlationData }) =>
        new Promise<DynsecResponse>((resolve) => this.#waiting.set(correlationData, resolve)),
    );
    const published = this.#client
      .publishAsync(CONTROL, JSON.stringify({ commands: sent }), { qos: 0 })
      .catch((err: unknown) => {
        forget();
        throw new DependencyError(`the broker did not take ${name}`, { cause: err });
      });
    try {
      const [, ...responses] = await Promise.race([Promise.all([published, ...answers]), timedOut]);
      for (const response of responses)
        this.#log.debug({ command: response.command, error: response.error }, 'dynamic security');
      return responses;
    } finally {
      clearTimeout(timer);
    }
  }
}
