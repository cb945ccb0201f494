import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort, listening, waitFor } from './index.ts';

/** How a node's routes are secured: what it asks of a server that connects, and what it gives. */
export interface RouteSecurity {
  /**
   * Mutual TLS on the routes: the node presents `cert` both as a server and as a client (it needs
   * both usages), and takes a route only from a certificate `ca` signed.
   */
  readonly tls?: { readonly cert: string; readonly key: string; readonly ca: string };
  /** The one route login: asked of every server that connects, and given in the node's route URLs. */
  readonly auth?: { readonly user: string; readonly password: string };
}

export interface ClusterOptions {
  /** The routes' TLS and login, as infra/nats/nats-*.conf give production's; none by default. */
  readonly routes?: RouteSecurity;
}

interface Node {
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  /** The monitoring port (`/varz`, `/routez`). */
  readonly httpPort: number;
  readonly config: string;
  readonly log: string;
  /** False for a stranger: a server configured to join that is not one of the cluster's nodes. */
  readonly member: boolean;
  child?: ChildProcess;
  serverId?: string;
}

const CLUSTER_NAME = 'telecare-test';

/** A killed process has a `signalCode` and no `exitCode`. */
const running = (child: ChildProcess | undefined): child is ChildProcess =>
  child !== undefined && child.exitCode === null && child.signalCode === null;

/**
 * A JetStream cluster of three nats-servers of the caller's own on free loopback ports, configured
 * as `infra/nats/nats-{1,2,3}.conf` configure production (one cluster, routes to every node, file
 * storage, and with `routes` the routes' mutual TLS and login), for tests that kill a node under
 * load or check who the routes let in. `url` lists every node, as services are given it in
 * production, so a client moves to a surviving node by itself.
 */
export class OwnNatsCluster {
  private constructor(
    private readonly nodes: Node[],
    private readonly dir: string,
    private readonly routes: RouteSecurity,
  ) {}

  static async start(size = 3, options: ClusterOptions = {}): Promise<OwnNatsCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'telecare-nats-cluster-'));
    const cluster = new OwnNatsCluster([], dir, options.routes ?? {});
    for (let i = 0; i < size; i++) await cluster.addNode(`node-${i + 1}`, true);
    for (const node of cluster.nodes) cluster.writeConfig(node, cluster.routes);
    await Promise.all(cluster.nodes.map((_, i) => cluster.startNode(i)));
    await cluster.ready();
    return cluster;
  }

  /** The cluster's name, as a server that would join it gives it. */
  get name(): string {
    return CLUSTER_NAME;
  }

  get url(): string {
    return this.members.map((node) => `nats://127.0.0.1:${node.port}`).join(',');
  }

  /** One node's URL alone: a client that must stay on that node (it survives the others' loss). */
  urlOf(index: number): string {
    return `nats://127.0.0.1:${this.node(index).port}`;
  }

  /** The port node `index` takes routes on. */
  clusterPortOf(index: number): number {
    return this.node(index).clusterPort;
  }

  /** The node a JetStream `server_name` (as a stream's `cluster.leader` names it) belongs to. */
  indexOf(serverName: string): number {
    return this.nodes.findIndex((node) => node.name === serverName);
  }

  /**
   * Starts a server outside the cluster, configured to join it (the cluster's name, a route to
   * every node) with the route security given, not the cluster's; returns its index (`urlOf`,
   * `peersOf`, `logOf`). It is never in `url`.
   */
  async startStranger(routes: RouteSecurity = {}): Promise<number> {
    const stranger = await this.addNode(`stranger-${this.nodes.length + 1}`, false);
    this.writeConfig(stranger, routes);
    const index = this.nodes.length - 1;
    await this.startNode(index);
    return index;
  }

  /**
   * The names of the servers node `index` holds a route with now, as its monitoring endpoint
   * (`/routez`) lists them; a server this cluster did not start is named by its server id.
   */
  async peersOf(index: number): Promise<string[]> {
    const routez = (await this.monitor(index, 'routez')) as { routes?: Array<{ remote_id: string }> };
    const byId = new Map<string, string>();
    for (const [i, node] of this.nodes.entries())
      if (running(node.child)) byId.set(await this.serverIdOf(i), node.name);
    return [...new Set((routez.routes ?? []).map((route) => byId.get(route.remote_id) ?? route.remote_id))];
  }

  /** What node `index` has logged so far (its log file). */
  logOf(index: number): string {
    try {
      return readFileSync(this.node(index).log, 'utf8');
    } catch {
      return '';
    }
  }

  async startNode(index: number): Promise<void> {
    const node = this.node(index);
    node.child = spawn('nats-server', ['-c', node.config], { stdio: 'ignore' });
    node.serverId = undefined;
    await waitFor(() => listening(node.port), { what: `${node.name} to listen`, timeoutMs: 15_000 });
  }

  /** SIGKILL, as a crash or a power loss of that machine: no goodbye to the others. */
  async killNode(index: number): Promise<void> {
    const child = this.nodes[index]?.child;
    if (!child || !running(child)) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
  }

  /** Waits until JetStream answers through the cluster (a meta leader is elected). */
  async ready(timeoutMs = 30_000): Promise<void> {
    const nc = await connect({ servers: this.url.split(','), timeout: 5_000 });
    try {
      await waitFor(
        async () => {
          const jsm = await jetstreamManager(nc, { timeout: 2_000 });
          await jsm.getAccountInfo();
          return true;
        },
        { what: 'the JetStream cluster to elect a meta leader', timeoutMs, intervalMs: 250 },
      );
    } finally {
      await nc.close();
    }
  }

  async destroy(): Promise<void> {
    for (let i = 0; i < this.nodes.length; i++) await this.killNode(i);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private get members(): Node[] {
    return this.nodes.filter((node) => node.member);
  }

  private node(index: number): Node {
    const node = this.nodes[index];
    if (!node) throw new Error(`no node ${index}`);
    return node;
  }

  private async addNode(name: string, member: boolean): Promise<Node> {
    const [port, clusterPort, httpPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const node: Node = {
      name,
      port: port as number,
      clusterPort: clusterPort as number,
      httpPort: httpPort as number,
      config: path.join(this.dir, `${name}.conf`),
      log: path.join(this.dir, `${name}.log`),
      member,
    };
    mkdirSync(path.join(this.dir, name));
    this.nodes.push(node);
    return node;
  }

  /** The node's configuration: routes to every member, secured as `routes` says. */
  private writeConfig(node: Node, routes: RouteSecurity): void {
    const login = routes.auth
      ? `${encodeURIComponent(routes.auth.user)}:${encodeURIComponent(routes.auth.password)}@`
      : '';
    const urls = this.members.map((other) => `"nats-route://${login}127.0.0.1:${other.clusterPort}"`);
    const tls = routes.tls
      ? `tls { cert_file: "${routes.tls.cert}", key_file: "${routes.tls.key}", ca_file: "${routes.tls.ca}", verify: true }`
      : '';
    const auth = routes.auth
      ? `authorization { user: "${routes.auth.user}", password: "${routes.auth.password}" }`
      : '';
    writeFileSync(
      node.config,
      [
        `server_name: ${node.name}`,
        `listen: 127.0.0.1:${node.port}`,
        `http: 127.0.0.1:${node.httpPort}`,
        `log_file: "${node.log}"`,
        `jetstream { store_dir: "${path.join(this.dir, node.name)}" }`,
        'cluster {',
        `  name: ${CLUSTER_NAME}`,
        `  listen: 127.0.0.1:${node.clusterPort}`,
        `  ${tls}`,
        `  ${auth}`,
        `  routes: [${urls.join(', ')}]`,
        '}',
        '',
      ].join('\n'),
    );
  }

  private async monitor(index: number, endpoint: string): Promise<unknown> {
    const response = await fetch(`http://127.0.0.1:${this.node(index).httpPort}/${endpoint}`);
    if (!response.ok) throw new Error(`${this.node(index).name} /${endpoint}: HTTP ${response.status}`);
    return response.json();
  }

  private async serverIdOf(index: number): Promise<string> {
    const node = this.node(index);
    node.serverId ??= ((await this.monitor(index, 'varz')) as { server_id: string }).server_id;
    return node.serverId;
  }
}

/**
 * Steps the leader of `stream` (or of its `consumer`) down until `wanted` says yes to the one
 * elected, and returns that leader's server name: a stepdown has the other replicas elect one of
 * themselves, so a test moves a leader onto a node, or off it, before it kills one.
 */
export async function stepDownUntil(
  nc: NatsConnection,
  wanted: (leader: string) => boolean,
  stream: string,
  consumer?: string,
): Promise<string> {
  const jsm = await jetstreamManager(nc, { timeout: 2_000 });
  const leaderOf = async () =>
    (consumer ? await jsm.consumers.info(stream, consumer) : await jsm.streams.info(stream)).cluster?.leader;
  const api = consumer
    ? `$JS.API.CONSUMER.LEADER.STEPDOWN.${stream}.${consumer}`
    : `$JS.API.STREAM.LEADER.STEPDOWN.${stream}`;
  const what = consumer ?? stream;
  for (let tries = 0; tries < 12; tries++) {
    const leader = await waitFor(leaderOf, {
      what: `a leader of ${what}`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
    if (wanted(leader)) return leader;
    await nc.request(api, undefined, { timeout: 5_000 });
    await waitFor(async () => ((await leaderOf().catch(() => undefined)) ?? leader) !== leader, {
      what: `another leader of ${what}`,
      timeoutMs: 30_000,
      intervalMs: 100,
    });
  }
  throw new Error(`no leader of ${what} as wanted after 12 stepdowns`);
}
