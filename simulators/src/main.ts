import { Command, InvalidArgumentError } from 'commander';
import { DEMO_COHORT, ensureCohort, episodesCsv, sendEpisodes } from './cohort.ts';
import { Dc09Dialler } from './dc09/dialler.ts';
import { SimulatedDevice } from './device.ts';
import { SimulatedHome } from './home.ts';
import { runLiveHomes } from './live.ts';
import { MqttPool } from './pool.ts';
import { retireHomesFrom } from './registration.ts';
import { RegistryClient } from './registry-client.ts';

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError('expected a whole number');
  return n;
};

const env = process.env;
const program = new Command('telecare-sim').description('Simulated telecare homes and devices');

program
  .command('homes')
  .description('register and run simulated homes in real time until interrupted')
  .option('--homes <n>', 'how many homes', positiveInt, 3)
  .option(
    '--press-every <seconds>',
    'mean seconds between pendant presses per home (0 = never)',
    positiveInt,
    120,
  )
  .option('--heartbeat-every <seconds>', 'seconds between heartbeats', positiveInt, 60)
  .option('--seed <n>', 'random seed', positiveInt, 1)
  .option('--registry-url <url>', 'registry base URL', env.REGISTRY_URL ?? 'http://127.0.0.1:7020')
  .option('--mqtt-url <url>', 'MQTT broker URL', env.MQTT_URL ?? 'mqtt://127.0.0.1:1883')
  .option('--token <token>', 'API token (default TELECARE_ADMIN_TOKEN)', env.TELECARE_ADMIN_TOKEN)
  .option('--namespace <ns>', 'platform namespace', env.TELECARE_NAMESPACE ?? 'telecare')
  .action(async (opts) => {
    if (!opts.token) program.error('an API token is needed: --token or TELECARE_ADMIN_TOKEN');
    const registry = new RegistryClient(opts.registryUrl, opts.token);
    // The same homes on every run with the same seed: a restart resumes them (registration.ts).
    const runId = `D${opts.seed}`;
    const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
    const homes: SimulatedHome[] = [];
    for (let index = 1; index <= opts.homes; index++) {
      const home = new SimulatedHome({
        index,
        registry,
        mqttUrl: opts.mqttUrl,
        namespace: opts.namespace,
        pressEveryS: opts.pressEvery,
        heartbeatEveryS: opts.heartbeatEvery,
        seed: opts.seed * 1000 + index,
        log,
      });
      await home.start(runId);
      homes.push(home);
    }
    const retired = await retireHomesFrom(
      registry,
      (i) => SimulatedHome.plan(runId, i + 1, opts.heartbeatEvery),
      opts.homes,
    );
    if (retired > 0) log(`${retired} home${retired === 1 ? '' : 's'} left by an earlier run decommissioned`);
    log(`${homes.length} homes running; Ctrl-C stops them`);
    const stop = async () => {
      await Promise.all(homes.map((home) => home.stop()));
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Press once early so there is something on the console straight away.
    await homes[0]?.press().catch((err: Error) => log(err.message));
  });

program
  .command('cohort')
  .description(
    "register a commissioning cohort (residents referred over the last 18 months, most installed, some waiting, with care packages) and send the reports service a trust's episodes file for them",
  )
  .option('--seed <n>', 'random seed', positiveInt, DEMO_COHORT.seed)
  .option('--registry-url <url>', 'registry base URL', env.REGISTRY_URL ?? 'http://127.0.0.1:7020')
  .option('--reports-url <url>', 'reports base URL', env.TELECARE_REPORTS_URL ?? 'http://127.0.0.1:7030')
  .option('--token <token>', 'API token (default TELECARE_ADMIN_TOKEN)', env.TELECARE_ADMIN_TOKEN)
  .action(async (opts) => {
    if (!opts.token) program.error('an API token is needed: --token or TELECARE_ADMIN_TOKEN');
    const registry = new RegistryClient(opts.registryUrl, opts.token);
    const plan = { ...DEMO_COHORT, seed: opts.seed };
    const today = new Date();
    const cohort = await ensureCohort(registry, plan, today);
    console.log(
      `cohort: ${cohort.created} residents registered with ${cohort.carePackages} care packages, ${cohort.found} found from an earlier run`,
    );
    const sent = await sendEpisodes(
      opts.reportsUrl,
      opts.token,
      episodesCsv(cohort.residents, today, plan.seed),
    );
    console.log(`hospital episodes: ${sent}`);
  });

program
  .command('routine')
  .description('register homes that live the resident model (five profiles in turn) in real time or faster')
  .option('--homes <n>', 'how many homes', positiveInt, 5)
  .option('--speed <n>', 'simulated seconds per real second', positiveInt, 1)
  .option('--seed <n>', 'random seed', positiveInt, 1)
  .option('--registry-url <url>', 'registry base URL', env.REGISTRY_URL ?? 'http://127.0.0.1:7020')
  .option('--mqtt-url <url>', 'MQTT broker URL', env.MQTT_URL ?? 'mqtt://127.0.0.1:1883')
  .option('--token <token>', 'API token (default TELECARE_ADMIN_TOKEN)', env.TELECARE_ADMIN_TOKEN)
  .option('--namespace <ns>', 'platform namespace', env.TELECARE_NAMESPACE ?? 'telecare')
  .action(async (opts) => {
    if (!opts.token) program.error('an API token is needed: --token or TELECARE_ADMIN_TOKEN');
    const log = (line: string) => console.log(`${new Date().toISOString()} ${line}`);
    const pool = new MqttPool({ mqttUrl: opts.mqttUrl, namespace: opts.namespace, connections: 2 });
    await pool.connect();
    const controller = new AbortController();
    const stop = async () => {
      controller.abort();
      await pool.close();
      process.exit(0);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    await runLiveHomes({
      registry: new RegistryClient(opts.registryUrl, opts.token),
      pool,
      homes: opts.homes,
      seed: opts.seed,
      speed: opts.speed,
      log,
      signal: controller.signal,
    });
  });

program
  .command('press')
  .description('press one registered pendant once and wait for the platform to store it')
  .argument('<serial>', 'device serial')
  .option('--mqtt-url <url>', 'MQTT broker URL', env.MQTT_URL ?? 'mqtt://127.0.0.1:1883')
  .option('--namespace <ns>', 'platform namespace', env.TELECARE_NAMESPACE ?? 'telecare')
  .action(async (serial: string, opts) => {
    const device = new SimulatedDevice({
      serial,
      mqttUrl: opts.mqttUrl,
      namespace: opts.namespace,
      maxAttempts: 5,
    });
    await device.connect();
    try {
      const sent = await device.send('pendant.pressed');
      console.log(`stored ${sent.id} in ${sent.latencyMs.toFixed(1)} ms after ${sent.attempts} attempt(s)`);
    } catch (err) {
      console.error((err as Error).message);
      process.exitCode = 1;
    } finally {
      await device.close();
    }
  });

await program
  .command('dc09')
  .description(
    'send one DC-09 message as a disperser would (pendant press, a fire trouble, or a NULL poll) and print the answer',
  )
  .argument('<account>', 'DC-09 account (3–16 hex digits)')
  .option('--host <host>', 'receiver host', '127.0.0.1')
  .option('--port <port>', 'receiver port (DC09_PORT)', positiveInt, Number(env.DC09_PORT ?? 7040))
  .option('--udp', 'send over UDP instead of TCP')
  .option('--sia', 'send SIA QA instead of Contact ID 1101 (with --fire-trouble: FT, FJ)')
  .option('--fire-trouble', 'send a fire trouble of zone 010 (a smoke detector) instead: Contact ID 1373')
  .option('--restore', "with --fire-trouble: send the trouble's restore instead (Contact ID 3373)")
  .option('--poll', 'send a NULL supervision poll')
  .option('--key <key>', 'AES key (16/24/32 bytes)')
  .option('--key-encoding <encoding>', 'hex or ascii', 'hex')
  .action(async (account: string, opts) => {
    const dialler = new Dc09Dialler({
      host: opts.host,
      port: opts.port,
      transport: opts.udp ? 'udp' : 'tcp',
      account,
      ...(opts.key
        ? { key: { value: opts.key, encoding: opts.keyEncoding === 'ascii' ? 'ascii' : 'hex' } }
        : {}),
      maxAttempts: 3,
    });
    await dialler.connect();
    try {
      const result = opts.poll
        ? await dialler.poll()
        : opts.fireTrouble
          ? opts.sia
            ? await dialler.sendSia([{ kind: 'sia', code: opts.restore ? 'FJ' : 'FT', zone: '10' }])
            : await dialler.sendCid([
                { kind: 'cid', qualifier: opts.restore ? 3 : 1, code: '373', zone: '010' },
              ])
          : opts.sia
            ? await dialler.sendSia([{ kind: 'sia', code: 'QA', zone: '01' }])
            : await dialler.sendCid([{ kind: 'cid', qualifier: 1, code: '101' }]);
      console.log(
        `${result.reply} for ${result.seq} in ${result.latencyMs.toFixed(1)} ms after ${result.attempts} attempt(s)`,
      );
    } catch (err) {
      console.error((err as Error).message);
      process.exitCode = 1;
    } finally {
      await dialler.close();
    }
  });

program.parseAsync();
