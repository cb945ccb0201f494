import { connect } from '@nats-io/transport-node';
import { Alert, CaseEvent, names } from '@telecare/contracts';
import {
  devicePayload,
  driveLoad,
  type LoadHome,
  loadEventId,
  MqttPool,
  mainsStorm,
} from '@telecare/simulators';
import { measureCeilings, ofCeiling, servers, startOwnMosquitto } from '@telecare/testkit';
import pg from 'pg';
import { mapHubs } from '../support/homes.ts';
import { type RunningPlatform, startPlatform } from '../support/platform.ts';

/** The scenario's settings, from the environment (`pnpm scenario storm`) or a test. */
export type StormSettings = Readonly<Record<string, string | undefined>>;

function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] as number;
}
const r1 = (x: number) => Math.round(x * 10) / 10;

/**
 * Registers `count` homes (a resident, a hub, a pendant and a PIR each) through the registry's
 * bulk import, a thousand homes per request (each request is one transaction and well inside the
 * API's body limit), `concurrency` requests at a time.
 */
async function registerHomes(
  platform: RunningPlatform,
  prefix: string,
  count: number,
  postcode: (i: number) => string,
  concurrency = 2,
): Promise<Array<LoadHome & { residentId: string }>> {
  const BATCH = 1_000;
  const homes: Array<LoadHome & { residentId: string }> = [];
  let next = 0;
  const worker = async () => {
    for (let from = next; from < count; from = next) {
      next += BATCH;
      const batch = Array.from({ length: Math.min(BATCH, count - from) }, (_, k) => {
        const i = from + k;
        return {
          i,
          key: `${prefix}${i}`,
          hub: `${prefix}${i}-HUB`,
          pendant: `${prefix}${i}-PND`,
          pir: `${prefix}${i}-PIR`,
        };
      });
      const residents = [
        'ref,name,address,postcode,phone,livesAlone',
        ...batch.map(
          (h) =>
            `${h.key},Load Resident,${h.i + 1} Load Street Gloucester,${postcode(h.i)},01452 000000,true`,
        ),
      ].join('\n');
      const devices = [
        'serial,kind,resident,location,supervisionIntervalS',
        ...batch.flatMap((h) => [
          `${h.hub},home-unit,${h.key},hall,86400`,
          `${h.pendant},pendant,${h.key},,86400`,
          `${h.pir},pir,${h.key},lounge,86400`,
        ]),
      ].join('\n');
      const result = await platform.registryClient.importCsv({ residents, devices });
      if (!result.imported) throw new Error(`import refused: ${JSON.stringify(result.errors.slice(0, 3))}`);
      const idOf = new Map(result.residents.map((r) => [r.ref, r.id]));
      for (const h of batch)
        homes.push({
          key: h.key,
          hub: h.hub,
          pendant: h.pendant,
          pir: h.pir,
          residentId: idOf.get(h.key) as string,
        });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return homes;
}

/**
 * Where the presses with no case event seen went: for each, its alert, the helpline case that
 * holds it (PostgreSQL) and when it was committed, and whether a case event naming it was seen on
 * the console subject; one line per class, then a few examples.
 */
async function explainUnmatched(
  namespace: string,
  presses: ReadonlyArray<{ serial: string; started: number; alertId?: string }>,
  caseSeen: ReadonlyMap<string, { at: number; matched: boolean }>,
): Promise<string[]> {
  const schema = names(namespace).schema('helpline');
  const client = new pg.Client({ connectionString: servers.databaseUrl });
  await client.connect();
  const ids = presses.flatMap((p) => (p.alertId ? [p.alertId] : []));
  let rows: Array<{
    alert_id: string;
    case_id: string;
    resident_id: string;
    received_at: Date;
    events: Array<{ kind: string; at: string; seq: number }> | null;
    unpublished: boolean;
  }> = [];
  try {
    ({ rows } = await client.query(
      `select ca.alert_id, ca.case_id, c.resident_id, ca.received_at,
         (select json_agg(json_build_object('kind', e.kind, 'at', e.at, 'seq', e.seq) order by e.seq)
            from "${schema}".case_events e where e.case_id = ca.case_id and e.data->>'alertId' = ca.alert_id) as events,
         exists (select 1 from "${schema}".case_outbox o join "${schema}".case_events e on e.id = o.event_id
                  where e.case_id = ca.case_id and e.data->>'alertId' = ca.alert_id) as unpublished
       from "${schema}".case_alerts ca join "${schema}".cases c on c.id = ca.case_id
       where ca.alert_id = any($1)`,
      [ids],
    ));
  } finally {
    await client.end();
  }
  const held = new Map(rows.map((r) => [r.alert_id, r]));
  const classes = new Map<string, string[]>();
  for (const p of presses) {
    const pressedAt = performance.timeOrigin + p.started;
    const row = p.alertId ? held.get(p.alertId) : undefined;
    const seen = p.alertId ? caseSeen.get(p.alertId) : undefined;
    // received_at is the time the helpline began the alert's transaction (before any lock wait).
    const committedMs = row ? Math.round(row.received_at.getTime() - pressedAt) : Number.NaN;
    const kind = !p.alertId
      ? 'no alert'
      : seen
        ? seen.at - p.started > 60_000
          ? 'case event seen after the minute (the helpline was late)'
          : seen.matched
            ? 'case event seen within the minute with its press known, no waiter resolved'
            : 'case event seen before the scenario knew its alert'
        : !row
          ? 'alert not in any helpline case'
          : row.resident_id.startsWith('area:')
            ? 'alert held in an area case'
            : !row.events
              ? 'alert in a case with no opened/alert-joined event naming it'
              : row.unpublished
                ? 'case event committed, still in the outbox'
                : 'case event committed and published, not seen on the console subject';
    const detail = `${p.serial} ${p.alertId ?? '-'}: ${
      seen ? `seen ${Math.round(seen.at - p.started)} ms after the press; ` : ''
    }${row ? `case ${row.case_id} (${row.resident_id}) taken up by the helpline ${committedMs} ms after the press, events ${JSON.stringify(row.events)}` : 'no case'}`;
    classes.set(kind, [...(classes.get(kind) ?? []), detail]);
  }
  return [...classes].flatMap(([kind, details]) => [
    `presses with no case: ${details.length} ${kind}`,
    ...details.slice(0, 3).map((d) => `  e.g. ${d}`),
  ]);
}

/**
 * Where a press's time to the consoles went, hop by hop: triage (press → its alert stored in
 * ALERTS), the helpline's intake (alert stored → the helpline began committing it, PostgreSQL's
 * `received_at`), and the commit with its publishing (→ the case event seen on CASES).
 */
async function hops(
  namespace: string,
  presses: ReadonlyArray<{ started: number; alertId?: string; alert?: number; kase: number }>,
): Promise<string[]> {
  const timed = presses.filter((p) => p.alertId && Number.isFinite(p.alert) && Number.isFinite(p.kase));
  if (timed.length === 0) return [];
  const schema = names(namespace).schema('helpline');
  const client = new pg.Client({ connectionString: servers.databaseUrl });
  await client.connect();
  let rows: Array<{ alert_id: string; received_at: Date }> = [];
  try {
    ({ rows } = await client.query(
      `select alert_id, received_at from "${schema}".case_alerts where alert_id = any($1)`,
      [timed.map((p) => p.alertId)],
    ));
  } finally {
    await client.end();
  }
  const taken = new Map(rows.map((r) => [r.alert_id, r.received_at.getTime() - performance.timeOrigin]));
  const triage: number[] = [];
  const intake: number[] = [];
  const commit: number[] = [];
  for (const p of timed) {
    const at = taken.get(p.alertId as string);
    if (at === undefined) continue;
    const alertAt = p.started + (p.alert as number);
    triage.push(p.alert as number);
    intake.push(Math.max(0, at - alertAt));
    commit.push(Math.max(0, p.started + p.kase - at));
  }
  const line = (what: string, xs: number[]) =>
    `${what} p50 ${r1(percentile(xs, 50))} ms, p99 ${r1(percentile(xs, 99))} ms, max ${r1(Math.max(...xs))} ms`;
  return [
    `where a press's time went (${triage.length} presses): ${line('triage (press → alert stored)', triage)}`,
    `  ${line('helpline intake (alert stored → commit begun)', intake)}`,
    `  ${line('commit and publish (commit begun → case event on the consoles)', commit)}`,
  ];
}

/** A press whose case takes longer than this is explained like one with no case. */
const SLOW_CASE_MS = 5_000;

/** The storm's districts: `GL4`, `GL5`, … (the background homes are in GL1). */
const stormDistrict = (i: number, districts: number) => `GL${4 + (i % districts)}`;

/**
 * `pnpm scenario storm`: every hub in `STORM_DISTRICTS` postcode districts reports mains lost,
 * then restored, while pendants elsewhere keep being pressed (and background traffic keeps
 * flowing); reports press-to-alert latency before and during the storm, and what the storm became:
 * area incidents (one per district is right) and per-home alerts that got through (none is right).
 * Real time, real services, own Mosquitto.
 */
export async function runStorm(
  kind: 'storm' | 'load',
  log: (line: string) => void,
  settings: StormSettings = process.env,
): Promise<Record<string, number | string>> {
  const num = (name: string, fallback: number) => Number(settings[name] ?? fallback);
  const areaHomes = num('STORM_HOMES', 2_000);
  const districts = num('STORM_DISTRICTS', 1);
  const loadHomes = num('LOAD_HOMES', kind === 'load' ? 10_000 : 500);
  const rate = num('LOAD_RATE', kind === 'load' ? 1_000 : 200);
  const seconds = num('LOAD_SECONDS', 30);
  // Storm homes up to this many are registered through the registry's bulk import; beyond, mapped.
  const importMax = num('STORM_IMPORT_MAX', 5_000);
  const mosquitto = await startOwnMosquitto();
  // Each service in a process of its own, as deployed (STORM_PROCESSES=0: all in this one, with
  // the generator on the same event loop, as the scenario ran before).
  const processes = (settings.STORM_PROCESSES ?? '1') !== '0';
  const platform = await startPlatform(
    kind,
    {
      MQTT_URL: mosquitto.url,
      LOG_LEVEL: process.env.STORM_LOG_LEVEL ?? (processes ? 'warn' : 'silent'),
      TELECARE_PARTITIONS: '8',
      // The device map's part of 8 GB (64 MB) holds 100,000 mapped hubs beside the load's homes.
      TELECARE_JETSTREAM_MAX_BYTES: '8GB',
    },
    { processes },
  );
  log(
    processes
      ? `services: each in a process of its own (logs in ${platform.logDir})`
      : 'services: all in this process, beside the generator',
  );
  const nc = await connect({ servers: servers.natsUrl, maxReconnectAttempts: -1 });
  const pool = new MqttPool({
    mqttUrl: mosquitto.url,
    namespace: platform.namespace,
    connections: 8,
    resendMs: 10_000,
  });
  try {
    // What the servers allow on this machine now, before any load: the storm's rates read against it.
    const ceiling = await measureCeilings(nc, platform.namespace, mosquitto.url, {
      count: num('CEILING_MESSAGES', 6_000),
    });
    log(ceiling.line);
    const t0 = performance.now();
    const run = Date.now().toString(36).toUpperCase();
    const background = await registerHomes(platform, `LD${run}-`, loadHomes, (i) => `GL1 ${1 + (i % 9)}AB`);
    // Up to STORM_IMPORT_MAX (5,000) storm homes through the registry's bulk import, as installers
    // register them; beyond that straight into the device map (see mapHubs).
    const area =
      kind !== 'storm'
        ? []
        : areaHomes > importMax
          ? await mapHubs(nc, platform.namespace, `ST${run}-`, areaHomes, (i) => stormDistrict(i, districts))
          : await registerHomes(
              platform,
              `ST${run}-`,
              areaHomes,
              (i) => `${stormDistrict(i, districts)} 6DL`,
            );
    const registerS = (performance.now() - t0) / 1000;
    log(
      `registered ${background.length + area.length} homes (${(background.length + area.length) * 3} devices) in ${r1(registerS)} s`,
    );
    await pool.connect();
    await pool.register([...background, ...area].flatMap((h) => [h.hub, h.pendant, h.pir]));

    // Press-to-alert: the alert is on core NATS as soon as triage stores it. Press-to-case: the
    // case event that holds the press's alert (`opened`, or `alert-joined` when the home's case is
    // still open) is on core NATS as soon as the helpline publishes it to CASES, which is what
    // every operator's console shows.
    // A pendant's presses waiting for their alert, oldest first: when alerts are slower than the
    // presses' spacing, the next press of the same pendant is pressed before the last's alert came.
    const waiting = new Map<string, Array<(at: number, alertId: string) => void>>();
    // A pendant pressed again while an earlier press of it is still timed: its presses wait in order.
    const caseWaiting = new Map<string, Array<(at: number) => void>>();
    const pressOfAlert = new Map<string, string>();
    const areaAlertIds = new Set<string>();
    let areaCases = 0;
    /** Every alert a case event (opened or joined) named, when it was seen, and whether its press was known then. */
    const caseSeen = new Map<string, { at: number; matched: boolean }>();
    /** The alert each press raised (press order), for explaining the presses with no case. */
    const pressAlerts: Array<{
      serial: string;
      started: number;
      alertId?: string;
      alert?: number;
      kase: number;
      during?: boolean;
    }> = [];
    const caseSub = nc.subscribe(names(platform.namespace).subjects.allCases);
    void (async () => {
      for await (const msg of caseSub) {
        const at = performance.now();
        const event = CaseEvent.safeParse(msg.json());
        // A press opens a case, or (the same home pressed again while its case is open) joins it.
        if (!event.success || (event.data.kind !== 'opened' && event.data.kind !== 'alert-joined')) continue;
        const alertId = String(event.data.data.alertId ?? '');
        if (!caseSeen.has(alertId)) caseSeen.set(alertId, { at, matched: pressOfAlert.has(alertId) });
        if (event.data.kind === 'opened' && areaAlertIds.has(alertId)) areaCases++;
        const serial = pressOfAlert.get(alertId);
        if (serial) caseWaiting.get(serial)?.shift()?.(at);
      }
    })();
    const sub = nc.subscribe(names(platform.namespace).subjects.allAlerts);
    let p3Alerts = 0;
    const areaIncidents = new Map<string, number>();
    let homeMainsAlerts = 0;
    void (async () => {
      for await (const msg of sub) {
        const at = performance.now();
        const alert = Alert.safeParse(msg.json());
        if (!alert.success) continue;
        if (alert.data.priority === 3) p3Alerts++;
        if (alert.data.residentId.startsWith('area:')) {
          areaIncidents.set(alert.data.residentId, (areaIncidents.get(alert.data.residentId) ?? 0) + 1);
          areaAlertIds.add(alert.data.id);
        } else if (alert.data.type === 'mains.lost') homeMainsAlerts++;
        if (alert.data.type === 'pendant.pressed' && alert.data.deviceSerial) {
          pressOfAlert.set(alert.data.id, alert.data.deviceSerial);
          waiting.get(alert.data.deviceSerial)?.shift()?.(at, alert.data.id);
          // The two subscriptions race: the case event may have been read first.
          const seen = caseSeen.get(alert.data.id);
          if (seen && !seen.matched) {
            seen.matched = true;
            caseWaiting.get(alert.data.deviceSerial)?.shift()?.(seen.at);
          }
        }
      }
    })();
    // Each background home's pendant in turn: the first LOAD_HOMES presses are first presses, as an
    // alarm from a quiet home is. Beyond that a pendant is pressed again while the case of its
    // first press is still open (nobody takes cases here): triage merges it into that alert
    // (trigger.pendant mergeWithinS) as a repeat, and the helpline counts it on that case
    // (`alert-joined`, `repeat: true`), as a resident pressing again during a storm is.
    let pressed = 0;
    let stormRunning = false;
    /** A press's latency to its alert and to its case (NaN: not within a minute). */
    interface Timed {
      readonly alert: number;
      readonly kase: number;
      /** The pendant was pressed before in this run. */
      readonly repeat: boolean;
    }
    const within = (p: Promise<number>) =>
      Promise.race([p, new Promise<number>((r) => setTimeout(() => r(Number.NaN), 60_000))]);
    const press = async (serial: string, repeat: boolean): Promise<Timed> => {
      const record: (typeof pressAlerts)[number] = {
        serial,
        started: 0,
        kase: Number.NaN,
        during: stormRunning,
      };
      let alertResolve: (at: number, alertId: string) => void = () => {};
      const alerted = new Promise<number>((resolve) => {
        alertResolve = (at, alertId) => {
          record.alertId ??= alertId;
          resolve(at);
        };
        waiting.set(serial, [...(waiting.get(serial) ?? []), alertResolve]);
      });
      let caseResolve: (at: number) => void = () => {};
      const opened = new Promise<number>((resolve) => {
        caseResolve = resolve;
        caseWaiting.set(serial, [...(caseWaiting.get(serial) ?? []), resolve]);
      });
      const id = loadEventId();
      const started = performance.now();
      record.started = started;
      pressAlerts.push(record);
      await pool.send(serial, id, devicePayload(id, 'pendant.pressed'));
      const [alertAt, caseAt] = await Promise.all([within(alerted), within(opened)]);
      const waitingLeft = (waiting.get(serial) ?? []).filter((r) => r !== alertResolve);
      if (waitingLeft.length > 0) waiting.set(serial, waitingLeft);
      else waiting.delete(serial);
      const left = (caseWaiting.get(serial) ?? []).filter((r) => r !== caseResolve);
      if (left.length > 0) caseWaiting.set(serial, left);
      else caseWaiting.delete(serial);
      record.kase = caseAt - started;
      record.alert = alertAt - started;
      return { alert: alertAt - started, kase: caseAt - started, repeat };
    };
    const pressEvery = async (ms: number, until: () => boolean): Promise<Timed[]> => {
      const out: Promise<Timed>[] = [];
      while (!until()) {
        const repeat = pressed >= background.length;
        out.push(press((background[pressed++ % background.length] as LoadHome).pendant, repeat));
        await new Promise((resolve) => setTimeout(resolve, ms));
      }
      return Promise.all(out);
    };
    const alerts = (t: Timed[]) => t.map((x) => x.alert);
    const cases = (t: Timed[]) => t.map((x) => x.kase);

    const controller = new AbortController();
    const traffic = driveLoad(background, pool, {
      rate,
      durationMs: seconds * 1000 + (kind === 'storm' ? 120_000 : 0),
      signal: controller.signal,
    });
    log(`background traffic: ${rate} events/s over ${background.length} homes`);
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    let baselineDone = false;
    const baselineTimer = setTimeout(() => {
      baselineDone = true;
    }, 5_000);
    const baselineTimed = await pressEvery(200, () => baselineDone);
    clearTimeout(baselineTimer);
    const baseline = alerts(baselineTimed);
    const baselineCases = cases(baselineTimed);
    log(
      `before the storm: press → alert p50 ${r1(percentile(baseline, 50))} ms, p99 ${r1(percentile(baseline, 99))} ms; press → case on the consoles p50 ${r1(percentile(baselineCases, 50))} ms, p99 ${r1(percentile(baselineCases, 99))} ms (${baseline.length} presses)`,
    );

    let figures: Record<string, number | string> = {};
    if (kind === 'storm') {
      let stormDone = false;
      stormRunning = true;
      const storm = mainsStorm(
        area.map((h) => h.hub),
        pool,
        { maxInFlight: 500, pauseMs: 2_000 },
      ).finally(() => {
        stormDone = true;
      });
      const duringTimed = await pressEvery(200, () => stormDone);
      stormRunning = false;
      const during = alerts(duringTimed);
      const duringCases = cases(duringTimed);
      const waves = await storm;
      const lostPerS = area.length / (waves.lostMs / 1000);
      const restoredPerS = area.length / (waves.restoredMs / 1000);
      log(
        `storm: ${area.length} hubs in ${districts} districts, mains lost stored in ${r1(waves.lostMs / 1000)} s (${Math.round(lostPerS)}/s, ${ofCeiling(lostPerS, ceiling.jsPerS)} of the JetStream ceiling), restored in ${r1(waves.restoredMs / 1000)} s (${Math.round(restoredPerS)}/s, ${ofCeiling(restoredPerS, ceiling.jsPerS)}) (${waves.failed} failed)`,
      );
      // Per-home alerts are held until the area lanes have read past them (triage README).
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      log(
        `the storm became ${areaIncidents.size} area incidents (${[...areaIncidents.keys()].join(', ')}) for ${districts} districts, ${areaCases} area cases in the helpline queue, and ${homeMainsAlerts} per-home mains alerts`,
      );
      log(
        `during the storm: press → alert p50 ${r1(percentile(during, 50))} ms, p99 ${r1(percentile(during, 99))} ms, max ${r1(Math.max(...during))} ms (${during.length} presses, ${during.filter(Number.isNaN).length} never alerted)`,
      );
      log(
        `during the storm: press → case on the consoles p50 ${r1(percentile(duringCases, 50))} ms, p99 ${r1(percentile(duringCases, 99))} ms, max ${r1(Math.max(...duringCases))} ms (${duringCases.filter(Number.isNaN).length} presses with no case within a minute; ${duringTimed.filter((t) => t.repeat).length} presses were repeats)`,
      );
      figures = {
        storm_homes: area.length,
        storm_districts: districts,
        area_incidents: areaIncidents.size,
        area_alerts: [...areaIncidents.values()].reduce((a, b) => a + b, 0),
        home_mains_alerts: homeMainsAlerts,
        storm_lost_stored_s: r1(waves.lostMs / 1000),
        storm_restored_stored_s: r1(waves.restoredMs / 1000),
        storm_lost_per_s: Math.round(lostPerS),
        storm_lost_of_ceiling: ofCeiling(lostPerS, ceiling.jsPerS),
        storm_restored_per_s: Math.round(restoredPerS),
        storm_restored_of_ceiling: ofCeiling(restoredPerS, ceiling.jsPerS),
        storm_failed: waves.failed,
        press_to_alert_storm_p50_ms: r1(percentile(during, 50)),
        press_to_alert_storm_p99_ms: r1(percentile(during, 99)),
        press_to_alert_storm_max_ms: r1(Math.max(...during)),
        presses_storm: during.length,
        presses_never_alerted: during.filter(Number.isNaN).length,
        area_cases: areaCases,
        press_to_case_storm_p50_ms: r1(percentile(duringCases, 50)),
        press_to_case_storm_p99_ms: r1(percentile(duringCases, 99)),
        press_to_case_storm_max_ms: r1(Math.max(...duringCases)),
        presses_no_case: duringCases.filter(Number.isNaN).length,
        presses_repeat: duringTimed.filter((t) => t.repeat).length,
      };
      controller.abort();
    }
    const load = await traffic;
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    sub.unsubscribe();
    caseSub.unsubscribe();
    const stormPresses = pressAlerts.filter((p) => p.during);
    if (stormPresses.length > 0)
      for (const line of await hops(platform.namespace, stormPresses)) log(`during the storm: ${line}`);
    const unmatched = pressAlerts.filter((p) => Number.isNaN(p.kase));
    if (unmatched.length > 0) {
      for (const line of await explainUnmatched(platform.namespace, unmatched, caseSeen)) log(line);
    }
    // The slow ones too: whether the helpline took the alert up late, or published its case late.
    const slow = pressAlerts.filter((p) => p.kase > SLOW_CASE_MS);
    if (slow.length > 0) {
      log(`presses whose case took over ${SLOW_CASE_MS / 1000} s: ${slow.length}`);
      for (const line of await explainUnmatched(platform.namespace, slow, caseSeen)) log(`  ${line}`);
    }
    const storedPerS = load.stored / (load.wallMs / 1000);
    log(
      `traffic: ${load.stored} stored of ${load.offered} offered in ${r1(load.wallMs / 1000)} s (${Math.round(storedPerS)}/s, ${ofCeiling(storedPerS, ceiling.jsPerS)} of the JetStream ceiling), ${load.heldBack} held back, ${load.failed} failed; ack p50 ${r1(percentile(load.ackLatencyMs, 50))} ms p99 ${r1(percentile(load.ackLatencyMs, 99))} ms`,
    );
    return {
      homes: background.length + area.length,
      register_s: r1(registerS),
      offered_rate: rate,
      stored_rate: Math.round(storedPerS),
      stored_of_ceiling: ofCeiling(storedPerS, ceiling.jsPerS),
      ceiling_jetstream_per_s: Math.round(ceiling.jsPerS),
      ceiling_mosquitto_qos1_per_s: Math.round(ceiling.mqttPerS),
      held_back: load.heldBack,
      ack_p50_ms: r1(percentile(load.ackLatencyMs, 50)),
      ack_p99_ms: r1(percentile(load.ackLatencyMs, 99)),
      press_to_alert_before_p50_ms: r1(percentile(baseline, 50)),
      press_to_alert_before_p99_ms: r1(percentile(baseline, 99)),
      press_to_case_before_p50_ms: r1(percentile(baselineCases, 50)),
      press_to_case_before_p99_ms: r1(percentile(baselineCases, 99)),
      p3_alerts: p3Alerts,
      ...figures,
    };
  } finally {
    await pool.close().catch(() => undefined);
    await nc.close();
    await platform.stop();
    mosquitto.stop();
  }
}
