import type { NatsConnection } from '@nats-io/transport-node';
import type pg from 'pg';
import type { Logger } from './logger.ts';

/**
 * A setting in force that cannot guarantee that an acknowledged alarm survives the loss of a
 * server or of power: what was found, what production needs, and what is at risk.
 */
export interface DurabilityFinding {
  readonly setting: string;
  readonly found: string;
  readonly needs: string;
  readonly risk: string;
}

/** The first nats-server with `sync_interval` (fsync of every JetStream write). */
const NATS_SYNC_INTERVAL = [2, 10, 23] as const;

function versionBelow(version: string, floor: readonly number[]): boolean {
  const parts = version.split(/[.-]/).map((p) => Number.parseInt(p, 10));
  for (let i = 0; i < floor.length; i++) {
    const have = parts[i] ?? 0;
    const need = floor[i] ?? 0;
    if (Number.isNaN(have)) return true;
    if (have !== need) return have < need;
  }
  return false;
}

/**
 * JetStream's copies and fsync: one copy loses what the one server held when it is lost; a server
 * older than 2.10.23 cannot be told to fsync every write, so a power loss can drop the last
 * acknowledged writes (the default fsyncs every two minutes).
 */
export function natsDurability(nc: NatsConnection, replicas: number): DurabilityFinding[] {
  const findings: DurabilityFinding[] = [];
  if (replicas < 3)
    findings.push({
      setting: 'TELECARE_STREAM_REPLICAS',
      found: String(replicas),
      needs: '3 (on a three-node cluster)',
      risk: 'losing the one NATS server loses the events, alerts and cases it held',
    });
  const version = nc.info?.version;
  if (version && versionBelow(version, NATS_SYNC_INTERVAL))
    findings.push({
      setting: 'nats-server version',
      found: version,
      needs: `${NATS_SYNC_INTERVAL.join('.')} or later with jetstream { sync_interval: always }`,
      risk: 'a power loss can drop writes JetStream had acknowledged but not yet written to disk',
    });
  return findings;
}

/** PostgreSQL's settings that decide whether a committed case survives a crash of its machine. */
export async function postgresDurability(pool: pg.Pool): Promise<DurabilityFinding[]> {
  const findings: DurabilityFinding[] = [];
  const show = async (name: string) =>
    (await pool.query<Record<string, string>>(`show ${name}`)).rows[0]?.[name] ?? '';
  const fsync = await show('fsync');
  if (fsync !== 'on')
    findings.push({
      setting: 'PostgreSQL fsync',
      found: fsync,
      needs: 'on',
      risk: 'a crash of the database machine can corrupt or lose committed cases',
    });
  const commit = await show('synchronous_commit');
  if (commit === 'off' || commit === 'local')
    findings.push({
      setting: 'PostgreSQL synchronous_commit',
      found: commit,
      needs: 'on (or remote_apply with a synchronous standby)',
      risk:
        commit === 'off'
          ? 'a crash loses the last committed cases and steps, after they were acknowledged'
          : 'losing the primary loses commits its standby had not received',
    });
  return findings;
}

/** Says every finding loudly, once, at start-up: the service still runs (tests and laptops). */
export function warnDurability(logger: Logger, findings: readonly DurabilityFinding[]): void {
  for (const finding of findings)
    logger.warn(
      { setting: finding.setting, found: finding.found, needs: finding.needs },
      `NOT DURABLE: ${finding.setting} is ${finding.found}; production needs ${finding.needs}: ${finding.risk}`,
    );
}
