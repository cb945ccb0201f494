import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { freePort, listening, waitFor } from './index.ts';

interface Node {
  readonly name: string;
  readonly port: number;
  readonly clusterPort: number;
  readonly config: string;
  child?: ChildProcess;
}

/**
 * A JetStream cluster of three nats-servers of the caller's own on free loopback ports, configured
 * as `infra/nats/nats-{1,2,3}.conf` configure production (one cluster, routes to every node, file
 * storage), for tests that kill a node under load. `url` lists every node, as services are given
 * it in production, so a client moves to a surviving node by itself.
 */
export class OwnNatsCluster {
  private constructor(
    private readonly nodes: Node[],
    private readonly dir: string,
  ) {}

  static async start(size = 3): Promise<OwnNatsCluster> {
    const dir = mkdtempSync(path.join(tmpdir(), 'telecare-nats-cluster-'));
    const ports = await Promise.all(Array.from({ length: size * 2 }, () => freePort()));
    const nodes: Node[] = Array.from({ length: size }, (_, i) => ({
      name: `node-${i + 1}`,
      port: ports[i * 2] as number,
      clusterPort: ports[i * 2 + 1] as number,
      config: path.join(dir, `node-${i + 1}.conf`),
    }));
    for (const node of nodes) {
      const store = path.join(dir, node.name);
      mkdirSync(store);
      const routes = nodes.map((other) => `nats-route://127.0.0.1:${other.clusterPort}`).join(', ');
      writeFileSync(
        node.config,
        [
          `server_name: ${node.name}`,
          `listen: 127.0.0.1:${node.port}`,
          `jetstream { store_dir: "${store}" }`,
          `cluster { name: telecare-test, listen: 127.0.0.1:${node.clusterPort}, routes: [${routes}] }`,
          '',
        ].join('\n'),
      );
    }
    const cluster = new OwnNatsCluster(nodes, dir);
    await Promise.all(nodes.map((_, i) => cluster.startNode(i)));
    await cluster.ready();
    return cluster;
  }

  get url(): string {
    return this.nodes.map((node) => `nats://127.0.0.1:${node.port}`).join(',');
  }

  /** One node's URL alone: a client that must stay on that node (it survives the others' loss). */
  urlOf(index: number): string {
    const node = this.nodes[index];
    if (!node) throw new Error(`no node ${index}`);
    return `nats://127.0.0.1:${node.port}`;
  }

  /** The node a JetStream `server_name` (as a stream's `cluster.leader` names it) belongs to. */
  indexOf(serverName: string): number {
    return this.nodes.findIndex((node) => node.name === serverName);
  }

  async startNode(index: number): Promise<void> {
    const node = this.nodes[index];
    if (!node) throw new Error(`no node ${index}`);
    node.child = spawn('nats-server', ['-c', node.config], { stdio: 'ignore' });
    await waitFor(() => listening(node.port), { what: `${node.name} to listen`, timeoutMs: 15_000 });
  }

  /** SIGKILL, as a crash or a power loss of that machine: no goodbye to the others. */
  async killNode(index: number): Promise<void> {
    const child = this.nodes[index]?.child;
    if (!child || child.exitCode !== null) return;
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
